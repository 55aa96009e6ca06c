"""Prerequisites judged from server.json facts: .NET supported by both the current and the
target CU (4.8.1 blocks on Exchange 2016), URL Rewrite from 2016 CU22 / 2019 CU11 / SE, Mailbox-only
and DAG-only items, KB3206632 on Windows Server 2016, unknown facts, and the setup watermark."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.build_catalog import BuildCatalog
from exchange_remediation.evidence_bundle import read_bundle_facts
from exchange_remediation.patch_knowledge import PatchKnowledge, load_patch_knowledge
from exchange_remediation.patch_prerequisites import (
    MISSING,
    PRESENT,
    UNKNOWN,
    CuPosition,
    PrerequisiteDataError,
    PrerequisiteStatus,
    ServerFacts,
    check_prerequisites,
    cu_position,
    half_done_setup,
    load_prerequisite_rules,
    server_facts,
)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "inventories" / "demo" / "evidence"
KEYS = ("CafeRole", "ClientAccessRole", "FrontendTransportRole", "HubTransportRole", "MailboxRole",
        "UnifiedMessagingRole")


@pytest.fixture(scope="module")
def knowledge() -> PatchKnowledge:
    return load_patch_knowledge(str(REPO / "data"))


def cu(knowledge: PatchKnowledge, code: str, name: str) -> CuPosition:
    product = knowledge.catalog.product_named(code)
    assert product is not None
    return cu_position(code, next(c for c in knowledge.catalog.cus_of(product) if c.name == name))


def demo(name: str) -> dict[str, Any]:
    server = read_bundle_facts(str(DEMO / name)).server
    assert server is not None
    return copy.deepcopy(server)


def facts_of(server: dict[str, Any], edge: bool = False, dag: bool = False) -> ServerFacts:
    return server_facts(server, server["exchange"]["roles"], edge, dag)


def check(knowledge: PatchKnowledge, current: tuple[str, str], target: tuple[str, str],
          facts: ServerFacts) -> dict[str, PrerequisiteStatus]:
    statuses = check_prerequisites(knowledge.prerequisites, cu(knowledge, *current), cu(knowledge, *target), facts)
    return {s.id: s for s in statuses}


def mailbox(release: int | None = 528049, rewrite: str | None = "7.2.1993", known: bool = True,
            os_version: str = "10.0.20348", dag: bool = False) -> ServerFacts:
    return ServerFacts(release, known, rewrite, os_version, True, False, dag)


# --- .NET ------------------------------------------------------------------------------------------


def test_dotnet_48_present_for_2016(knowledge: PatchKnowledge) -> None:
    dotnet = check(knowledge, ("2016", "CU19"), ("2016", "CU23"), facts_of(demo("ex16-legacy")))["dotnet"]
    assert (dotnet.status, dotnet.blocking, dotnet.name) == (PRESENT, False, ".NET Framework 4.8")
    assert dotnet.detail == "Release 528049 >= 528040"
    assert not dotnet.install_step_due(True)


def test_dotnet_481_blocks_exchange_2016(knowledge: PatchKnowledge) -> None:
    dotnet = check(knowledge, ("2016", "CU19"), ("2016", "CU23"), mailbox(533325))["dotnet"]
    assert dotnet.blocking and dotnet.name == ".NET Framework 4.8.1"
    assert "Exchange Server 2016 CU23 supports at most .NET Framework 4.8" in dotnet.detail


def test_dotnet_481_is_fine_from_2019_cu14_and_se(knowledge: PatchKnowledge) -> None:
    for current, target in ((("2019", "CU14"), ("2019", "CU14")), (("2019", "CU15"), ("SE", "RTM"))):
        dotnet = check(knowledge, current, target, mailbox(533325))["dotnet"]
        assert (dotnet.status, dotnet.blocking, dotnet.name) == (PRESENT, False, ".NET Framework 4.8.1")


def test_dotnet_481_on_2019_cu13_is_ended_by_the_upgrade(knowledge: PatchKnowledge) -> None:
    dotnet = check(knowledge, ("2019", "CU13"), ("2019", "CU15"), mailbox(533325))["dotnet"]
    assert dotnet.status == PRESENT and not dotnet.blocking
    assert "not supported by the installed Exchange Server 2019 CU13" in dotnet.detail


def test_old_dotnet_gets_the_newest_version_both_cus_support(knowledge: PatchKnowledge) -> None:
    to_2016 = check(knowledge, ("2016", "CU19"), ("2016", "CU23"), mailbox(461814))["dotnet"]
    assert (to_2016.status, to_2016.media_key, to_2016.reboot) == (MISSING, "dotnet48", True)
    assert to_2016.install_step_due(True)
    to_2019 = check(knowledge, ("2019", "CU14"), ("2019", "CU15"), mailbox(461814))["dotnet"]
    assert to_2019.media_key == "dotnet481"
    only_48 = check(knowledge, ("2019", "CU13"), ("2019", "CU15"), mailbox(461814))["dotnet"]
    assert only_48.media_key == "dotnet48"


def test_old_dotnet_on_a_cu_without_48_support_needs_an_intermediate_cu(knowledge: PatchKnowledge) -> None:
    dotnet = check(knowledge, ("2016", "CU12"), ("2016", "CU23"), mailbox(461814))["dotnet"]
    assert dotnet.blocking and "intermediate CU" in dotnet.detail


def test_dotnet_not_collected_is_unknown_and_left_to_the_precheck(knowledge: PatchKnowledge) -> None:
    server = demo("ex16-legacy")
    server["dotnet_release"] = None
    dotnet = check(knowledge, ("2016", "CU19"), ("2016", "CU23"), facts_of(server))["dotnet"]
    assert (dotnet.status, dotnet.blocking, dotnet.media_key) == (UNKNOWN, False, None)
    assert not dotnet.install_step_due(True)


@pytest.mark.parametrize("value", [None, True, "4.8", -1.5, -1, 0, {"Release": 528049}])
def test_unusable_dotnet_values_are_not_collected(value: object) -> None:
    server = demo("ex16-legacy")
    server["dotnet_release"] = value
    assert facts_of(server).dotnet_release is None


def test_dotnet_collection_error_is_not_collected() -> None:
    server = demo("ex16-legacy")
    server["collection_errors"] = ["dotnet_release: access denied"]
    assert facts_of(server).dotnet_release is None
    server["dotnet_release"] = "528049"
    server["collection_errors"] = []
    assert facts_of(server).dotnet_release == 528049


# --- URL Rewrite ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("rewrite", "known", "status"), [
    ("7.2.1993", True, PRESENT), ("7.2.2000", True, PRESENT), ("7.2.2", True, MISSING), ("7.1.1980", True, MISSING),
    (None, True, MISSING),
    (None, False, UNKNOWN), ("garbage", True, UNKNOWN),
])
def test_url_rewrite(knowledge: PatchKnowledge, rewrite: str | None, known: bool, status: str) -> None:
    found = check(knowledge, ("2019", "CU14"), ("2019", "CU14"), mailbox(rewrite=rewrite, known=known))
    assert found["urlrewrite"].status == status


def test_url_rewrite_facts_from_server_json() -> None:
    legacy = demo("ex16-legacy")  # iis collected, url_rewrite_version null: not installed
    assert (facts_of(legacy).url_rewrite_known, facts_of(legacy).url_rewrite) == (True, None)
    edge = demo("edge01")  # no iis section at all: not collected
    assert facts_of(edge, edge=True).url_rewrite_known is False
    legacy["collection_errors"] = ["iis.url_rewrite_version: registry unreadable"]
    assert facts_of(legacy).url_rewrite_known is False
    assert facts_of(demo("ex16-mitigated")).url_rewrite == "7.2.1993"


def test_url_rewrite_is_required_from_2016_cu22(knowledge: PatchKnowledge) -> None:
    assert "urlrewrite" not in check(knowledge, ("2016", "CU19"), ("2016", "CU21"), mailbox())
    assert "urlrewrite" in check(knowledge, ("2016", "CU19"), ("2016", "CU22"), mailbox())
    assert "urlrewrite" not in check(knowledge, ("2019", "CU9"), ("2019", "CU10"), mailbox())
    assert "urlrewrite" in check(knowledge, ("2019", "CU9"), ("2019", "CU11"), mailbox())
    assert "urlrewrite" in check(knowledge, ("2019", "CU15"), ("SE", "RTM"), mailbox())


# --- roles, DAG, Windows version -------------------------------------------------------------------


def test_mailbox_2019_needs_media_foundation_and_ucma(knowledge: PatchKnowledge) -> None:
    found = check(knowledge, ("2019", "CU14"), ("2019", "CU15"), mailbox())
    assert set(found) == {"dotnet", "vcredist2012", "vcredist2013", "urlrewrite", "media_foundation", "ucma4"}
    assert found["media_foundation"].install == "feature" and found["media_foundation"].feature == \
        "Server-Media-Foundation"
    assert all(found[i].status == UNKNOWN for i in ("vcredist2012", "vcredist2013", "media_foundation", "ucma4"))


def test_mailbox_2016_needs_ucma_but_not_media_foundation(knowledge: PatchKnowledge) -> None:
    found = check(knowledge, ("2016", "CU19"), ("2016", "CU23"), mailbox())
    assert "ucma4" in found and "media_foundation" not in found


def test_edge_needs_only_dotnet_and_vc_runtimes(knowledge: PatchKnowledge) -> None:
    edge = facts_of(demo("edge01"), edge=True)
    assert set(check(knowledge, ("2019", "CU15"), ("2019", "CU15"), edge)) == {"dotnet", "vcredist2012",
                                                                              "vcredist2013"}


def test_dag_members_need_the_clustering_tools(knowledge: PatchKnowledge) -> None:
    found = check(knowledge, ("2019", "CU14"), ("2019", "CU14"), mailbox(dag=True))
    rsat = found["rsat_clustering"]
    assert rsat.needed_for == "maintenance" and rsat.install_step_due(False)
    assert not found["ucma4"].install_step_due(False)  # unknown, and no setup runs: no step
    assert found["ucma4"].install_step_due(True)


def test_kb3206632_only_on_windows_server_2016(knowledge: PatchKnowledge) -> None:
    legacy = check(knowledge, ("2016", "CU19"), ("2016", "CU23"), facts_of(demo("ex16-legacy")))
    assert legacy["kb3206632"].reboot and legacy["kb3206632"].media_key == "kb3206632"
    assert "kb3206632" not in check(knowledge, ("2016", "CU18"), ("2016", "CU23"), facts_of(demo("ex16-mitigated")))
    server = demo("ex16-legacy")
    server["os"] = {"caption": "Windows Server 2016", "version": "10.0.14393.7000"}
    assert facts_of(server).os_version == "10.0.14393"


def test_missing_items_are_always_installed_unknown_ones_only_with_setup(knowledge: PatchKnowledge) -> None:
    found = check(knowledge, ("2019", "CU14"), ("2019", "CU14"), mailbox(rewrite=None))
    assert found["urlrewrite"].status == MISSING and found["urlrewrite"].install_step_due(False)
    assert not found["vcredist2012"].install_step_due(False) and found["vcredist2012"].install_step_due(True)


# --- data loading -----------------------------------------------------------------------------------


def test_rules_name_only_cus_of_the_catalog(knowledge: PatchKnowledge) -> None:
    catalog: BuildCatalog = knowledge.catalog
    data = {"dotnet": [{"id": "dotnet48", "name": ".NET 4.8", "release_min": 528040,
                        "supported_from": {"2016": "CU99"}}],
            "prerequisites": [], "setup_watermark": {"role_keys": ["MailboxRole"]}}
    with pytest.raises(PrerequisiteDataError, match=r"2016 CU99 is not in exchange-builds\.csv"):
        load_prerequisite_rules(data, catalog)
    data["dotnet"] = [{"id": "b", "name": "b", "release_min": 533320, "supported_from": {"2016": "CU23"}},
                      {"id": "a", "name": "a", "release_min": 528040, "supported_from": {"2016": "CU23"}}]
    with pytest.raises(PrerequisiteDataError, match="oldest first"):
        load_prerequisite_rules(data, catalog)


# --- setup watermark ------------------------------------------------------------------------------


def with_registry(registry: Any) -> dict[str, Any]:
    server = demo("ex16-legacy")
    server["exchange"]["setup_registry"] = registry
    return server


@pytest.mark.parametrize(("registry", "found"), [
    ({"MailboxRole": {"Watermark": "Mailbox_x", "Action": "Install"}},
     ["MailboxRole (Watermark=Mailbox_x, Action=Install)"]),
    ({"roles": {"CafeRole": {"UnpackedVersion": "15.1.2507.6"}}},
     ["CafeRole (UnpackedVersion=15.1.2507.6 without ConfiguredVersion)"]),
    ({"roles": {"MailboxRole": {"UnpackedVersion": "15.1.2507.6", "ConfiguredVersion": ""}}},
     ["MailboxRole (UnpackedVersion=15.1.2507.6 without ConfiguredVersion)"]),
    ({"MailboxRole": {"UnpackedVersion": "15.1.2176.2", "ConfiguredVersion": "15.1.2176.2"}}, []),
    ({"MailboxRole": {"Watermark": None, "Action": ""}}, []),
    ({"EdgeTransportRole": {"Watermark": "x"}}, []),  # not one of the keys the pre-check reads
    ({"MsiProductMajor": 15}, []),
    ({"MailboxRole": "Watermark"}, []),
    (None, []),
    ("text", []),
])
def test_half_done_setup(registry: Any, found: list[str]) -> None:
    assert half_done_setup(with_registry(registry), KEYS) == found


@pytest.mark.parametrize(("records", "found"), [
    ([{"role": "MailboxRole", "watermark": None, "action": None, "unpacked_version": "15.2.1544.4",
       "configured_version": "15.2.1544.4"}], []),
    ([{"role": "MailboxRole", "watermark": "x", "action": "BuildToBuildUpgrade", "unpacked_version": "15.2.1748.10",
       "configured_version": "15.2.1544.4"}], ["MailboxRole (Watermark=x, Action=BuildToBuildUpgrade)"]),
    ([{"role": "ClientAccessRole", "unpacked_version": "15.2.1748.10", "configured_version": None}],
     ["ClientAccessRole (UnpackedVersion=15.2.1748.10 without ConfiguredVersion)"]),
    ([{"role": "SomethingElse", "watermark": "x"}, "garbage"], []),
    ("not a list", []),
])
def test_half_done_setup_from_the_precheck_record_shape(records: Any, found: list[str]) -> None:
    # The shape the exchange_patch pre-check reads on the server (patch_checks.watermark_problems).
    server = demo("ex19-dag1")
    server["exchange"]["watermarks"] = records
    assert half_done_setup(server, KEYS) == found


def test_watermark_keys_come_from_the_data(knowledge: PatchKnowledge) -> None:
    assert knowledge.prerequisites.watermark_keys == KEYS
