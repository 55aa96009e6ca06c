"""Microsoft 365 readiness of a mailbox migration, decided from Microsoft Graph payloads.

Pure: the caller (``m365_graph.graph_client``) fetches ``GET /users``, ``GET /subscribedSkus`` and
``GET /domains``; this module only reads the JSON it got back and says, per object (a mailbox, a
domain, the tenant), what is wrong and how to fix it. Checks (m365-migration.md §2 and §7):

* every migrating mailbox has an Entra ID user (matched by UPN, then by primary SMTP address);
* that user is synced from on-premises (``onPremisesSyncEnabled``), as a hybrid remote move needs;
* it holds an enabled Exchange Online service plan (``EXCHANGE_ONLINE_SERVICE_PLANS``);
* its ``usageLocation`` is set (a licence cannot be assigned without it);
* it has a ``<tenant>.mail.onmicrosoft.com`` routing proxy address;
* ``<tenant>.mail.onmicrosoft.com`` exists in the tenant and is verified; when it is absent but a
  close name exists, the tenant name was probably mistyped and the finding says which one;
* every on-premises address domain (primary SMTP, UPN, extra addresses, synced proxies) is a
  verified tenant domain with the Email service.

The licence timing is an open question (m365-migration.md §11.7: the hybrid move page says assign
the licence after the move, within 30 days), so ``licence_required`` chooses whether a missing
licence is an error or a warning; either way the fix says whether a SKU has free units.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Service plans that give a user an Exchange Online mailbox, by servicePlanName, as listed on
# Microsoft Learn "Product names and service plan identifiers for licensing"
# (https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference):
# EXCHANGE_S_STANDARD (Exchange Online (Plan 1), e.g. in O365_BUSINESS_PREMIUM, EXCHANGESTANDARD),
# EXCHANGE_S_ENTERPRISE (Exchange Online (Plan 2), e.g. in ENTERPRISEPACK, SPE_E3, SPE_E5),
# EXCHANGE_S_DESKLESS (Exchange Online Kiosk, e.g. in DESKLESSPACK, SPE_F1),
# EXCHANGE_S_ESSENTIALS (Exchange Online Essentials).
# EXCHANGE_S_FOUNDATION is deliberately absent: it ships in many non-mail SKUs and gives no mailbox.
EXCHANGE_ONLINE_SERVICE_PLANS = (
    "EXCHANGE_S_STANDARD",
    "EXCHANGE_S_ENTERPRISE",
    "EXCHANGE_S_DESKLESS",
    "EXCHANGE_S_ESSENTIALS",
)
# subscribedSkus.capabilityStatus values under which assigned licences still work ("Warning" is
# the grace period after expiry); "Suspended", "Deleted" and "LockedOut" do not.
USABLE_SKU_STATUSES = ("Enabled", "Warning")
# servicePlans[].provisioningStatus of a plan that is live in the tenant.
PROVISIONED = "Success"
ROUTING_SUFFIX = ".mail.onmicrosoft.com"
TENANT_SUFFIX = ".onmicrosoft.com"
# difflib ratio from which a *.mail.onmicrosoft.com label counts as a likely typo of the tenant.
TYPO_SIMILARITY = 0.75

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class MigrationMailbox:
    """An on-premises mailbox to move: primary SMTP address, UPN, and any other SMTP addresses."""

    primary_smtp: str
    upn: str
    addresses: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.primary_smtp or self.upn


@dataclass(frozen=True)
class Finding:
    code: str
    object: str
    severity: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "object": self.object, "severity": self.severity,
                "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class ReadinessReport:
    findings: tuple[Finding, ...]
    mailboxes_checked: int
    # set when the payloads could not be fetched: the report then proves nothing
    unavailable_reason: str | None = None
    ready_mailboxes: tuple[str, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return self.unavailable_reason is None and not any(f.severity == ERROR for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "unavailable_reason": self.unavailable_reason,
                "mailboxes_checked": self.mailboxes_checked, "ready_mailboxes": list(self.ready_mailboxes),
                "findings": [f.as_dict() for f in self.findings]}


def unavailable_report(reason: str, mailboxes_checked: int = 0) -> ReadinessReport:
    """The report when Graph could not be read: never ready, the reason is the single finding."""
    finding = Finding("graph_unavailable", "Microsoft Graph", ERROR, reason,
                      "Restore access to Microsoft Graph from the controller and run the check again; "
                      "no mailbox is considered ready until it succeeds.")
    return ReadinessReport((finding,), mailboxes_checked, unavailable_reason=reason)


def tenant_label(tenant: str) -> str:
    """'Contoso', 'contoso.onmicrosoft.com' or 'contoso.mail.onmicrosoft.com' -> 'contoso'."""
    label = tenant.strip().lower()
    for suffix in (ROUTING_SUFFIX, TENANT_SUFFIX):
        if label.endswith(suffix):
            return label[: -len(suffix)]
    return label


def _values(payload: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(payload, Mapping):
        return list(payload.get("value") or [])
    return list(payload)


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower() if "@" in address else ""


def _smtp_addresses(user: Mapping[str, Any]) -> list[str]:
    found = []
    for proxy in user.get("proxyAddresses") or []:
        prefix, _, address = str(proxy).partition(":")
        if prefix.lower() == "smtp" and address:
            found.append(address.lower())
    return found


def _index_users(users: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Mapping], dict[str, Mapping]]:
    by_upn: dict[str, Mapping] = {}
    by_address: dict[str, Mapping] = {}
    for user in users:
        upn = str(user.get("userPrincipalName") or "").lower()
        if upn:
            by_upn[upn] = user
        for address in [str(user.get("mail") or "").lower(), *_smtp_addresses(user)]:
            if address:
                by_address.setdefault(address, user)
    return by_upn, by_address


def _exchange_skus(skus: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Mapping, set[str]]]:
    """skuId (lower case) -> (sku, servicePlanIds of provisioned Exchange Online plans), usable SKUs only."""
    found = {}
    for sku in skus:
        if sku.get("capabilityStatus") not in USABLE_SKU_STATUSES:
            continue
        plan_ids = {str(plan.get("servicePlanId", "")).lower() for plan in sku.get("servicePlans") or []
                    if plan.get("servicePlanName") in EXCHANGE_ONLINE_SERVICE_PLANS
                    and plan.get("provisioningStatus") == PROVISIONED}
        if plan_ids:
            found[str(sku.get("skuId", "")).lower()] = (sku, plan_ids)
    return found


def _free_units(sku: Mapping[str, Any]) -> int:
    enabled = int((sku.get("prepaidUnits") or {}).get("enabled") or 0)
    return enabled - int(sku.get("consumedUnits") or 0)


def _has_exchange_licence(user: Mapping[str, Any], exchange_skus: Mapping[str, tuple[Mapping, set[str]]]) -> bool:
    for licence in user.get("assignedLicenses") or []:
        entry = exchange_skus.get(str(licence.get("skuId", "")).lower())
        if entry is None:
            continue
        disabled = {str(plan).lower() for plan in licence.get("disabledPlans") or []}
        if entry[1] - disabled:
            return True
    return False


def _licence_fix(user_name: str, exchange_skus: Mapping[str, tuple[Mapping, set[str]]]) -> str:
    free = sorted((str(sku.get("skuPartNumber")), _free_units(sku)) for sku, _ in exchange_skus.values()
                  if _free_units(sku) > 0)
    if free:
        offer = ", ".join(f"{part} ({units} free)" for part, units in free)
        return (f"Assign {user_name} a licence with an enabled Exchange Online plan "
                f"({', '.join(EXCHANGE_ONLINE_SERVICE_PLANS)}); available: {offer}.")
    return (f"No SKU with an Exchange Online plan has free units: buy or free a licence "
            f"(e.g. EXCHANGESTANDARD, ENTERPRISEPACK, SPE_E3), then assign it to {user_name}.")


def _domain_findings(tenant: str, domains: Sequence[Mapping[str, Any]]) -> list[Finding]:
    label = tenant_label(tenant)
    routing = label + ROUTING_SUFFIX
    by_id = {str(d.get("id", "")).lower(): d for d in domains}
    domain = by_id.get(routing)
    if domain is not None:
        if not domain.get("isVerified"):
            return [Finding("routing_domain_unverified", routing, ERROR,
                            f"The delivery domain {routing} exists but is not verified.",
                            "Check the tenant in the Microsoft 365 admin center (Settings > Domains); "
                            "the *.mail.onmicrosoft.com domain is created and verified by Microsoft when "
                            "Exchange Online is provisioned.")]
        return []
    candidates = [d for d in by_id if d.endswith(ROUTING_SUFFIX)]
    close = difflib.get_close_matches(routing, candidates, n=1, cutoff=TYPO_SIMILARITY)
    if close:
        right = tenant_label(close[0])
        return [Finding("tenant_name_typo", routing, ERROR,
                        f"The tenant has no domain {routing}, but it has {close[0]}: the tenant name "
                        f"'{label}' looks mistyped.",
                        f"Set the tenant name to '{right}' (delivery domain {close[0]}).")]
    others = f" The tenant's routing domains: {', '.join(sorted(candidates))}." if candidates else ""
    return [Finding("routing_domain_missing", routing, ERROR,
                    f"The tenant has no domain {routing}.{others}",
                    "Check the tenant name; if it is right, run the Hybrid Configuration Wizard so that "
                    "Exchange Online provisions the *.mail.onmicrosoft.com delivery domain.")]


def _address_domain_findings(
    needed: Mapping[str, list[str]], domains: Sequence[Mapping[str, Any]]
) -> tuple[list[Finding], set[str]]:
    """Findings per unusable address domain, and the mailboxes that use one."""
    by_id = {str(d.get("id", "")).lower(): d for d in domains}
    findings = []
    blocked: set[str] = set()
    for name in sorted(needed):
        if name.endswith(TENANT_SUFFIX):
            continue  # tenant-owned onmicrosoft.com domains are checked as the routing domain
        users = sorted(set(needed[name]))
        who = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        domain = by_id.get(name)
        if domain is None or not domain.get("isVerified") or "Email" not in (domain.get("supportedServices") or []):
            blocked.update(users)
        if domain is None or not domain.get("isVerified"):
            state = "is not a tenant domain" if domain is None else "is in the tenant but not verified"
            findings.append(Finding("address_domain_unverified", name, ERROR,
                                    f"On-premises address domain {name} {state}; used by {who}.",
                                    f"Add and verify {name} in the Microsoft 365 admin center (Settings > "
                                    "Domains, DNS TXT record), or remove its addresses from these mailboxes."))
        elif "Email" not in (domain.get("supportedServices") or []):
            findings.append(Finding("address_domain_not_email", name, ERROR,
                                    f"Domain {name} is verified but not enabled for Email; used by {who}.",
                                    f"Enable the Exchange (Email) service for {name} in the admin center "
                                    "domain setup; verifying through Graph does not configure it for Exchange."))
    return findings, blocked


def assess_graph_readiness(
    mailboxes: Sequence[MigrationMailbox],
    tenant: str,
    users: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    subscribed_skus: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    domains: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    expect_synced: bool = True,
    licence_required: bool = True,
) -> ReadinessReport:
    """Findings for moving ``mailboxes`` into ``tenant`` ('contoso' or 'contoso.onmicrosoft.com').

    ``users``, ``subscribed_skus`` and ``domains`` are the Graph lists (all pages joined) or a
    single ``{"value": [...]}`` response.
    """
    domain_list = _values(domains)
    by_upn, by_address = _index_users(_values(users))
    exchange_skus = _exchange_skus(_values(subscribed_skus))
    routing = tenant_label(tenant) + ROUTING_SUFFIX
    findings: list[Finding] = _domain_findings(tenant, domain_list)
    needed_domains: dict[str, list[str]] = {}
    ready = []
    for mailbox in mailboxes:
        name = mailbox.name
        own = [mailbox.primary_smtp, mailbox.upn, *mailbox.addresses]
        for address in own:
            if _domain_of(address):
                needed_domains.setdefault(_domain_of(address), []).append(name)
        user = by_upn.get(mailbox.upn.lower()) or by_address.get(mailbox.primary_smtp.lower())
        if user is None:
            findings.append(Finding(
                "user_missing", name, ERROR,
                f"No Entra ID user with UPN {mailbox.upn} or address {mailbox.primary_smtp}: not synced.",
                "Check that the account is in an OU and group that Entra ID Connect synchronises, then run a "
                "delta sync (Start-ADSyncSyncCycle -PolicyType Delta) and look for export errors."))
            continue
        errors_before = sum(f.severity == ERROR for f in findings)
        upn = str(user.get("userPrincipalName") or mailbox.upn)
        for address in _smtp_addresses(user):
            if _domain_of(address):
                needed_domains.setdefault(_domain_of(address), []).append(name)
        if expect_synced and user.get("onPremisesSyncEnabled") is not True:
            findings.append(Finding(
                "user_not_synced", name, ERROR,
                f"Entra ID user {upn} is cloud-only (onPremisesSyncEnabled is not true); a hybrid move needs "
                "the synced mail user.",
                f"Remove the cloud-only object {upn} (if it holds no data) or let Entra ID Connect soft-match it "
                "by primary SMTP address / hard-match it by onPremisesImmutableId, then sync again."))
        if not _has_exchange_licence(user, exchange_skus):
            findings.append(Finding(
                "no_exchange_licence", name, ERROR if licence_required else WARNING,
                f"{upn} has no licence with an enabled Exchange Online plan.",
                _licence_fix(upn, exchange_skus)))
        if not str(user.get("usageLocation") or "").strip():
            findings.append(Finding(
                "usage_location_empty", name, ERROR if licence_required else WARNING,
                f"{upn} has no usageLocation; a licence cannot be assigned without it.",
                f"Set usageLocation on {upn} (two-letter country code), on-premises through the synced "
                "attribute or in Entra ID."))
        if not any(address.endswith("@" + routing) for address in _smtp_addresses(user)):
            findings.append(Finding(
                "routing_address_missing", name, ERROR,
                f"{upn} has no proxy address @{routing}; the move would fail with \"The target mailbox doesn't "
                f"have an SMTP proxy matching '{routing}'\".",
                f"Add smtp:<alias>@{routing} on-premises (email address policy or Set-RemoteMailbox "
                "-EmailAddresses @{add=...}) and let it sync."))
        if sum(f.severity == ERROR for f in findings) == errors_before:
            ready.append(name)
    domain_findings, blocked = _address_domain_findings(needed_domains, domain_list)
    findings.extend(domain_findings)
    ready = [name for name in ready if name not in blocked]
    if any(f.severity == ERROR and f.code in _TENANT_WIDE for f in findings):
        ready = []
    return ReadinessReport(tuple(findings), len(mailboxes), ready_mailboxes=tuple(ready))


# Findings on the tenant as a whole: while one stands, no mailbox is ready.
_TENANT_WIDE = frozenset({"routing_domain_missing", "routing_domain_unverified", "tenant_name_typo"})
