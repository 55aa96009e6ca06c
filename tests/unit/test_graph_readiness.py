"""Migration readiness decided from Microsoft Graph payloads (pure; no network).

The payloads in tests/fixtures/graph/ are recorded-shape: real Graph field names, real SKU part
numbers, skuIds and service plan names/ids, GUID-shaped object ids; they were written for these
tests, not captured from a tenant.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from exchange_remediation.graph_readiness import (
    EXCHANGE_ONLINE_SERVICE_PLANS,
    MigrationMailbox,
    assess_graph_readiness,
    tenant_label,
    unavailable_report,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "graph"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def payloads() -> tuple[list, dict, dict]:
    users = load("users_page1.json")["value"] + load("users_page2.json")["value"]
    return users, load("subscribed_skus.json"), load("domains.json")


ALICE = MigrationMailbox("Alice.Adams@contoso.com", "alice.adams@contoso.com")
BOB = MigrationMailbox("Bob.Brown@contoso.com", "bob.brown@contoso.com")
CAROL = MigrationMailbox("Carol.Clark@contoso.com", "carol.clark@contoso.com")
DAVE = MigrationMailbox("Dave.Davis@fabrikam.com", "dave.davis@fabrikam.com")
ERIN = MigrationMailbox("Erin.Evans@contoso.com", "erin.evans@contoso.com")


def codes(report, name: str) -> set[str]:
    return {f.code for f in report.findings if f.object == name}


def test_ready_mailbox_has_no_findings(payloads):
    report = assess_graph_readiness([ALICE], "contoso", *payloads)
    assert report.findings == ()
    assert report.ready
    assert report.ready_mailboxes == ("Alice.Adams@contoso.com",)
    assert report.as_dict()["ready"] is True


def test_every_problem_is_named_per_object(payloads):
    report = assess_graph_readiness([ALICE, BOB, CAROL, DAVE, ERIN], "contoso.onmicrosoft.com", *payloads)
    assert not report.ready
    assert report.mailboxes_checked == 5
    assert report.ready_mailboxes == ("Alice.Adams@contoso.com",)
    assert codes(report, "Alice.Adams@contoso.com") == set()
    # Exchange plan disabled in the SPE_E3 assignment; no usageLocation
    assert codes(report, "Bob.Brown@contoso.com") == {"no_exchange_licence", "usage_location_empty"}
    # found by primary SMTP address (its cloud UPN differs); cloud-only
    assert codes(report, "Carol.Clark@contoso.com") == {"user_not_synced"}
    # POWER_BI_STANDARD carries only EXCHANGE_S_FOUNDATION: no mailbox licence
    assert codes(report, "Dave.Davis@fabrikam.com") == {"no_exchange_licence", "routing_address_missing"}
    assert codes(report, "Erin.Evans@contoso.com") == {"user_missing"}
    assert codes(report, "fabrikam.com") == {"address_domain_unverified"}
    assert not codes(report, "contoso.mail.onmicrosoft.com")


def test_findings_carry_object_message_and_fix(payloads):
    report = assess_graph_readiness([BOB, CAROL, DAVE, ERIN], "contoso", *payloads)
    by_code = {(f.object, f.code): f for f in report.findings}
    licence = by_code[("Bob.Brown@contoso.com", "no_exchange_licence")]
    assert licence.severity == "error"
    assert "ENTERPRISEPACK (2 free)" in licence.fix and "EXCHANGESTANDARD (3 free)" in licence.fix
    assert "SPE_E3" not in licence.fix  # no free units
    assert "POWER_BI_STANDARD" not in licence.fix  # no Exchange Online plan
    not_synced = by_code[("Carol.Clark@contoso.com", "user_not_synced")]
    assert "carol.clark@contoso.onmicrosoft.com" in not_synced.message
    assert "soft-match" in not_synced.fix
    routing = by_code[("Dave.Davis@fabrikam.com", "routing_address_missing")]
    assert "contoso.mail.onmicrosoft.com" in routing.message
    domain = by_code[("fabrikam.com", "address_domain_unverified")]
    assert "not verified" in domain.message and "Dave.Davis@fabrikam.com" in domain.message
    assert "verify fabrikam.com" in domain.fix
    assert "Start-ADSyncSyncCycle" in by_code[("Erin.Evans@contoso.com", "user_missing")].fix
    for finding in report.findings:
        assert finding.message and finding.fix
        assert set(finding.as_dict()) == {"code", "object", "severity", "message", "fix"}


def test_licence_may_be_only_a_warning(payloads):
    report = assess_graph_readiness([BOB], "contoso", *payloads, licence_required=False)
    assert {(f.code, f.severity) for f in report.findings} == {
        ("no_exchange_licence", "warning"), ("usage_location_empty", "warning")}
    assert report.ready
    assert report.ready_mailboxes == ("Bob.Brown@contoso.com",)


def test_cloud_only_users_may_be_expected(payloads):
    report = assess_graph_readiness([CAROL], "contoso", *payloads, expect_synced=False)
    assert report.findings == ()


def test_no_free_units_says_so(payloads):
    users, skus, domains = payloads
    full = copy.deepcopy(skus)
    for sku in full["value"]:
        sku["consumedUnits"] = sku["prepaidUnits"]["enabled"]
    report = assess_graph_readiness([BOB], "contoso", users, full, domains)
    (licence,) = [f for f in report.findings if f.code == "no_exchange_licence"]
    assert "No SKU with an Exchange Online plan has free units" in licence.fix


def test_suspended_sku_or_unprovisioned_plan_is_no_licence(payloads):
    users, skus, domains = payloads
    suspended = copy.deepcopy(skus)
    suspended["value"][0]["capabilityStatus"] = "Suspended"
    assert "no_exchange_licence" in codes(assess_graph_readiness([ALICE], "contoso", users, suspended, domains),
                                          ALICE.primary_smtp)
    pending = copy.deepcopy(skus)
    pending["value"][0]["servicePlans"][0]["provisioningStatus"] = "PendingProvisioning"
    assert "no_exchange_licence" in codes(assess_graph_readiness([ALICE], "contoso", users, pending, domains),
                                          ALICE.primary_smtp)
    grace = copy.deepcopy(skus)
    grace["value"][0]["capabilityStatus"] = "Warning"
    assert assess_graph_readiness([ALICE], "contoso", users, grace, domains).ready


def test_tenant_name_typo_names_the_close_domain(payloads):
    report = assess_graph_readiness([ALICE], "contosso", *payloads)
    (typo,) = [f for f in report.findings if f.code == "tenant_name_typo"]
    assert typo.object == "contosso.mail.onmicrosoft.com"
    assert "contoso.mail.onmicrosoft.com" in typo.message
    assert typo.fix == "Set the tenant name to 'contoso' (delivery domain contoso.mail.onmicrosoft.com)."
    assert not report.ready
    assert report.ready_mailboxes == ()


def test_missing_routing_domain_without_close_name(payloads):
    users, skus, domains = payloads
    report = assess_graph_readiness([ALICE], "woodgrovebank", users, skus, domains)
    (missing,) = [f for f in report.findings if f.object == "woodgrovebank.mail.onmicrosoft.com"]
    assert missing.code == "routing_domain_missing"
    assert "contoso.mail.onmicrosoft.com" in missing.message
    without = {"value": [d for d in domains["value"] if not d["id"].endswith(".mail.onmicrosoft.com")]}
    report = assess_graph_readiness([ALICE], "contoso", users, skus, without)
    assert "routing_domain_missing" in codes(report, "contoso.mail.onmicrosoft.com")
    assert "Hybrid Configuration Wizard" in report.findings[0].fix


def test_unverified_routing_domain(payloads):
    users, skus, domains = payloads
    changed = copy.deepcopy(domains)
    for domain in changed["value"]:
        if domain["id"] == "contoso.mail.onmicrosoft.com":
            domain["isVerified"] = False
    report = assess_graph_readiness([ALICE], "contoso", users, skus, changed)
    assert codes(report, "contoso.mail.onmicrosoft.com") == {"routing_domain_unverified"}
    assert report.ready_mailboxes == ()


def test_domain_not_enabled_for_email_and_absent_domain(payloads):
    users, skus, domains = payloads
    changed = copy.deepcopy(domains)
    changed["value"][0]["supportedServices"] = ["Intune"]  # contoso.com
    extra = MigrationMailbox("Alice.Adams@contoso.com", "alice.adams@contoso.com",
                             addresses=("alice@northwindtraders.com",))
    report = assess_graph_readiness([extra], "contoso", users, skus, changed)
    assert codes(report, "contoso.com") == {"address_domain_not_email"}
    (absent,) = [f for f in report.findings if f.object == "northwindtraders.com"]
    assert "is not a tenant domain" in absent.message
    assert report.ready_mailboxes == ()


def test_many_users_of_a_domain_are_summarised(payloads):
    users, skus, domains = payloads
    mailboxes = [MigrationMailbox(f"u{i}@fabrikam.com", f"u{i}@fabrikam.com") for i in range(8)]
    report = assess_graph_readiness(mailboxes, "contoso", users, skus, domains)
    (domain,) = [f for f in report.findings if f.object == "fabrikam.com"]
    assert domain.message.endswith("and 3 more.")


def test_unavailable_report_is_never_ready():
    report = unavailable_report("Graph unreachable: GET https://graph.microsoft.com/v1.0/users: ConnectionError", 3)
    assert not report.ready
    assert report.mailboxes_checked == 3
    assert report.as_dict()["unavailable_reason"].startswith("Graph unreachable: ")
    assert report.findings[0].code == "graph_unavailable"


@pytest.mark.parametrize("given", ["contoso", "Contoso", "contoso.onmicrosoft.com", "contoso.mail.onmicrosoft.com"])
def test_tenant_label(given):
    assert tenant_label(given) == "contoso"


def test_accepted_plans_are_exchange_mailbox_plans():
    assert "EXCHANGE_S_FOUNDATION" not in EXCHANGE_ONLINE_SERVICE_PLANS
    assert {"EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_DESKLESS"} <= set(EXCHANGE_ONLINE_SERVICE_PLANS)
