"""Readiness of the on-premises side for staging a hybrid remote move to Exchange Online.

Pure checks (m365-migration.md §1, §2 and §5) over data already collected: server builds and EWS
virtual directories, mailboxes and their SMTP proxy addresses, accepted domains on both sides.
Every failed check names the object and the fix; one bad object never stops the checks of the
others, and the findings come back sorted, whatever the input order.

The uncertain values (cutover limits, SE hybrid support) live in ``data/migration-rules.yml``;
builds are identified with the real catalog (``build_catalog``) and the sizes and mailbox kinds
agree with ``migration_batches``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .build_catalog import BuildCatalog, Product
from .build_number import Build, parse_file_version
from .knowledge_base import read_data_yaml
from .migration_batches import GB, MAX_ONBOARDING_BYTES, SYSTEM_KINDS, Mailbox

RULES_FILE = "migration-rules.yml"
EDGE_ROLE = "edge"
Severity = Literal["blocker", "warning"]
MigrationType = Literal["hybrid", "cutover", "none"]
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class MigrationRulesError(ValueError):
    """data/migration-rules.yml is missing, malformed or disagrees with migration_batches."""


@dataclass(frozen=True)
class Finding:
    object: str
    check: str
    severity: Severity
    reason: str
    fix: str


@dataclass(frozen=True)
class EwsVdir:
    identity: str
    mrsproxy_enabled: bool | None
    external_url: str | None


@dataclass(frozen=True)
class SourceServer:
    name: str
    build: str
    roles: tuple[str, ...]
    ews_vdirs: tuple[EwsVdir, ...] = ()

    @property
    def is_edge(self) -> bool:
        return any(EDGE_ROLE in role.casefold() for role in self.roles)


@dataclass(frozen=True)
class ReadinessInput:
    servers: Sequence[SourceServer]
    mailboxes: Sequence[Mailbox]
    mailbox_addresses: Mapping[str, Sequence[str]]
    accepted_domains: Sequence[str]
    tenant: str
    exo_accepted_domains: Sequence[str] | None = None
    # Names of the servers Exchange Online connects to; None = every non-Edge server.
    hybrid_servers: Sequence[str] | None = None


@dataclass(frozen=True)
class MigrationChoice:
    type: MigrationType
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class CutoverLimits:
    lower: int
    lower_source: str
    upper: int
    upper_source: str
    uncertain: bool
    recommended_max: int
    sources: frozenset[str]


@dataclass(frozen=True)
class MigrationRules:
    serves: Mapping[str, frozenset[str]]
    not_hybrid: frozenset[str]
    add_product: str
    cutover: CutoverLimits
    max_mailbox_bytes: int
    large_mailbox_bytes: int
    large_days_median: int
    large_days_p90: int
    not_migrated_kinds: frozenset[str] = field(default_factory=frozenset)


# --- rules ----------------------------------------------------------------------------------------


def parse_migration_rules(data: Any) -> MigrationRules:
    """Turn the parsed YAML into rules; raise MigrationRulesError when it is malformed."""
    try:
        if data.get("schema") != 1:
            raise MigrationRulesError(f"{RULES_FILE}: schema must be 1")
        hybrid, cutover, onboarding = data["hybrid"], data["cutover"], data["onboarding"]
        limits = cutover["max_mailboxes"]
        rules = MigrationRules(
            serves={str(k): frozenset(str(v) for v in vs) for k, vs in hybrid["serves"].items()},
            not_hybrid=frozenset(str(p) for p in hybrid["not_hybrid"]),
            add_product=str(hybrid["add_product"]),
            cutover=CutoverLimits(
                lower=int(limits["lower"]), lower_source=str(limits["lower_source"]),
                upper=int(limits["upper"]), upper_source=str(limits["upper_source"]),
                uncertain=bool(limits["uncertain"]), recommended_max=int(cutover["recommended_max"]),
                sources=frozenset(str(p) for p in cutover["sources"]),
            ),
            max_mailbox_bytes=int(onboarding["max_mailbox_gb"]) * GB,
            large_mailbox_bytes=int(onboarding["large_mailbox_gb"]) * GB,
            large_days_median=int(onboarding["large_mailbox_days"]["median"]),
            large_days_p90=int(onboarding["large_mailbox_days"]["p90"]),
            not_migrated_kinds=frozenset(str(k) for k in data["not_migrated_kinds"]),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MigrationRulesError):
            raise
        raise MigrationRulesError(f"{RULES_FILE}: malformed ({type(exc).__name__}: {exc})") from exc
    if rules.cutover.lower > rules.cutover.upper:
        raise MigrationRulesError(f"{RULES_FILE}: cutover lower limit above the upper one")
    if rules.max_mailbox_bytes != MAX_ONBOARDING_BYTES:
        raise MigrationRulesError(f"{RULES_FILE}: max_mailbox_gb disagrees with migration_batches")
    if not rules.large_mailbox_bytes < rules.max_mailbox_bytes:
        raise MigrationRulesError(f"{RULES_FILE}: large_mailbox_gb must be below max_mailbox_gb")
    if rules.not_migrated_kinds != SYSTEM_KINDS:
        raise MigrationRulesError(f"{RULES_FILE}: not_migrated_kinds disagrees with migration_batches")
    if rules.add_product not in rules.serves:
        raise MigrationRulesError(f"{RULES_FILE}: add_product {rules.add_product} serves nothing")
    return rules


def load_migration_rules(data_dir: str) -> MigrationRules:
    return parse_migration_rules(read_data_yaml(data_dir, RULES_FILE, MigrationRulesError))


# --- builds ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identified:
    build: Build | None
    product: Product | None
    known: bool  # the build is a CU or update build of the catalog (or a known 2010 level)


def _identify(catalog: BuildCatalog, text: str) -> _Identified:
    build = parse_file_version(text).build
    product = catalog.product_for(build) if build is not None else None
    if build is None or product is None:
        return _Identified(build, None, False)
    if not product.in_catalog:
        return _Identified(build, product, any(b == build for _, b in product.known_builds))
    cu = catalog.cu_for(product, build)
    known = cu is not None and (build == cu.build or any(u.build == build for u in cu.updates))
    return _Identified(build, product, known)


def _product_codes(codes: Sequence[str] | frozenset[str]) -> str:
    return ", ".join(sorted(codes))


# --- migration type -------------------------------------------------------------------------------


def choose_migration_type(servers: Sequence[SourceServer], mailbox_count: int, rules: MigrationRules,
                          catalog: BuildCatalog) -> MigrationChoice:
    """Hybrid remote move when a hybrid-capable server serves every on-premises version; cutover is
    only ever described as an alternative (this project does not automate it)."""
    reasons: list[str] = []
    present: set[str] = set()
    for server in sorted(servers, key=lambda s: s.name.casefold()):
        if server.is_edge:
            continue
        found = _identify(catalog, server.build)
        if found.product is None:
            reasons.append(f"{server.name}: build {server.build!r} unknown; not counted")
        else:
            present.add(found.product.code)
    if not present:
        return MigrationChoice("none", (*reasons, "no Exchange 2010 or later server identified"))
    candidates = sorted(code for code in present if code in rules.serves and code not in rules.not_hybrid
                        and present <= rules.serves[code])
    if candidates:
        kind: MigrationType = "hybrid"
        reasons.append(f"hybrid remote move: Exchange {', '.join(candidates)} hybrid server(s) serve "
                       f"every on-premises version ({_product_codes(present)})")
    else:
        kind = "none"
        unserved = present - rules.serves[rules.add_product]
        if unserved:
            matrix = "; ".join(f"{code} serves {_product_codes(rules.serves[code])}" for code in sorted(rules.serves)
                               if code not in rules.not_hybrid)
            reasons.append(f"no single hybrid product serves {_product_codes(present)} (hybrid support: {matrix}); "
                           "retire the versions no hybrid server can serve first")
        else:
            reasons.append(f"no supported hybrid server serves {_product_codes(present)}: add Exchange "
                           f"{rules.add_product} hybrid servers and run the Microsoft 365 Hybrid "
                           "Configuration Wizard (the 2010 EMC wizard is unsupported)")
    cut = rules.cutover
    if present <= cut.sources and mailbox_count <= cut.lower:
        uncertain = " (published limits disagree)" if cut.uncertain else ""
        reasons.append(
            f"cutover migration is an alternative for {mailbox_count} mailboxes: at most {cut.lower} "
            f"({cut.lower_source}) to {cut.upper} ({cut.upper_source}){uncertain}, {cut.recommended_max} "
            "recommended, one batch, directory sync off; this project does not automate cutover")
    return MigrationChoice(kind, tuple(reasons))


# --- readiness checks -----------------------------------------------------------------------------


def _server_findings(server: SourceServer, catalog: BuildCatalog, rules: MigrationRules) -> list[Finding]:
    findings: list[Finding] = []
    found = _identify(catalog, server.build)
    if found.product is not None and (found.product.code in rules.not_hybrid
                                      or found.product.code not in rules.serves):
        findings.append(Finding(server.name, "hybrid-server-build", "blocker",
                                f"{found.product.name} ({found.build}) cannot be a hybrid server",
                                f"add Exchange {rules.add_product} hybrid servers and point Exchange Online "
                                "at them with the Microsoft 365 Hybrid Configuration Wizard"))
    elif found.product is None or not found.known:
        findings.append(Finding(server.name, "hybrid-server-build", "blocker",
                                f"build unknown: {server.build!r} is not a build of the catalog",
                                "collect ExSetup.exe's FileVersion again, or update data/exchange-builds.csv"))
    elif found.build is not None:
        supported = catalog.supported_cus(found.product)
        cu = catalog.cu_for(found.product, found.build)
        if cu not in supported:
            names = " or ".join(c.name for c in supported)
            findings.append(Finding(server.name, "hybrid-server-build", "blocker",
                                    f"{found.product.name} {cu.name if cu else 'below every CU'} ({found.build}) "
                                    "is not on the latest CU or the one before it",
                                    f"install {found.product.name} {names} with its latest security update"))
    if not server.ews_vdirs:
        findings.append(Finding(server.name, "mrsproxy", "blocker", "no EWS virtual directory was collected",
                                "collect Get-WebServicesVirtualDirectory -Server "
                                f"{server.name} | fl Identity,MRSProxyEnabled,ExternalUrl"))
    for vdir in server.ews_vdirs:
        if vdir.mrsproxy_enabled is not True:
            state = "disabled" if vdir.mrsproxy_enabled is False else "unknown"
            findings.append(Finding(vdir.identity, "mrsproxy", "blocker", f"MRSProxy {state} on {server.name}",
                                    f'Set-WebServicesVirtualDirectory -Identity "{vdir.identity}" '
                                    "-MRSProxyEnabled $true"))
        if not (vdir.external_url or "").strip():
            findings.append(Finding(vdir.identity, "ews-external-url", "warning",
                                    "no EWS external URL: Exchange Online reaches MRSProxy through it "
                                    "unless the Hybrid Agent is used",
                                    f'Set-WebServicesVirtualDirectory -Identity "{vdir.identity}" '
                                    "-ExternalUrl https://<public name>/EWS/Exchange.asmx"))
    return findings


def _hybrid_servers(inp: ReadinessInput) -> tuple[list[SourceServer], list[Finding]]:
    if inp.hybrid_servers is None:
        return [s for s in inp.servers if not s.is_edge], []
    by_name = {s.name.casefold(): s for s in inp.servers}
    chosen, findings = [], []
    for name in dict.fromkeys(inp.hybrid_servers):
        server = by_name.get(name.casefold())
        if server is None:
            findings.append(Finding(name, "hybrid-server-build", "blocker",
                                    "named as a hybrid server but not collected",
                                    "collect the server, or correct the hybrid server list"))
        else:
            chosen.append(server)
    if not chosen and not findings:
        findings.append(Finding("(hybrid servers)", "hybrid-server-build", "blocker", "no hybrid server named",
                                "name the servers Exchange Online connects to"))
    return chosen, findings


def _split_address(raw: str) -> str | None:
    """The lower-cased SMTP address of a proxy address; None for a non-SMTP proxy (X500:, SIP:)."""
    text = raw.strip()
    prefix, sep, rest = text.partition(":")
    if sep and "@" not in prefix:
        if prefix.casefold() != "smtp":
            return None
        text = rest.strip()
    return text.casefold()


def _valid_address(address: str) -> bool:
    local, sep, domain = address.rpartition("@")
    return bool(sep and local and _DOMAIN.match(domain))


def _accepted(domain: str, accepted: set[str]) -> bool:
    if domain in accepted:
        return True
    parts = domain.split(".")
    return any(f"*.{'.'.join(parts[i:])}" in accepted for i in range(1, len(parts)))


def _domains(values: Sequence[str]) -> set[str]:
    return {d.strip().casefold() for d in values if d and d.strip()}


def _addresses(mailbox: Mailbox, proxies: Sequence[str]) -> list[str]:
    raw = [*proxies, *([mailbox.email] if mailbox.email else [])]
    return sorted({a for a in (_split_address(r) for r in raw if r) if a})


def _mailbox_findings(mailbox: Mailbox, addresses: list[str], routing: str | None, onprem: set[str],
                      exo: set[str] | None, rules: MigrationRules) -> list[Finding]:
    findings: list[Finding] = []
    name = mailbox.id
    if mailbox.size_bytes > rules.max_mailbox_bytes:
        findings.append(Finding(name, "mailbox-size", "blocker",
                                f"{mailbox.size_bytes / GB:.1f} GB is over the {rules.max_mailbox_bytes // GB} GB "
                                "onboarding limit",
                                "archive or delete items until the mailbox is below the limit, or leave it "
                                "on-premises"))
    elif mailbox.size_bytes > rules.large_mailbox_bytes:
        findings.append(Finding(name, "mailbox-size", "warning",
                                f"{mailbox.size_bytes / GB:.1f} GB: mailboxes of {rules.large_mailbox_bytes // GB}-"
                                f"{rules.max_mailbox_bytes // GB} GB take {rules.large_days_median} days (median) "
                                f"to {rules.large_days_p90} days (90th percentile) to move",
                                "start this move early, in a batch of its own, or reduce the mailbox first"))
    if not addresses:
        findings.append(Finding(name, "smtp-address", "blocker", "mailbox has no SMTP address",
                                "give the mailbox a primary SMTP address (email address policy) and sync it"))
        return findings
    valid = [a for a in addresses if _valid_address(a)]
    for address in addresses:
        if address not in valid:
            findings.append(Finding(name, "smtp-address", "blocker", f"{address!r} is not a valid SMTP address",
                                    "correct or remove the proxy address on-premises"))
    if routing is not None and not any(a.endswith("@" + routing) for a in valid):
        findings.append(Finding(name, "routing-address", "blocker",
                                f"The target mailbox doesn't have an SMTP proxy matching '{routing}'",
                                f"add an @{routing} proxy address (email address policy including "
                                f"%m@{routing}, Update-EmailAddressPolicy) and let Entra ID Connect sync it"))
    for domain in sorted({a.rpartition("@")[2] for a in valid}):
        if domain == routing:
            continue
        if not _accepted(domain, onprem):
            findings.append(Finding(name, "accepted-domain", "blocker",
                                    f"address domain {domain} is not an accepted domain on-premises",
                                    f"remove the {domain} addresses, or New-AcceptedDomain on-premises"))
        if exo is not None and not _accepted(domain, exo):
            findings.append(Finding(name, "accepted-domain", "blocker",
                                    f"address domain {domain} is not an Exchange Online accepted domain "
                                    "(NotAcceptedDomainException)",
                                    f"verify {domain} in the tenant, or remove the {domain} addresses"))
    return findings


def _duplicate_findings(owners: Mapping[str, list[str]]) -> list[Finding]:
    findings = []
    for address, ids in owners.items():
        if len(ids) < 2:
            continue
        for mailbox_id in ids:
            others = ", ".join(i for i in ids if i != mailbox_id)
            findings.append(Finding(mailbox_id, "duplicate-address", "blocker",
                                    f"{address} is also an address of {others}",
                                    f"keep {address} on one mailbox only and remove it from the others"))
    return findings


def check_readiness(inp: ReadinessInput, catalog: BuildCatalog, rules: MigrationRules) -> tuple[Finding, ...]:
    """Every failed check of the hybrid servers, the tenant name and the migrated mailboxes.

    Mailboxes of the kinds that are not migrated are skipped. The routing domain
    ``<tenant>.mail.onmicrosoft.com`` is not held to the accepted-domain checks (it is the tenant's
    own coexistence domain); ``exo_accepted_domains`` None skips the Exchange Online side. An
    accepted domain written ``*.contoso.com`` covers the subdomains of contoso.com.
    """
    findings: list[Finding] = []
    servers, named = _hybrid_servers(inp)
    findings.extend(named)
    for server in servers:
        findings.extend(_server_findings(server, catalog, rules))
    tenant = inp.tenant.strip().casefold()
    routing: str | None = f"{tenant}.mail.onmicrosoft.com"
    if not _DNS_LABEL.match(tenant):
        routing = None
        findings.append(Finding(inp.tenant or "(tenant)", "tenant-name", "blocker",
                                f"tenant name {inp.tenant!r} is not a DNS label (its routing domain would be "
                                "<tenant>.mail.onmicrosoft.com)",
                                "give the tenant's initial domain label, e.g. contoso for "
                                "contoso.onmicrosoft.com"))
    onprem = _domains(inp.accepted_domains)
    exo = _domains(inp.exo_accepted_domains) if inp.exo_accepted_domains is not None else None
    owners: dict[str, list[str]] = {}
    for mailbox in sorted(inp.mailboxes, key=lambda m: m.id):
        if mailbox.kind in rules.not_migrated_kinds:
            continue
        addresses = _addresses(mailbox, inp.mailbox_addresses.get(mailbox.id, ()))
        for address in addresses:
            owners.setdefault(address, []).append(mailbox.id)
        findings.extend(_mailbox_findings(mailbox, addresses, routing, onprem, exo, rules))
    findings.extend(_duplicate_findings(owners))
    return tuple(sorted(set(findings), key=lambda f: (f.object.casefold(), f.object, f.check, f.severity, f.reason)))
