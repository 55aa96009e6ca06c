"""plan_estate on the demo estate and on variants of its servers, every entry built by the real
assessment (assess_estate / assess_server), never typed by hand: states and reasons, targets and
steps, license switches, prerequisites, upgrade_to_se, waves, redirect targets, media hashes,
options, and the time it takes for 5,000 servers."""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.estate_assessment import assess_estate
from exchange_remediation.evidence_bundle import read_bundle_facts
from exchange_remediation.knowledge_base import load_knowledge
from exchange_remediation.patch_knowledge import PatchKnowledge, load_patch_knowledge
from exchange_remediation.patch_media import MediaCatalog
from exchange_remediation.patch_plan import PlanOptions, plan_estate
from exchange_remediation.server_assessment import AssessmentContext, assess_server

REPO = Path(__file__).resolve().parents[2]
DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo" / "evidence"
TODAY = dt.date(2026, 11, 29)
GENERATED = "2026-11-29T10:00:00Z"
OFF = "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF"
HASH = "ab" * 32


@pytest.fixture(scope="module")
def knowledge() -> PatchKnowledge:
    return load_patch_knowledge(DATA)


@pytest.fixture(scope="module")
def context() -> AssessmentContext:
    base = load_knowledge(DATA)
    return AssessmentContext(base.catalog, base.table, base.march21, TODAY)


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, Any], dict[str, Any]]:
    names = sorted(path.name for path in DEMO.iterdir())
    estate = assess_estate({name: {"evidence_dir": str(DEMO / name), "source": "evidence"} for name in names},
                           DATA, TODAY)
    servers = {name: read_bundle_facts(str(DEMO / name)).server for name in names}
    return estate.hosts, servers


def demo_server(name: str) -> dict[str, Any]:
    server = read_bundle_facts(str(DEMO / name)).server
    assert server is not None
    return copy.deepcopy(server)


def assessed(server: dict[str, Any], context: AssessmentContext, source: str = "evidence") -> dict[str, Any]:
    entry = assess_server(server, context)
    entry["source"] = source
    return entry


def plan_of(servers: dict[str, dict[str, Any]], context: AssessmentContext, knowledge: PatchKnowledge,
            options: PlanOptions | None = None, source: str = "evidence") -> dict[str, Any]:
    assessment = {name: assessed(server, context, source) for name, server in servers.items()}
    return plan_estate(assessment, servers, knowledge, options or PlanOptions(), GENERATED)


@pytest.fixture(scope="module")
def demo_plan(demo: tuple[dict[str, Any], dict[str, Any]], knowledge: PatchKnowledge) -> dict[str, Any]:
    hosts, servers = demo
    return plan_estate(hosts, servers, knowledge, PlanOptions(), GENERATED)


# --- the demo estate --------------------------------------------------------------------------

EXPECTED = {
    # host: (state, target CU and SU or None, step kinds other than prerequisites)
    "edge01": ("patch", ("CU15", "Aug26SU"), ["su"]),
    "ex-damaged": ("blocked", None, []),
    "ex10": ("blocked", None, []),
    "ex13": ("blocked", None, []),
    "ex16-legacy": ("patch", ("CU23", "Aug26SU"), ["cu", "su"]),
    "ex16-mitigated": ("patch", ("CU23", "Aug26SU"), ["cu", "su"]),
    "ex16-patched": ("up_to_date", ("CU23", "Aug26SU"), []),
    "ex19-dag1": ("patch", ("CU14", "Aug26SU"), ["su"]),
    "ex19-dag2": ("up_to_date", ("CU14", "Aug26SU"), []),
    "ex19-dag3": ("up_to_date", ("CU15", "Aug26SU"), []),
    "ex19-unknown": ("blocked", None, []),
    "exse01": ("up_to_date", ("RTM", "Aug26SU"), []),
}


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_demo_states_targets_and_steps(demo_plan: dict[str, Any], host: str) -> None:
    state, target, kinds = EXPECTED[host]
    server = demo_plan["servers"][host]
    assert server["state"] == state
    assert (server["target"]["cu"], server["target"]["su"]) == target if target else server["target"] is None
    assert [s["kind"] for s in server["steps"] if s["kind"] != "prerequisite"] == kinds
    assert server["live"] is False  # offline evidence bundles: plan only
    assert (server["wave"] is not None) == (state == "patch")
    if state == "blocked":
        assert server["reasons"]


def test_demo_plan_matches_the_contract_and_is_json(demo_plan: dict[str, Any]) -> None:
    assert demo_plan["schema"] == 1 and demo_plan["generated_at"] == GENERATED
    assert set(demo_plan) >= {"schema", "generated_at", "options", "ad_preparation", "servers", "waves", "summary"}
    assert demo_plan["options"]["diagnostic_data"] == "OFF" and demo_plan["options"]["upgrade_to_se"] is False
    server_keys = {"state", "reasons", "live", "hostname", "fqdn", "product", "product_code", "roles", "edge",
                   "maintenance", "dag", "dag_peers", "dag_member_count", "site", "redirect_target", "wave",
                   "current", "target", "license_switch", "prerequisites", "steps", "media", "modelled_minutes"}
    for server in demo_plan["servers"].values():
        assert set(server) >= server_keys
    assert json.loads(json.dumps(demo_plan)) == demo_plan
    summary = demo_plan["summary"]
    assert (summary["servers"], summary["patch"], summary["up_to_date"], summary["blocked"]) == (12, 4, 4, 4)
    assert summary["waves"] == len(demo_plan["waves"]) == 1
    assert demo_plan["waves"][0]["servers"] == ["edge01", "ex16-legacy", "ex16-mitigated", "ex19-dag1"]
    assert summary["serial_window_minutes"] == sum(
        s["modelled_minutes"] for s in demo_plan["servers"].values() if s["state"] == "patch")
    assert summary["modelled_window_minutes"] == demo_plan["waves"][0]["modelled_minutes"] == max(
        s["modelled_minutes"] for s in demo_plan["servers"].values() if s["state"] == "patch")
    assert summary["speedup"] == round(summary["serial_window_minutes"] / summary["modelled_window_minutes"], 2)


def test_cu_upgrade_of_ex16_legacy(demo_plan: dict[str, Any], knowledge: PatchKnowledge) -> None:
    server = demo_plan["servers"]["ex16-legacy"]
    assert server["current"] == {"build": "15.1.2176.2", "cu": "CU19", "su": None}
    assert server["target"] == {"product": "Exchange Server 2016", "cu": "CU23", "cu_build": "15.1.2507.6",
                                "cu_kb": "KB5011155", "su": "Aug26SU", "build": "15.1.2507.72", "su_kb": "KB5121576"}
    assert server["license_switch"] == OFF
    cu = next(s for s in server["steps"] if s["kind"] == "cu")
    su = next(s for s in server["steps"] if s["kind"] == "su")
    assert cu["arguments"] == ["/Mode:Upgrade", OFF]
    assert cu["media"] == "2016-CU23-iso" and su["media"] == "2016-CU23-Aug26SU-msp"
    assert (cu["build"], cu["kb"], su["build"], su["kb"]) == ("15.1.2507.6", "KB5011155", "15.1.2507.72", "KB5121576")
    # Windows Server 2016 (10.0.14393): KB3206632 with its own reboot, installed last before setup.
    prerequisites = {p["id"]: p for p in server["prerequisites"]}
    assert prerequisites["dotnet"]["status"] == "present"
    assert prerequisites["urlrewrite"]["status"] == "missing"  # iis.url_rewrite_version is null
    assert prerequisites["kb3206632"]["status"] == "unknown"
    assert "media_foundation" not in prerequisites and "rsat_clustering" not in prerequisites
    kinds = [s.get("id", s["kind"]) for s in server["steps"]]
    assert kinds[-3:] == ["kb3206632", "cu", "su"]
    assert cu["reboot_before"] is False  # KB3206632 rebooted right before
    minutes = knowledge.durations
    assert cu["minutes"] == minutes.cu_setup + minutes.reboot
    assert server["modelled_minutes"] == (minutes.maintenance_enter + minutes.maintenance_exit
                                          + sum(step["minutes"] for step in server["steps"]))
    assert {m["id"] for m in server["media"]} >= {"2016-CU23-iso", "2016-CU23-Aug26SU-msp", "prereq-urlrewrite"}
    assert server["maintenance"] == "standalone" and server["redirect_target"] == "ex16-patched.contoso.local"


def test_su_only_dag_member(demo_plan: dict[str, Any]) -> None:
    server = demo_plan["servers"]["ex19-dag1"]
    assert server["license_switch"] is None  # no setup runs
    assert [s["kind"] for s in server["steps"]] == ["prerequisite", "su"]
    assert server["steps"][0]["id"] == "rsat_clustering"  # the DAG scripts need it on every run
    assert server["maintenance"] == "dag"
    assert server["dag_peers"] == ["ex19-dag2", "ex19-dag3"] and server["dag_member_count"] == 3
    assert server["redirect_target"] == "ex19-dag2.contoso.local"  # a DAG peer in the same site
    assert [m["id"] for m in server["media"]] == ["2019-CU14-Aug26SU-msp"]
    assert any("Exchange Server SE" in r and "upgrade_to_se" in r for r in server["reasons"])


def test_edge_is_patched_on_its_own_path(demo_plan: dict[str, Any]) -> None:
    server = demo_plan["servers"]["edge01"]
    assert server["maintenance"] == "edge" and server["redirect_target"] is None
    assert server["dag"] is None and server["dag_peers"] == []
    ids = {p["id"] for p in server["prerequisites"]}
    assert not ids & {"urlrewrite", "ucma4", "media_foundation", "rsat_clustering"}


def test_up_to_date_2019_says_se_is_the_path(demo_plan: dict[str, Any]) -> None:
    for name in ("ex19-dag2", "ex19-dag3"):
        server = demo_plan["servers"][name]
        assert server["state"] == "up_to_date" and server["steps"] == [] and server["wave"] is None
        assert any("out of support" in r or "left extended support" in r for r in server["reasons"])
        assert any("upgrade_to_se" in r for r in server["reasons"])
    assert demo_plan["servers"]["exse01"]["reasons"] == []


# --- every blocked reason -----------------------------------------------------------------------


def test_blocked_when_not_assessed(demo_plan: dict[str, Any]) -> None:
    reasons = demo_plan["servers"]["ex-damaged"]["reasons"]
    assert reasons[0].startswith("not assessed:") and "not valid JSON" in reasons[0]


def test_blocked_without_server_facts(demo: tuple[dict[str, Any], dict[str, Any]], knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    plan = plan_estate(hosts, {**servers, "ex16-legacy": None}, knowledge, PlanOptions(), GENERATED)
    server = plan["servers"]["ex16-legacy"]
    assert server["state"] == "blocked" and server["reasons"] == ["no server facts (server.json) to plan from"]


def test_blocked_when_the_build_is_not_in_the_catalog(demo_plan: dict[str, Any]) -> None:
    reasons = demo_plan["servers"]["ex19-unknown"]["reasons"]
    assert len(reasons) == 1 and "15.2.1544.99 is not in the catalog" in reasons[0]


def test_blocked_when_the_assessment_could_not_identify_the_build(context: AssessmentContext,
                                                                  knowledge: PatchKnowledge) -> None:
    server = demo_server("ex16-legacy")
    server["exchange"]["exsetup_version"] = "16.0.100.1"
    plan = plan_of({"ex16-legacy": server}, context, knowledge)
    reasons = plan["servers"]["ex16-legacy"]["reasons"]
    assert plan["servers"]["ex16-legacy"]["state"] == "blocked" and "unknown build 16.0.100.1" in reasons[0]


def test_blocked_when_the_su_level_is_unknown(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    server = demo_server("ex19-dag1")
    server["exchange"]["exsetup_version"] = None
    server["exchange"]["admin_display_version"] = "Version 15.2 (Build 1544.4)"
    plan = plan_of({"ex19-dag1": server}, context, knowledge)
    assert plan["servers"]["ex19-dag1"]["state"] == "blocked"
    assert "SU level unknown" in plan["servers"]["ex19-dag1"]["reasons"][0]


@pytest.mark.parametrize(("host", "product", "since"), [("ex10", "Exchange Server 2010", "2020-10-13"),
                                                        ("ex13", "Exchange Server 2013", "2023-04-11")])
def test_out_of_support_products_cite_the_upgrade_path(demo_plan: dict[str, Any], knowledge: PatchKnowledge,
                                                       host: str, product: str, since: str) -> None:
    reason = demo_plan["servers"][host]["reasons"][0]
    path = knowledge.catalog.product_named(product).upgrade_path
    assert reason.startswith(f"{product} is out of support, no automatic update path; migrate:")
    assert path and " ".join(path.split()) in reason and since in reason


def test_edge_without_a_target_is_blocked(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    server = demo_server("edge01")
    entry = assessed(server, context)
    entry["next_step"] = {**entry["next_step"], "action": "investigate", "target_cu": None, "target_su": None,
                          "target_build": None, "summary": "no update path"}
    plan = plan_estate({"edge01": entry}, {"edge01": server}, knowledge, PlanOptions(), GENERATED)
    assert plan["servers"]["edge01"]["state"] == "blocked"
    assert plan["servers"]["edge01"]["reasons"] == ["Edge Transport server without an update path: no update path"]


def test_dotnet_481_on_exchange_2016_blocks(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    server = demo_server("ex16-legacy")
    server["dotnet_release"] = 533325
    plan = plan_of({"ex16-legacy": server}, context, knowledge)
    result = plan["servers"]["ex16-legacy"]
    assert result["state"] == "blocked" and result["wave"] is None and result["steps"] == []
    assert result["reasons"][0].startswith("prerequisite .NET Framework 4.8.1:")
    assert "cannot be downgraded" in result["reasons"][0]
    dotnet = next(p for p in result["prerequisites"] if p["id"] == "dotnet")
    assert dotnet["blocking"] is True
    assert result["target"]["cu"] == "CU23"  # the target is still shown


def test_old_dotnet_is_installed_first(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    server = demo_server("ex16-mitigated")
    server["dotnet_release"] = 461814  # 4.7.2: supported by 2016 CU18, not by CU23
    plan = plan_of({"ex16-mitigated": server}, context, knowledge)
    result = plan["servers"]["ex16-mitigated"]
    assert result["state"] == "patch"
    dotnet = next(s for s in result["steps"] if s.get("id") == "dotnet")
    assert dotnet["name"] == ".NET Framework 4.8" and dotnet["media"] == "prereq-dotnet48" and dotnet["reboot"]
    assert result["steps"][-3]["id"] == "dotnet"  # its reboot clears the way for setup
    assert any(m["file"] == "ndp48-x86-x64-allos-enu.exe" for m in result["media"])


@pytest.mark.parametrize("registry", [
    {"MailboxRole": {"Watermark": "MailboxServiceControlLast", "Action": "BuildToBuildUpgrade"}},
    {"roles": {"MailboxRole": {"UnpackedVersion": "15.1.2507.6", "ConfiguredVersion": None}}},
    {"HubTransportRole": {"Action": "BuildToBuildUpgrade", "UnpackedVersion": "15.1.2507.6",
                          "ConfiguredVersion": "15.1.2176.2"}},
], ids=["watermark_and_action", "unpacked_not_configured", "action_only"])
def test_setup_watermark_blocks(context: AssessmentContext, knowledge: PatchKnowledge,
                                registry: dict[str, Any]) -> None:
    server = demo_server("ex16-legacy")
    server["exchange"]["setup_registry"] = {"MsiProductMajor": 15, **registry}
    plan = plan_estate({"ex16-legacy": assessed(server, context)}, {"ex16-legacy": server}, knowledge,
                       PlanOptions(), GENERATED)
    result = plan["servers"]["ex16-legacy"]
    assert result["state"] == "blocked" and result["wave"] is None
    assert "setup watermark" in result["reasons"][0]
    assert "Never delete the watermark; resume setup manually" in result["reasons"][0]


def test_a_finished_setup_is_no_watermark(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    server = demo_server("ex16-legacy")
    server["exchange"]["setup_registry"] = {"MailboxRole": {"UnpackedVersion": "15.1.2176.2",
                                                            "ConfiguredVersion": "15.1.2176.2"}}
    plan = plan_of({"ex16-legacy": server}, context, knowledge)
    assert plan["servers"]["ex16-legacy"]["state"] == "patch"


def test_watermark_blocks_an_up_to_date_server_too(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    server = demo_server("exse01")
    server["exchange"]["setup_registry"] = {"MailboxRole": {"Watermark": "x"}}
    plan = plan_of({"exse01": server}, context, knowledge)
    assert plan["servers"]["exse01"]["state"] == "blocked"


# --- upgrade_to_se ------------------------------------------------------------------------------


def test_upgrade_to_se(demo: tuple[dict[str, Any], dict[str, Any]], knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    plan = plan_estate(hosts, servers, knowledge, PlanOptions(upgrade_to_se=True), GENERATED)
    for name in ("ex19-dag1", "ex19-dag2", "ex19-dag3", "edge01"):
        server = plan["servers"][name]
        assert server["state"] == "patch", name
        assert server["target"] == {"product": "Exchange Server SE", "cu": "RTM", "cu_build": "15.2.2562.17",
                                    "cu_kb": "KB5047155", "su": "Aug26SU", "build": "15.2.2562.46",
                                    "su_kb": "KB5121573"}
        cu, su = [s for s in server["steps"] if s["kind"] in ("cu", "su")]
        assert cu["in_place_upgrade"] is True and cu["media"] == "SE-RTM-iso"
        assert cu["arguments"] == ["/Mode:Upgrade", OFF] and server["license_switch"] == OFF
        assert su["media"] == "SE-RTM-Aug26SU-msp"
        media = {m["id"]: m for m in server["media"]}
        assert media["SE-RTM-iso"]["relative_path"] == "ExchangeSE/RTM/ExchangeServerSE-x64.ISO"
    # 2016 and SE servers are not touched by the option; the DAG members get a wave each.
    assert plan["servers"]["ex16-patched"]["state"] == "up_to_date"
    assert plan["servers"]["exse01"]["state"] == "up_to_date"
    waves = {plan["servers"][n]["wave"] for n in ("ex19-dag1", "ex19-dag2", "ex19-dag3")}
    assert len(waves) == 3 and plan["summary"]["lower_bound"] == 3
    assert plan["summary"]["limited_by"].startswith("largest DAG DAG01")
    assert plan["ad_preparation"]["needed"] is False  # SE RTM adds no schema change


def test_upgrade_to_se_needs_cu14_or_later(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    server = demo_server("ex19-dag1")
    server["exchange"]["exsetup_version"] = "15.2.1258.12"  # 2019 CU13, no SU
    plan = plan_of({"ex19-dag1": server}, context, knowledge, PlanOptions(upgrade_to_se=True))
    result = plan["servers"]["ex19-dag1"]
    assert (result["target"]["product"], result["target"]["cu"]) == ("Exchange Server 2019", "CU15")
    assert any("the in-place upgrade starts only from Exchange Server 2019 CU14, CU15" in r for r in result["reasons"])


# --- options -----------------------------------------------------------------------------------


def test_diagnostic_data_on_and_domain_controller(demo: tuple[dict[str, Any], dict[str, Any]],
                                                  knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    options = PlanOptions(diagnostic_data="on", domain_controller="dc01.contoso.local")
    plan = plan_estate(hosts, servers, knowledge, options, GENERATED)
    cu = next(s for s in plan["servers"]["ex16-legacy"]["steps"] if s["kind"] == "cu")
    assert cu["arguments"] == ["/Mode:Upgrade", "/IAcceptExchangeServerLicenseTerms_DiagnosticDataON",
                               "/DomainController:dc01.contoso.local"]
    assert plan["options"]["diagnostic_data"] == "ON"


def test_extended_protection_opt_out_only_where_setup_has_it(demo: tuple[dict[str, Any], dict[str, Any]],
                                                             knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    default = plan_estate(hosts, servers, knowledge, PlanOptions(upgrade_to_se=True), GENERATED)
    for server in default["servers"].values():
        for step in server["steps"]:
            assert not any("DoNotEnableEP" in a for a in step.get("arguments", []))
    plan = plan_estate(hosts, servers, knowledge,
                       PlanOptions(upgrade_to_se=True, extended_protection_opt_out="/DoNotEnableEP_FEEWS"), GENERATED)
    se = next(s for s in plan["servers"]["ex19-dag1"]["steps"] if s["kind"] == "cu")
    assert se["arguments"][-1] == "/DoNotEnableEP_FEEWS"
    legacy = next(s for s in plan["servers"]["ex16-legacy"]["steps"] if s["kind"] == "cu")
    assert legacy["arguments"] == ["/Mode:Upgrade", OFF]
    assert any("extended_protection_opt_out ignored" in r for r in plan["servers"]["ex16-legacy"]["reasons"])


@pytest.mark.parametrize(("options", "named"), [
    ({"max_per_wave": 0}, "max_per_wave"),
    ({"max_per_wave": True}, "max_per_wave"),
    ({"max_per_wave": "2"}, "max_per_wave"),
    ({"max_per_site": -1}, "max_per_site"),
    ({"diagnostic_data": "maybe"}, "diagnostic_data"),
    ({"diagnostic_data": None}, "diagnostic_data"),
    ({"media_sha256": {"a.iso": "xyz"}}, "media_sha256"),
    ({"media_sha256": ["a"]}, "media_sha256"),
    ({"hosts": "ex16-legacy"}, "hosts"),
    ({"hosts": ["a", "a"]}, "hosts"),
    ({"domain_controller": "dc01 /PrepareAD"}, "domain_controller"),
    ({"extended_protection_opt_out": "DisableEverything"}, "extended_protection_opt_out"),
    ({"upgrade_to_se": "yes"}, "upgrade_to_se"),
])
def test_bad_options_name_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        PlanOptions(**options)


def test_hosts_not_in_the_assessment(demo: tuple[dict[str, Any], dict[str, Any]], knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    with pytest.raises(ValueError, match=r"^hosts: nobody not in the assessment"):
        plan_estate(hosts, servers, knowledge, PlanOptions(hosts=["nobody", "ex10"]), GENERATED)


def test_hosts_option_plans_a_subset_inside_the_whole_estate(demo: tuple[dict[str, Any], dict[str, Any]],
                                                            knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    plan = plan_estate(hosts, servers, knowledge, PlanOptions(hosts=["ex19-dag1"]), GENERATED)
    assert list(plan["servers"]) == ["ex19-dag1"] and plan["options"]["hosts"] == ["ex19-dag1"]
    server = plan["servers"]["ex19-dag1"]
    assert server["dag_member_count"] == 3 and server["redirect_target"] == "ex19-dag2.contoso.local"
    assert plan["ad_preparation"]["estate_levels"]["source"] == "inferred"


def test_waves_respect_max_per_wave(demo: tuple[dict[str, Any], dict[str, Any]], knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    plan = plan_estate(hosts, servers, knowledge, PlanOptions(max_per_wave=1), GENERATED)
    assert [len(w["servers"]) for w in plan["waves"]] == [1, 1, 1, 1]
    assert plan["summary"]["limited_by"] == "max_per_wave 1 (4 servers)"
    assert plan["summary"]["modelled_window_minutes"] == plan["summary"]["serial_window_minutes"]
    assert plan["summary"]["speedup"] == 1.0
    for wave in plan["waves"]:
        for name in wave["servers"]:
            assert plan["servers"][name]["wave"] == wave["number"]


def test_standalone_alone_in_its_site_has_no_redirect_target(context: AssessmentContext,
                                                            knowledge: PatchKnowledge) -> None:
    plan = plan_of({"ex16-legacy": demo_server("ex16-legacy")}, context, knowledge)
    server = plan["servers"]["ex16-legacy"]
    assert server["redirect_target"] is None
    assert any("no other Mailbox server in site HQ" in r for r in server["reasons"])


def test_redirect_target_avoids_a_server_patched_in_the_same_wave(context: AssessmentContext,
                                                                  knowledge: PatchKnowledge) -> None:
    servers = {name: demo_server(name) for name in ("ex16-legacy", "ex16-patched", "ex19-dag1")}
    servers["ex19-dag1"]["exchange"]["dag"] = None  # stand-alone 2019 in HQ, patched with the 2016 one
    plan = plan_of(servers, context, knowledge)
    assert plan["servers"]["ex16-legacy"]["wave"] == plan["servers"]["ex19-dag1"]["wave"] == 1
    assert plan["servers"]["ex16-legacy"]["redirect_target"] == "ex16-patched.contoso.local"
    assert plan["servers"]["ex19-dag1"]["redirect_target"] == "ex16-patched.contoso.local"


def test_live_hosts(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    plan = plan_of({"ex19-dag1": demo_server("ex19-dag1")}, context, knowledge, source="live")
    assert plan["servers"]["ex19-dag1"]["live"] is True and plan["summary"]["patch_live"] == 1


# --- media hashes ---------------------------------------------------------------------------------


def test_media_without_hash_is_planned_with_a_warning(demo_plan: dict[str, Any]) -> None:
    server = demo_plan["servers"]["ex19-dag1"]
    assert server["media"] == [{"id": "2019-CU14-Aug26SU-msp", "kind": "su_msp",
                                "file": "Exchange2019-KB5121575-x64-en.msp",
                                "relative_path": "Exchange2019/CU14/Exchange2019-KB5121575-x64-en.msp",
                                "sha256": None, "sha256_source": "none", "signed_by_microsoft": True}]
    assert server["wave"] == 1
    assert any("no known SHA-256 for Exchange2019/CU14/Exchange2019-KB5121575-x64-en.msp" in r
               for r in server["reasons"])


def test_media_sha256_from_the_options(demo: tuple[dict[str, Any], dict[str, Any]],
                                       knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    options = PlanOptions(media_sha256={"Exchange2019\\CU14\\EXCHANGE2019-KB5121575-x64-en.msp": HASH.upper(),
                                        "Exchange2019-KB5121574-x64-en.msp": "cd" * 32,
                                        "no-such-file.iso": "ef" * 32})
    plan = plan_estate(hosts, servers, knowledge, options, GENERATED)
    dag1 = plan["servers"]["ex19-dag1"]
    assert (dag1["media"][0]["sha256"], dag1["media"][0]["sha256_source"]) == (HASH, "user")
    assert not any("SHA-256" in r for r in dag1["reasons"])
    assert plan["servers"]["edge01"]["media"][0]["sha256"] == "cd" * 32
    assert plan["warnings"] == ["media_sha256 key 'no-such-file.iso' matches no medium of this plan"]
    assert {m["id"] for m in plan["media"]} >= {"2019-CU14-Aug26SU-msp", "2016-CU23-iso"}


def test_a_file_name_shared_by_two_media_is_refused(demo: tuple[dict[str, Any], dict[str, Any]],
                                                    knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    with pytest.raises(ValueError, match=r"media_sha256: 'vcredist_x64\.exe' names 2 different files"):
        plan_estate(hosts, servers, knowledge, PlanOptions(media_sha256={"vcredist_x64.exe": HASH}), GENERATED)


def test_media_sha256_from_the_data_file(demo: tuple[dict[str, Any], dict[str, Any]],
                                         knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    media = MediaCatalog(knowledge.media.products, knowledge.media.prerequisite_folder,
                         knowledge.media.prerequisite_files,
                         {"exchange2019/cu14/exchange2019-kb5121575-x64-en.msp": HASH},
                         knowledge.media.in_place_upgrades)
    with_data = PatchKnowledge(knowledge.catalog, knowledge.prerequisites, knowledge.ad_levels, media,
                               knowledge.switches, knowledge.durations)
    plan = plan_estate(hosts, servers, with_data, PlanOptions(), GENERATED)
    assert plan["servers"]["ex19-dag1"]["media"][0]["sha256_source"] == "data"
    override = plan_estate(hosts, servers, with_data,
                           PlanOptions(media_sha256={"Exchange2019-KB5121575-x64-en.msp": "cd" * 32}), GENERATED)
    assert override["servers"]["ex19-dag1"]["media"][0]["sha256_source"] == "user"


# --- AD preparation through the planner -------------------------------------------------------------


def test_ad_preparation_unknown_without_installed_levels(context: AssessmentContext,
                                                        knowledge: PatchKnowledge) -> None:
    # 2016 CU19 and CU18 predate the AD levels table: nothing can be inferred.
    servers = {name: demo_server(name) for name in ("ex16-legacy", "ex16-mitigated")}
    ad = plan_of(servers, context, knowledge)["ad_preparation"]
    assert ad["needed"] is True and ad["steps"] == ["PrepareSchema", "PrepareAD", "PrepareAllDomains"]
    assert ad["target"] == {"product": "Exchange Server 2016", "cu": "CU23"}
    assert ad["media"] == "2016-CU23-iso" and ad["license_switch"] == OFF
    assert all("AD levels not collected" in reason for reason in ad["reasons"])
    assert ad["estate_levels"]["source"] == "unknown"


def test_ad_preparation_from_collected_levels(context: AssessmentContext, knowledge: PatchKnowledge) -> None:
    servers = {name: demo_server(name) for name in ("ex16-legacy", "ex16-patched")}
    servers["ex16-legacy"]["exchange"]["ad_levels"] = {"schema": 15334, "organization": 16221, "meso": 13241}
    plan = plan_of(servers, context, knowledge)
    ad = plan["ad_preparation"]
    assert ad["needed"] is True and ad["steps"] == ["PrepareAD", "PrepareAllDomains"]
    assert ad["estate_levels"] == {"schema": 15334, "organization": 16221, "meso": 13241, "source": "collected"}
    assert any(r.startswith("organization 16223 needed by Exchange Server 2016 CU23, estate shows at most 16221")
               for r in ad["reasons"])
    assert ad["media"] == "2016-CU23-iso"


def test_ad_media_is_staged_even_when_no_server_runs_that_setup(context: AssessmentContext,
                                                                knowledge: PatchKnowledge) -> None:
    server = demo_server("ex19-dag1")  # stays on CU14: only an SU runs on it
    server["exchange"]["ad_levels"] = {"schema": 17003, "organization": 16761, "meso": 13243}
    plan = plan_of({"ex19-dag1": server}, context, knowledge)
    ad = plan["ad_preparation"]
    assert ad["needed"] is True and ad["steps"] == ["PrepareAD"] and ad["media"] == "2019-CU14-iso"
    assert "2019-CU14-iso" not in {m["id"] for m in plan["servers"]["ex19-dag1"]["media"]}
    assert "2019-CU14-iso" in {m["id"] for m in plan["media"]}


# --- scale ------------------------------------------------------------------------------------


def test_five_thousand_servers_plan_quickly(demo: tuple[dict[str, Any], dict[str, Any]],
                                            knowledge: PatchKnowledge) -> None:
    hosts, servers = demo
    names = sorted(hosts)
    assessment, facts = {}, {}
    for index in range(5000):
        source = names[index % len(names)]
        name = f"{source}-{index:04d}"
        entry = copy.deepcopy(hosts[source])
        exchange = entry["exchange"]
        if exchange.get("dag"):
            exchange["dag"] = f"DAG{index // 36:03d}"
        if exchange.get("site"):
            exchange["site"] = f"SITE{index % 25}"
        if entry.get("fqdn"):
            entry["fqdn"] = f"{name}.contoso.local"
        assessment[name], facts[name] = entry, servers[source]
    started = time.process_time()
    plan = plan_estate(assessment, facts, knowledge, PlanOptions(max_per_wave=200, max_per_site=20), GENERATED)
    elapsed = time.process_time() - started
    assert plan["summary"]["servers"] == 5000 and plan["summary"]["patch"] > 1000
    for wave in plan["waves"]:
        dags = [plan["servers"][n]["dag"] for n in wave["servers"] if plan["servers"][n]["dag"]]
        assert len(dags) == len(set(dags)) and len(wave["servers"]) <= 200
    # CPU time, so a busy test machine does not fail it; about 0.2 s on an idle one.
    assert elapsed < 1.5, elapsed
