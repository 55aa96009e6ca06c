"""Hybrid remote move readiness: every check names its object and fix, type choice, rules data."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from exchange_remediation.build_catalog import BuildCatalog
from exchange_remediation.knowledge_base import load_knowledge
from exchange_remediation.migration_batches import GB, MAX_ONBOARDING_BYTES, SYSTEM_KINDS, Mailbox
from exchange_remediation.migration_readiness import (
    EwsVdir,
    Finding,
    MigrationRules,
    MigrationRulesError,
    ReadinessInput,
    SourceServer,
    check_readiness,
    choose_migration_type,
    load_migration_rules,
    parse_migration_rules,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SCHEMA = DATA / "schemas" / "migration-rules.schema.json"

# Real builds of data/exchange-builds.csv and products.yml.
B2019_CU15_AUG26 = "15.2.1748.49"
B2019_CU13_NOV24V2 = "15.2.1258.39"
B2016_CU23_AUG26 = "15.1.2507.66"
B2013_CU23 = "15.0.1497.2"
B2010_SP3_RU32 = "14.3.513.0"
B_UNKNOWN = "15.2.9999.1"
ROUTING = "contoso.mail.onmicrosoft.com"


@pytest.fixture(scope="module")
def catalog() -> BuildCatalog:
    return load_knowledge(str(DATA)).catalog


@pytest.fixture(scope="module")
def rules() -> MigrationRules:
    return load_migration_rules(str(DATA))


def _raw() -> dict[str, Any]:
    return yaml.safe_load((DATA / "migration-rules.yml").read_text(encoding="utf-8"))


def _vdir(server: str, enabled: bool | None = True, url: str | None = "https://mail.contoso.com/EWS/Exchange.asmx"
          ) -> EwsVdir:
    return EwsVdir(f"{server}\\EWS (Default Web Site)", enabled, url)


def _server(name: str, build: str, enabled: bool | None = True, roles: tuple[str, ...] = ("Mailbox",)
            ) -> SourceServer:
    return SourceServer(name, build, roles, (_vdir(name, enabled),))


def _user(mailbox_id: str, size_gb: float = 2, kind: str = "UserMailbox") -> Mailbox:
    return Mailbox(mailbox_id, f"{mailbox_id}@contoso.com", int(size_gb * GB), "DB01", "Sales", kind)


def _proxies(mailbox_id: str) -> list[str]:
    return [f"SMTP:{mailbox_id}@contoso.com", f"smtp:{mailbox_id}@{ROUTING}", "X500:/o=Contoso/ou=Exchange"]


def _input(servers: list[SourceServer] | None = None, mailboxes: list[Mailbox] | None = None,
           addresses: dict[str, list[str]] | None = None, tenant: str = "contoso",
           exo: list[str] | None = None, hybrid: list[str] | None = None) -> ReadinessInput:
    servers = servers if servers is not None else [_server("EX19-DAG1", B2019_CU15_AUG26)]
    mailboxes = mailboxes if mailboxes is not None else [_user("alice"), _user("bob")]
    if addresses is None:
        addresses = {m.id: _proxies(m.id) for m in mailboxes}
    return ReadinessInput(servers, mailboxes, addresses, ["contoso.com", ROUTING], tenant, exo, hybrid)


def _checks(findings: tuple[Finding, ...]) -> set[tuple[str, str, str]]:
    return {(f.object, f.check, f.severity) for f in findings}


# --- rules data -----------------------------------------------------------------------------------


def test_rules_file_validates_against_its_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$id"] == "urn:exchange-remediation:data:migration-rules:1"
    jsonschema.Draft7Validator(schema).validate(_raw())


def _set(path: list[Any], value: Any) -> Callable[[Any], None]:
    def mutate(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value
    return mutate


def _drop(path: list[Any]) -> Callable[[Any], None]:
    def mutate(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]
    return mutate


@pytest.mark.parametrize(("what", "mutate"), [
    ("unknown product", _set(["hybrid", "serves", "2007"], ["2007"])),
    ("served version unknown", _set(["hybrid", "serves", "2016"], ["2003"])),
    ("extra key", _set(["hybrid", "wizard"], "EMC")),
    ("cutover automated", _set(["cutover", "automated"], True)),
    ("limit as text", _set(["cutover", "max_mailboxes", "lower"], "1,000")),
    ("uncertainty dropped", _drop(["cutover", "max_mailboxes", "uncertain"])),
    ("no p90", _drop(["onboarding", "large_mailbox_days", "p90"])),
    ("schema 2", _set(["schema"], 2)),
])
def test_schema_rejects_broken_data(what: str, mutate: Callable[[Any], None]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    data = copy.deepcopy(_raw())
    mutate(data)
    assert list(jsonschema.Draft7Validator(schema).iter_errors(data)), what


def test_rules_hold_the_reference_values(rules: MigrationRules) -> None:
    assert rules.serves["2019"] == {"2013", "2016", "2019"}
    assert rules.serves["2016"] == {"2010", "2013", "2016"}
    assert rules.serves["2013"] == {"2010", "2013"}
    assert rules.add_product == "2016" and rules.not_hybrid == {"2010"}
    cut = rules.cutover
    assert (cut.lower, cut.upper, cut.uncertain, cut.recommended_max) == (1000, 2000, True, 150)
    assert "2019" not in cut.sources
    assert rules.max_mailbox_bytes == MAX_ONBOARDING_BYTES == 200 * GB
    assert (rules.large_mailbox_bytes, rules.large_days_median, rules.large_days_p90) == (100 * GB, 8, 45)
    assert rules.not_migrated_kinds == SYSTEM_KINDS


@pytest.mark.parametrize(("what", "mutate", "message"), [
    ("limit disagrees with migration_batches", _set(["onboarding", "max_mailbox_gb"], 100), "max_mailbox_gb"),
    ("kinds disagree with migration_batches", _set(["not_migrated_kinds"], ["SystemMailbox"]), "not_migrated"),
    ("range upside down", _set(["cutover", "max_mailboxes", "lower"], 5000), "lower limit"),
    ("large not below max", _set(["onboarding", "large_mailbox_gb"], 200), "large_mailbox_gb"),
    ("add product serves nothing", _set(["hybrid", "add_product"], "2010"), "add_product"),
    ("missing section", _drop(["cutover"]), "malformed"),
    ("schema 2", _set(["schema"], 2), "schema must be 1"),
])
def test_loader_rejects_inconsistent_rules(what: str, mutate: Callable[[Any], None], message: str) -> None:
    data = copy.deepcopy(_raw())
    mutate(data)
    with pytest.raises(MigrationRulesError, match=message):
        parse_migration_rules(data)


def test_loader_reports_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(MigrationRulesError, match="cannot read"):
        load_migration_rules(str(tmp_path))
    (tmp_path / "migration-rules.yml").write_text("hybrid: [unclosed\n", encoding="utf-8")
    with pytest.raises(MigrationRulesError, match="not valid YAML"):
        load_migration_rules(str(tmp_path))
    (tmp_path / "migration-rules.yml").write_text("- a list\n", encoding="utf-8")
    with pytest.raises(MigrationRulesError, match="malformed"):
        load_migration_rules(str(tmp_path))


# --- migration type -------------------------------------------------------------------------------


def test_2019_estate_is_a_hybrid_remote_move(catalog: BuildCatalog, rules: MigrationRules) -> None:
    choice = choose_migration_type([_server("EX19-DAG1", B2019_CU15_AUG26),
                                    _server("EX19-EDGE1", B2019_CU15_AUG26, roles=("Edge",))], 500, rules, catalog)
    assert choice.type == "hybrid"
    assert choice.reasons == ("hybrid remote move: Exchange 2019 hybrid server(s) serve every on-premises "
                              "version (2019)",)


def test_2010_estate_with_2016_hybrid_server_is_hybrid_with_cutover_alternative(
        catalog: BuildCatalog, rules: MigrationRules) -> None:
    choice = choose_migration_type([_server("EX10-MBX1", B2010_SP3_RU32), _server("EX16-HYB1", B2016_CU23_AUG26)],
                                   800, rules, catalog)
    assert choice.type == "hybrid"
    assert "Exchange 2016 hybrid server(s) serve every on-premises version (2010, 2016)" in choice.reasons[0]
    assert "cutover migration is an alternative for 800 mailboxes" in choice.reasons[1]
    assert "1000 (New-MigrationBatch cmdlet help) to 2000 (Exchange Online migration docs)" in choice.reasons[1]
    assert "this project does not automate cutover" in choice.reasons[1]


def test_2010_only_estate_is_told_to_add_2016_hybrid_servers(catalog: BuildCatalog, rules: MigrationRules) -> None:
    choice = choose_migration_type([_server("EX10-MBX1", B2010_SP3_RU32)], 300, rules, catalog)
    assert choice.type == "none"
    assert "add Exchange 2016 hybrid servers" in choice.reasons[0]
    assert "Microsoft 365 Hybrid Configuration Wizard" in choice.reasons[0]
    assert choice.reasons[1].startswith("cutover migration is an alternative for 300 mailboxes")


def test_cutover_is_never_offered_above_the_lower_limit_or_for_2019(catalog: BuildCatalog,
                                                                   rules: MigrationRules) -> None:
    big = choose_migration_type([_server("EX10-MBX1", B2010_SP3_RU32)], 1001, rules, catalog)
    assert big.type == "none" and len(big.reasons) == 1
    at_limit = choose_migration_type([_server("EX10-MBX1", B2010_SP3_RU32)], 1000, rules, catalog)
    assert any("cutover" in r for r in at_limit.reasons)
    modern = choose_migration_type([_server("EX19-DAG1", B2019_CU15_AUG26)], 10, rules, catalog)
    assert modern.type == "hybrid" and not any("cutover" in r for r in modern.reasons)


def test_2010_with_2013_is_hybrid_through_2013(catalog: BuildCatalog, rules: MigrationRules) -> None:
    choice = choose_migration_type([_server("EX10-MBX1", B2010_SP3_RU32), _server("EX13-CAS1", B2013_CU23)],
                                   5000, rules, catalog)
    assert choice.type == "hybrid" and "Exchange 2013 hybrid" in choice.reasons[0]


def test_no_single_hybrid_product_covers_2010_and_2019(catalog: BuildCatalog, rules: MigrationRules) -> None:
    choice = choose_migration_type([_server("EX10-MBX1", B2010_SP3_RU32), _server("EX19-DAG1", B2019_CU15_AUG26)],
                                   50, rules, catalog)
    assert choice.type == "none"
    assert choice.reasons[0].startswith("no single hybrid product serves 2010, 2019 (hybrid support: 2013 serves "
                                        "2010, 2013; 2016 serves 2010, 2013, 2016; 2019 serves 2013, 2016, 2019;")
    assert not any("cutover" in r for r in choice.reasons)


def test_unidentified_servers_are_reported_not_counted(catalog: BuildCatalog, rules: MigrationRules) -> None:
    choice = choose_migration_type([_server("EX-OLD", "8.3.83.6"), _server("EX-BAD", "garbage")], 10, rules,
                                   catalog)
    assert choice.type == "none"
    assert choice.reasons == ("EX-BAD: build 'garbage' unknown; not counted",
                              "EX-OLD: build '8.3.83.6' unknown; not counted",
                              "no Exchange 2010 or later server identified")


# --- readiness --------------------------------------------------------------------------------------


def test_ready_estate_has_no_findings(catalog: BuildCatalog, rules: MigrationRules) -> None:
    inp = _input(exo=["contoso.com", ROUTING, "contoso.onmicrosoft.com"])
    assert check_readiness(inp, catalog, rules) == ()


def test_hybrid_server_builds(catalog: BuildCatalog, rules: MigrationRules) -> None:
    servers = [_server("EX19-DAG1", B2019_CU15_AUG26), _server("EX19-DAG2", B2019_CU13_NOV24V2),
               _server("EX10-MBX1", B2010_SP3_RU32), _server("EX19-NEW", B_UNKNOWN),
               _server("EX19-EDGE1", "garbage", roles=("EdgeTransport",))]
    findings = [f for f in check_readiness(_input(servers), catalog, rules) if f.check == "hybrid-server-build"]
    by_object = {f.object: f for f in findings}
    assert set(by_object) == {"EX19-DAG2", "EX10-MBX1", "EX19-NEW"}
    assert all(f.severity == "blocker" for f in findings)
    assert "Exchange Server 2019 CU13 (15.2.1258.39) is not on the latest CU" in by_object["EX19-DAG2"].reason
    assert by_object["EX19-DAG2"].fix == ("install Exchange Server 2019 CU14 or CU15 with its latest security "
                                          "update")
    assert "cannot be a hybrid server" in by_object["EX10-MBX1"].reason
    assert "add Exchange 2016 hybrid servers" in by_object["EX10-MBX1"].fix
    assert by_object["EX19-NEW"].reason.startswith("build unknown")


def test_a_2010_hybrid_server_is_refused_whatever_its_level(catalog: BuildCatalog, rules: MigrationRules) -> None:
    findings = check_readiness(_input([_server("EX10-CAS1", "14.3.500.0")]), catalog, rules)
    assert [(f.object, f.check) for f in findings] == [("EX10-CAS1", "hybrid-server-build")]
    assert "Exchange Server 2010 (14.3.500.0) cannot be a hybrid server" in findings[0].reason


def test_named_hybrid_servers_limit_the_build_and_mrsproxy_checks(catalog: BuildCatalog,
                                                                  rules: MigrationRules) -> None:
    servers = [_server("EX19-DAG1", B2019_CU15_AUG26), _server("EX19-DAG2", B2019_CU13_NOV24V2, enabled=False)]
    findings = check_readiness(_input(servers, hybrid=["ex19-dag1", "EX19-GONE"]), catalog, rules)
    assert _checks(findings) == {("EX19-GONE", "hybrid-server-build", "blocker")}
    none_named = check_readiness(_input(servers, hybrid=[]), catalog, rules)
    assert _checks(none_named) == {("(hybrid servers)", "hybrid-server-build", "blocker")}


def test_mrsproxy_disabled_unknown_or_not_collected(catalog: BuildCatalog, rules: MigrationRules) -> None:
    servers = [_server("EX19-DAG1", B2019_CU15_AUG26, enabled=False),
               _server("EX19-DAG2", "15.2.1748.48", enabled=None),
               SourceServer("EX19-DAG3", B2019_CU15_AUG26, ("Mailbox",), ())]
    findings = [f for f in check_readiness(_input(servers), catalog, rules) if f.check == "mrsproxy"]
    assert [(f.object, f.reason) for f in findings] == [
        ("EX19-DAG1\\EWS (Default Web Site)", "MRSProxy disabled on EX19-DAG1"),
        ("EX19-DAG2\\EWS (Default Web Site)", "MRSProxy unknown on EX19-DAG2"),
        ("EX19-DAG3", "no EWS virtual directory was collected"),
    ]
    assert findings[0].fix == ('Set-WebServicesVirtualDirectory -Identity "EX19-DAG1\\EWS (Default Web Site)" '
                               "-MRSProxyEnabled $true")


def test_missing_ews_external_url_is_a_warning(catalog: BuildCatalog, rules: MigrationRules) -> None:
    server = SourceServer("EX19-DAG1", B2019_CU15_AUG26, ("Mailbox",), (_vdir("EX19-DAG1", True, None),))
    findings = check_readiness(_input([server]), catalog, rules)
    assert _checks(findings) == {("EX19-DAG1\\EWS (Default Web Site)", "ews-external-url", "warning")}


@pytest.mark.parametrize("tenant", ["contoso.onmicrosoft.com", "-contoso", "", "con toso", "x" * 64])
def test_malformed_tenant_is_a_blocker_and_skips_the_routing_check(tenant: str, catalog: BuildCatalog,
                                                                   rules: MigrationRules) -> None:
    findings = check_readiness(_input(tenant=tenant), catalog, rules)
    assert {f.check for f in findings} == {"tenant-name"}
    assert "is not a DNS label" in findings[0].reason


def test_missing_routing_address_per_mailbox(catalog: BuildCatalog, rules: MigrationRules) -> None:
    mailboxes = [_user("alice"), _user("bob"), _user("carol")]
    addresses = {"alice": _proxies("alice"), "bob": ["SMTP:bob@contoso.com"]}
    findings = check_readiness(_input(mailboxes=mailboxes, addresses=addresses), catalog, rules)
    assert [f.object for f in findings] == ["bob", "carol"]
    assert findings[0].reason == ("The target mailbox doesn't have an SMTP proxy matching "
                                  "'contoso.mail.onmicrosoft.com'")
    assert "email address policy" in findings[0].fix and "Entra ID Connect" in findings[0].fix


def test_address_domains_not_accepted_on_either_side(catalog: BuildCatalog, rules: MigrationRules) -> None:
    addresses = {"alice": [*_proxies("alice"), "smtp:alice@fabrikam.com", "smtp:alice@eu.contoso.com"],
                 "bob": [*_proxies("bob"), "smtp:bob@litware.com"]}
    inp = ReadinessInput([_server("EX19-DAG1", B2019_CU15_AUG26)], [_user("alice"), _user("bob")], addresses,
                         ["contoso.com", "*.contoso.com", "fabrikam.com", ROUTING], "contoso",
                         ["contoso.com", "eu.contoso.com", ROUTING])
    findings = check_readiness(inp, catalog, rules)
    assert [(f.object, f.reason) for f in findings] == [
        ("alice", "address domain fabrikam.com is not an Exchange Online accepted domain "
                  "(NotAcceptedDomainException)"),
        ("bob", "address domain litware.com is not an Exchange Online accepted domain "
                "(NotAcceptedDomainException)"),
        ("bob", "address domain litware.com is not an accepted domain on-premises"),
    ]
    # EXO domains not read: only the on-premises side is checked.
    unread = check_readiness(ReadinessInput(inp.servers, inp.mailboxes, addresses, inp.accepted_domains,
                                            "contoso", None), catalog, rules)
    assert [f.object for f in unread] == ["bob"]


def test_mailbox_sizes(catalog: BuildCatalog, rules: MigrationRules) -> None:
    mailboxes = [_user("alice", 99.9), _user("bob", 100.5), _user("carol", 200), _user("dave", 200.01)]
    findings = check_readiness(_input(mailboxes=mailboxes), catalog, rules)
    # Exactly 200 GB is still onboarded (the limit is "over 200 GB"), slowly.
    assert _checks(findings) == {("bob", "mailbox-size", "warning"), ("carol", "mailbox-size", "warning"),
                                 ("dave", "mailbox-size", "blocker")}
    bob = next(f for f in findings if f.object == "bob")
    assert "8 days (median) to 45 days (90th percentile)" in bob.reason
    dave = next(f for f in findings if f.object == "dave")
    assert "over the 200 GB onboarding limit" in dave.reason


def test_mailbox_without_smtp_address_and_malformed_addresses(catalog: BuildCatalog, rules: MigrationRules) -> None:
    mailboxes = [Mailbox("ghost", None, GB), _user("alice")]
    addresses = {"ghost": ["X500:/o=Contoso/ou=Exchange/cn=ghost"],
                 "alice": [*_proxies("alice"), "smtp:alice@", "smtp:alice@bad_domain"]}
    findings = check_readiness(_input(mailboxes=mailboxes, addresses=addresses), catalog, rules)
    assert [(f.object, f.check, f.reason) for f in findings] == [
        ("alice", "smtp-address", "'alice@' is not a valid SMTP address"),
        ("alice", "smtp-address", "'alice@bad_domain' is not a valid SMTP address"),
        ("ghost", "smtp-address", "mailbox has no SMTP address"),
    ]


def test_duplicate_addresses_name_every_owner(catalog: BuildCatalog, rules: MigrationRules) -> None:
    addresses = {"alice": [*_proxies("alice"), "smtp:Sales@contoso.com"],
                 "bob": [*_proxies("bob"), "SMTP:sales@CONTOSO.com"]}
    findings = check_readiness(_input(addresses=addresses), catalog, rules)
    assert [(f.object, f.check, f.reason) for f in findings] == [
        ("alice", "duplicate-address", "sales@contoso.com is also an address of bob"),
        ("bob", "duplicate-address", "sales@contoso.com is also an address of alice"),
    ]


def test_not_migrated_kinds_are_skipped(catalog: BuildCatalog, rules: MigrationRules) -> None:
    mailboxes = [_user("alice"), _user("DiscoverySearchMailbox", 300, kind="DiscoveryMailbox"),
                 Mailbox("SystemMailbox{1f05a927}", None, GB, kind="ArbitrationMailbox")]
    addresses = {"alice": _proxies("alice"), "DiscoverySearchMailbox": ["SMTP:alice@contoso.com"]}
    assert check_readiness(_input(mailboxes=mailboxes, addresses=addresses), catalog, rules) == ()


def test_every_bad_object_is_reported_and_order_does_not_matter(catalog: BuildCatalog,
                                                                rules: MigrationRules) -> None:
    servers = [_server("EX19-DAG1", B2019_CU15_AUG26), _server("EX19-DAG2", B2019_CU13_NOV24V2, enabled=False),
               _server("EX19-NEW", B_UNKNOWN, enabled=None)]
    mailboxes = [_user("alice"), _user("bob", 250), Mailbox("ghost", None, GB), _user("carol", 150)]
    addresses = {"alice": _proxies("alice"), "bob": ["SMTP:bob@contoso.com", "smtp:bob@fabrikam.com"],
                 "carol": [*_proxies("carol"), "smtp:alice@contoso.com"]}
    inp = _input(servers, mailboxes, addresses, exo=["contoso.com", ROUTING])
    expected = check_readiness(inp, catalog, rules)
    assert _checks(expected) == {
        ("EX19-DAG2", "hybrid-server-build", "blocker"),
        ("EX19-DAG2\\EWS (Default Web Site)", "mrsproxy", "blocker"),
        ("EX19-NEW", "hybrid-server-build", "blocker"),
        ("EX19-NEW\\EWS (Default Web Site)", "mrsproxy", "blocker"),
        ("alice", "duplicate-address", "blocker"),
        ("bob", "mailbox-size", "blocker"),
        ("bob", "routing-address", "blocker"),
        ("bob", "accepted-domain", "blocker"),
        ("carol", "duplicate-address", "blocker"),
        ("carol", "mailbox-size", "warning"),
        ("ghost", "smtp-address", "blocker"),
    }
    assert all(f.fix for f in expected)
    rng = random.Random(5)
    for _ in range(5):
        shuffled_servers, shuffled_mailboxes = servers[:], mailboxes[:]
        rng.shuffle(shuffled_servers)
        rng.shuffle(shuffled_mailboxes)
        assert check_readiness(_input(shuffled_servers, shuffled_mailboxes, addresses,
                                      exo=["contoso.com", ROUTING]), catalog, rules) == expected
