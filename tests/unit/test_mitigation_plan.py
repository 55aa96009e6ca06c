"""mitigation_plan: which URL Rewrite rule sets each server needs, planned from real assessment entries.

The entries come from the demo estate's evidence bundles through the real assessment code
(assess_estate), so the plan is tested against what exchange_assess hands the role. The demo
estate is offline; "as_live" turns an entry into what the same server would give when collected
live, which is the only case the role changes anything.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from exchange_remediation.estate_assessment import assess_estate
from exchange_remediation.knowledge_base import KnowledgeBase, load_knowledge
from exchange_remediation.mitigation_plan import (
    ABSENT,
    APPLY,
    EDGE_REASON,
    OFFLINE_REASON,
    SKIP,
    MitigationOptions,
    eems_expectation,
    mitigation_record,
    plan_host,
    plan_lines,
    plan_mitigations,
    rewrite_mitigations,
    rule_definitions,
    summary_lines,
)

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = str(REPO / "data")
DEMO = REPO / "inventories" / "demo"
TODAY = dt.date(2026, 11, 29)
EOMT = "eomt_backend_cookie"
EOMTV2 = "eomtv2_autodiscover_powershell"
EOMT_NAMES = ["X-AnonResource-Backend Abort - inbound", "X-BEResource Abort - inbound"]
EOMTV2_NAMES = ["PowerShell - inbound"]


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge(DATA_DIR)


@pytest.fixture(scope="module")
def demo_entries() -> dict[str, dict[str, Any]]:
    hosts: dict[str, Any] = {}

    def walk(group: dict[str, Any]) -> None:
        hosts.update(group.get("hosts") or {})
        for child in (group.get("children") or {}).values():
            walk(child)

    walk(yaml.safe_load((DEMO / "hosts.yml").read_text(encoding="utf-8"))["all"])
    specs = {name: {"evidence_dir": str(DEMO / "evidence" / name), "source": "evidence"} for name in hosts}
    return assess_estate(specs, DATA_DIR, today=TODAY).hosts


def as_live(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "source": "live"}


def site_facts(*names: str, service: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of a live server.json the plan reads: the site's rule names and the EEMS state."""
    facts: dict[str, Any] = {"iis": {"url_rewrite_version": "7.2.1993", "rewrite_rules": list(names)}}
    if service is not None:
        facts["mitigation_service"] = service
    return facts


def plan(knowledge: KnowledgeBase, name: str, entry: dict[str, Any], facts: dict[str, Any] | None = None,
         **options: Any) -> dict[str, Any]:
    return plan_host(name, entry, facts, knowledge.table, knowledge.catalog, MitigationOptions(**options)).to_dict()


# --------------------------------------------------------------------------- the demo estate as it is


def test_the_demo_entries_are_what_the_plan_is_tested_against(demo_entries: dict[str, dict[str, Any]]) -> None:
    # The premises of the tests below, straight from the assessment.
    assert demo_entries["ex16-mitigated"]["cves"]["CVE-2021-26855"] == "mitigated"
    assert demo_entries["ex16-legacy"]["exchange"]["cu"] == "CU19"
    assert demo_entries["ex16-legacy"]["cves"]["CVE-2021-26855"] == "vulnerable"
    assert demo_entries["ex16-legacy"]["cves"]["CVE-2022-41040"] == "vulnerable"
    assert demo_entries["ex19-dag1"]["cves"]["CVE-2021-26855"] == "patched"
    assert demo_entries["ex19-dag1"]["cves"]["CVE-2022-41040"] == "patched"
    assert demo_entries["edge01"]["exchange"]["edge"] is True
    assert demo_entries["ex10"]["exchange"]["product"] == "Exchange Server 2010"
    assert {entry["source"] for entry in demo_entries.values()} == {"evidence"}


def test_every_offline_demo_host_is_skipped_with_the_reason(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    plans = plan_mitigations(demo_entries, sorted(demo_entries), {}, knowledge.table, knowledge.catalog,
                             MitigationOptions())
    assert set(plans) == set(demo_entries)
    for name, host_plan in plans.items():
        assert host_plan["action"] == SKIP, name
        assert host_plan["reason"].startswith(OFFLINE_REASON), name
        assert host_plan["live"] is False
    # What the offline bundle would need stays visible in the notes.
    assert any("CVE-2021-26855 vulnerable" in note for note in plans["ex16-legacy"]["notes"])
    assert EDGE_REASON in plans["edge01"]["reason"]
    assert "not assessed" in plans["ex-damaged"]["reason"]


# --------------------------------------------------------------------------- live servers


def test_vulnerable_unpatched_2016_cu19_gets_both_rule_sets(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    result = plan(knowledge, "ex16-legacy", as_live(demo_entries["ex16-legacy"]), site_facts())
    assert result["action"] == APPLY
    assert result["apply"] == [EOMT, EOMTV2]
    assert result["remove"] == [] and result["remove_rules"] == []
    assert [rule["name"] for rule in result["rules"]] == EOMT_NAMES + EOMTV2_NAMES
    assert "CVE-2021-26855 vulnerable" in result["reason"] and "CVE-2022-41040 vulnerable" in result["reason"]
    # 2016 CU19 predates the Emergency Mitigation Service (CU22).
    assert result["eems"]["expected"] is False and "CU22" in result["eems"]["reason"]


def test_rules_come_from_the_data_file(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    cves = yaml.safe_load(Path(DATA_DIR, "cves.yml").read_text(encoding="utf-8"))
    published = {m["id"]: m["rewrite_rules"] for m in cves["mitigations"] if m["kind"] == "rewrite_rules"}
    result = plan(knowledge, "ex16-legacy", as_live(demo_entries["ex16-legacy"]), site_facts())
    expected = [spec for set_id in (EOMT, EOMTV2) for spec in published[set_id]]
    assert [(r["name"], r["conditions"][0]["input"], r["conditions"][0]["pattern"], r["action_type"])
            for r in result["rules"]] == [(s["name"], s["input"], s["pattern"], s["actions"][0]) for s in expected]


def test_rule_definitions_stop_processing_on_the_last_rule_of_a_set(knowledge: KnowledgeBase) -> None:
    by_id = {m.id: m for m in rewrite_mitigations(knowledge.table)}
    eomt = rule_definitions(by_id[EOMT])
    # mitigations.md §2: rule 1 stopProcessing False, rule 2 True; §3: EOMTv2's single rule True.
    assert [rule["stop_processing"] for rule in eomt] == [False, True]
    assert [rule["stop_processing"] for rule in rule_definitions(by_id[EOMTV2])] == [True]
    for rule in eomt:
        assert rule["match_url"] == ".*"
        assert rule["enabled"] is True
        assert rule["action_type"] == "AbortRequest"
        assert rule["pattern_syntax"] == "ECMAScript"
        assert rule["conditions"][0]["negate"] is False
        assert rule["conditions"][0]["ignore_case"] is True
        assert rule["conditions"][0]["match_type"] == "Pattern"


def test_mitigated_server_keeps_its_eomt_rules_and_gets_eomtv2(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    result = plan(knowledge, "ex16-mitigated", as_live(demo_entries["ex16-mitigated"]), site_facts(*EOMT_NAMES))
    assert result["action"] == APPLY
    assert result["apply"] == [EOMT, EOMTV2]
    notes = " ".join(result["notes"])
    assert "CVE-2021-26855 mitigated: keep the rules and verify them" in notes
    assert "CVE-2022-41040 vulnerable" in notes


def test_patched_server_without_rules_needs_nothing(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    result = plan(knowledge, "ex19-dag1", as_live(demo_entries["ex19-dag1"]), site_facts())
    assert result["action"] == SKIP
    assert result["reason"].startswith("nothing to do")
    assert "CVE-2021-26855 patched, no rules present" in result["reason"]
    assert "CVE-2022-41040 patched, no rules present" in result["reason"]


def test_patched_server_loses_the_obsolete_rules(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    # mitigations.md §6: remove EOMTv2's rule once Nov22SU is in, EOMT's once Mar21SU is.
    result = plan(knowledge, "ex19-dag1", as_live(demo_entries["ex19-dag1"]), site_facts("PowerShell - inbound"))
    assert result["action"] == APPLY
    assert result["apply"] == [] and result["rules"] == []
    assert result["remove"] == [EOMTV2]
    assert result["remove_rules"] == EOMTV2_NAMES
    assert result["set_rules"] == {EOMTV2: EOMTV2_NAMES}


def test_patched_server_whose_rules_are_unknown_is_asked_to_remove_them(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    result = plan(knowledge, "ex19-dag1", as_live(demo_entries["ex19-dag1"]), None)
    assert result["action"] == APPLY
    assert result["remove"] == [EOMT, EOMTV2]
    assert "if any" in result["reason"]


def test_edge_is_skipped(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    result = plan(knowledge, "edge01", as_live(demo_entries["edge01"]), site_facts(),
                  sets=(EOMT,), enable_service=True)
    assert result["action"] == SKIP
    assert result["reason"] == EDGE_REASON
    assert result["eems"]["expected"] is False


def test_exchange_2010_needs_no_rewrite_rule(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    result = plan(knowledge, "ex10", as_live(demo_entries["ex10"]), site_facts())
    assert result["action"] == SKIP
    assert "CVE-2022-41040 not applicable to Exchange Server 2010" in result["reason"]
    # Not even when forced: the product is not affected.
    forced = plan(knowledge, "ex10", as_live(demo_entries["ex10"]), site_facts(), sets=(EOMTV2,))
    assert forced["action"] == SKIP and forced["apply"] == []


def test_host_that_could_not_be_assessed_is_skipped(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    result = plan(knowledge, "ex-damaged", as_live(demo_entries["ex-damaged"]), None)
    assert result["action"] == SKIP
    assert result["reason"].startswith("not assessed: ")
    assert "not valid JSON" in result["reason"]


def test_missing_entry_is_skipped(knowledge: KnowledgeBase) -> None:
    result = plan(knowledge, "ghost", None)  # type: ignore[arg-type]
    assert result["action"] == SKIP and result["reason"] == "no assessment entry for this host"


def test_listed_sets_are_applied_whatever_the_status(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    result = plan(knowledge, "ex19-dag1", as_live(demo_entries["ex19-dag1"]), site_facts(), sets=(EOMTV2,))
    assert result["action"] == APPLY
    assert result["apply"] == [EOMTV2]
    assert "listed in exchange_mitigation_sets" in result["reason"]


def test_absent_removes_what_is_present(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    entry = as_live(demo_entries["ex16-mitigated"])
    result = plan(knowledge, "ex16-mitigated", entry, site_facts(*EOMT_NAMES), state=ABSENT)
    assert result["action"] == APPLY
    assert result["apply"] == []
    assert result["remove"] == [EOMT]
    assert result["remove_rules"] == EOMT_NAMES
    nothing = plan(knowledge, "ex16-mitigated", entry, site_facts(), state=ABSENT)
    assert nothing["action"] == SKIP and "no rules present" in nothing["reason"]
    only = plan(knowledge, "ex16-mitigated", entry, site_facts(*EOMT_NAMES, *EOMTV2_NAMES), state=ABSENT,
                sets=(EOMTV2,))
    assert only["remove"] == [EOMTV2] and only["remove_rules"] == EOMTV2_NAMES


def test_rules_recorded_with_their_bodies_count_as_present(
    knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]
) -> None:
    bodies = [{"name": name, "conditions": []} for name in EOMTV2_NAMES]
    facts = {"iis": {"url_rewrite_version": "7.2.1993", "rewrite_rules": bodies}}
    result = plan(knowledge, "ex19-dag1", as_live(demo_entries["ex19-dag1"]), facts)
    assert result["remove"] == [EOMTV2]


@pytest.mark.parametrize(("state", "sets", "message"), [
    ("enabled", (), "exchange_mitigation_state"),
    ("present", ("eomt", ), "exchange_mitigation_sets"),
    ("absent", ("unified_messaging_disabled",), "exchange_mitigation_sets"),
])
def test_bad_options_name_the_variable(knowledge: KnowledgeBase, state: str, sets: tuple[str, ...],
                                       message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_mitigations({}, [], {}, knowledge.table, knowledge.catalog, MitigationOptions(state=state, sets=sets))


# --------------------------------------------------------------------------- Emergency Mitigation Service


@pytest.mark.parametrize(("code", "cu", "edge", "expected"), [
    ("2016", "CU21", False, False),
    ("2016", "CU22", False, True),
    ("2016", "CU23", False, True),
    ("2019", "CU10", False, False),
    ("2019", "CU11", False, True),
    ("2019", "CU15", True, False),
    ("SE", "RTM", False, True),
    ("2013", "CU23", False, False),
    ("2010", "SP3 RU32", False, False),
    (None, None, False, False),
])
def test_eems_expectation(code: str | None, cu: str | None, edge: bool, expected: bool) -> None:
    assert eems_expectation(code, cu, edge).expected is expected


def test_enable_service_only_where_it_is_off(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    entry = as_live(demo_entries["ex19-dag1"])
    off = {"organization_enabled": True, "server_enabled": False, "service_status": "Stopped",
           "service_start_mode": "Manual"}
    on = {"organization_enabled": True, "server_enabled": True, "service_status": "Running",
          "service_start_mode": "Auto"}
    needed = plan(knowledge, "ex19-dag1", entry, site_facts(service=off), enable_service=True)
    assert needed["action"] == APPLY and needed["enable_service"] is True
    assert needed["eems"]["expected"] is True
    done = plan(knowledge, "ex19-dag1", entry, site_facts(service=on), enable_service=True)
    assert done["action"] == SKIP and "already enabled and running" in done["reason"]
    not_asked = plan(knowledge, "ex19-dag1", entry, site_facts(service=off))
    assert not_asked["action"] == SKIP and not_asked["enable_service"] is False
    # 2016 CU19 has no service to turn on.
    legacy = plan(knowledge, "ex16-legacy", as_live(demo_entries["ex16-legacy"]), site_facts(service=off),
                  enable_service=True)
    assert legacy["enable_service"] is False


# --------------------------------------------------------------------------- records and summaries


def test_record_of_a_skipped_host(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    host_plan = plan(knowledge, "ex16-legacy", demo_entries["ex16-legacy"])
    record = mitigation_record(host_plan, {"check_mode": False})
    assert record["action"] == "skipped"
    assert record["reason"] == OFFLINE_REASON
    assert record["applied"] == [] and record["removed"] == [] and record["error"] is None
    assert record["planned"]["apply"] == [EOMT, EOMTV2]
    assert record["changed"] is False
    json.dumps(record)  # the record is written as JSON


def test_record_of_a_change_read_back_in_place(knowledge: KnowledgeBase,
                                               demo_entries: dict[str, dict[str, Any]]) -> None:
    host_plan = plan(knowledge, "ex16-legacy", as_live(demo_entries["ex16-legacy"]), site_facts())
    script = {"added": EOMT_NAMES + EOMTV2_NAMES, "replaced": [], "unchanged": [], "removed": [], "not_present": [],
              "changed": True, "rewrite_rules": host_plan["rules"]}
    readback = {"ok": True, "problems": [], "mitigations": []}
    record = mitigation_record(host_plan, {"check_mode": False, "script": script, "readback": readback,
                                           "url_rewrite": {"installed": True, "version": "7.2.1993"}})
    assert record["action"] == "changed"
    assert record["applied"] == [EOMT, EOMTV2]
    assert record["url_rewrite_version"] == "7.2.1993"
    assert record["rewrite_rules"] == host_plan["rules"]
    assert "read back and verified in place" in record["reason"]
    assert record["changed"] is True


def test_record_of_a_removal(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    host_plan = plan(knowledge, "ex19-dag1", as_live(demo_entries["ex19-dag1"]), site_facts(*EOMTV2_NAMES))
    script = {"added": [], "replaced": [], "unchanged": [], "removed": EOMTV2_NAMES, "not_present": [],
              "changed": True, "rewrite_rules": []}
    record = mitigation_record(host_plan, {"check_mode": False, "script": script,
                                           "readback": {"ok": True, "problems": [], "mitigations": []}})
    assert record["removed"] == [EOMTV2]
    assert record["applied"] == []
    assert record["reason"].startswith("removed PowerShell - inbound")


def test_record_in_check_mode_says_what_would_change(knowledge: KnowledgeBase,
                                                     demo_entries: dict[str, dict[str, Any]]) -> None:
    host_plan = plan(knowledge, "ex16-legacy", as_live(demo_entries["ex16-legacy"]), site_facts())
    script = {"added": EOMT_NAMES, "replaced": [], "unchanged": [], "removed": [], "not_present": [],
              "changed": True, "rewrite_rules": []}
    record = mitigation_record(host_plan, {"check_mode": True, "script": script})
    assert record["action"] == "check"
    assert record["reason"] == f"check mode: would add {', '.join(EOMT_NAMES)}"
    assert record["applied"] == []
    unchanged = mitigation_record(host_plan, {"check_mode": True, "script": {**script, "added": [], "changed": False}})
    assert unchanged["reason"] == "check mode: nothing would change"


def test_record_of_a_failure(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    host_plan = plan(knowledge, "ex16-legacy", as_live(demo_entries["ex16-legacy"]), site_facts())
    record = mitigation_record(host_plan, {"check_mode": False, "error": "URL Rewrite missing"})
    assert record["action"] == "failed"
    assert record["error"] == record["reason"] == "URL Rewrite missing"
    assert record["applied"] == []


def test_plan_and_summary_lines(knowledge: KnowledgeBase, demo_entries: dict[str, dict[str, Any]]) -> None:
    plans = plan_mitigations(demo_entries, sorted(demo_entries), {}, knowledge.table, knowledge.catalog,
                             MitigationOptions())
    lines = plan_lines(plans)
    assert len(lines) == len(plans)
    assert all(OFFLINE_REASON in line for line in lines)
    records = {name: mitigation_record(host_plan, {"check_mode": False}) for name, host_plan in plans.items()}
    records["ghost"] = None  # type: ignore[assignment]
    summary = summary_lines(records)
    assert any(line.startswith("ex16-legacy") and "skipped" in line for line in summary)
    assert any("if live: eomt_backend_cookie: CVE-2021-26855 vulnerable" in line for line in summary)
    assert any(line.startswith("ghost") and "no record" in line for line in summary)


# --------------------------------------------------------------------------- the Ansible filters


def _filters():
    path = REPO / "filter_plugins" / "exchange_mitigation.py"
    spec = importlib.util.spec_from_file_location("exchange_mitigation_filters", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


def test_plan_filter_reads_the_assessment_file_and_the_live_facts(
    tmp_path: Path, demo_entries: dict[str, dict[str, Any]]
) -> None:
    entries = {name: as_live(entry) if name == "ex19-dag1" else entry for name, entry in demo_entries.items()}
    assessment = tmp_path / "assessment.json"
    assessment.write_text(json.dumps({"hosts": entries}), encoding="utf-8")
    hostvars = {name: {} for name in entries}
    hostvars["ex19-dag1"] = {"exchange_facts_server": site_facts(*EOMTV2_NAMES)}
    plans = _filters()["exchange_mitigation_plan"](hostvars, sorted(entries), str(assessment), DATA_DIR)
    assert plans["ex19-dag1"]["action"] == APPLY and plans["ex19-dag1"]["remove"] == [EOMTV2]
    assert plans["ex16-legacy"]["action"] == SKIP
    assert _filters()["exchange_mitigation_set_ids"](DATA_DIR) == [EOMT, EOMTV2]


def test_plan_filter_refuses_bad_input(tmp_path: Path) -> None:
    from ansible.errors import AnsibleFilterError

    plan_filter = _filters()["exchange_mitigation_plan"]
    with pytest.raises(AnsibleFilterError, match="cannot read the assessment"):
        plan_filter({}, [], str(tmp_path / "missing.json"), DATA_DIR)
    assessment = tmp_path / "assessment.json"
    assessment.write_text(json.dumps({"hosts": {}}), encoding="utf-8")
    with pytest.raises(AnsibleFilterError, match="exchange_mitigation_sets"):
        plan_filter({}, [], str(assessment), DATA_DIR, "present", ["nope"])
