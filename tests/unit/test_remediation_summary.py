"""remediation_summary: each server's remediation and the estate's, from a remediation run of the
demo estate (report_samples: plan.json, outcomes, the assessments before and after)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from report_samples import (
    CU_FAILURE,
    DAMAGED_ERROR,
    REFUSAL,
    SETUP_LOG,
    STOPPED_AFTER_MITIGATED,
    assessment_after,
    demo_after,
    demo_before,
    demo_outcomes,
    demo_plan,
    refused_outcomes,
)

from exchange_remediation.remediation_summary import (
    STATES,
    PlanError,
    UnreadableOutcome,
    check_plan,
    outcome_problem,
    step_text,
    summarise_remediation,
)


def _run(outcomes: dict[str, Any] | None = None, before: bool = True, current: dict[str, Any] | None = None,
         plan: dict[str, Any] | None = None):
    outcomes = demo_outcomes() if outcomes is None else outcomes
    return summarise_remediation(assessment_after(outcomes) if current is None else current,
                                 demo_plan() if plan is None else plan, demo_before() if before else None, outcomes)


def test_patched_servers_show_their_build_before_and_after() -> None:
    hosts = _run().hosts
    assert hosts["ex16-legacy"] == {
        "state": "patched", "reason": None, "wave": 2,
        "before": {"build": "15.1.2176.2", "cu": "CU19", "su": None},
        "after": {"build": "15.1.2507.72", "cu": "CU23", "su": "Aug26SU"},
        "target": {"cu": "CU23", "su": "Aug26SU", "build": "15.1.2507.72"},
        "failed_step": None, "setup_log": None, "maintenance_exited": True,
        "steps": ["prerequisite IIS URL Rewrite Module 2.1", "CU23 (15.1.2507.6, KB5011155)",
                  "Aug26SU (15.1.2507.72, KB5121576)"],
    }
    dag1 = hosts["ex19-dag1"]
    assert (dag1["state"], dag1["wave"]) == ("patched", 1)
    assert dag1["before"] == {"build": "15.2.1544.14", "cu": "CU14", "su": "Nov24SUv2"}
    assert dag1["after"] == {"build": "15.2.1544.44", "cu": "CU14", "su": "Aug26SU"}
    assert dag1["steps"] == ["Aug26SU (15.2.1544.44, KB5121575)"]


def test_a_failed_cu_keeps_its_reason_step_and_setup_log() -> None:
    failed = _run().hosts["ex16-mitigated"]
    assert failed["state"] == "failed"
    assert failed["reason"] == CU_FAILURE
    assert (failed["failed_step"], failed["setup_log"], failed["maintenance_exited"]) == ("cu", SETUP_LOG, True)
    assert failed["after"] is None  # only a patched server has an "after"
    assert failed["before"] == {"build": "15.1.2106.2", "cu": "CU18", "su": None}
    assert failed["target"] == {"cu": "CU23", "su": "Aug26SU", "build": "15.1.2507.72"}


def test_a_failure_stops_the_rollout_and_later_waves_are_skipped() -> None:
    report = _run()
    assert report.hosts["edge01"]["state"] == "skipped"
    assert report.hosts["edge01"]["reason"] == STOPPED_AFTER_MITIGATED
    assert report.estate["rollout_stopped"] is True
    assert report.estate["stopped_by"] == "ex16-mitigated"
    assert report.estate["summary"] == {
        "patched": 2, "failed": 1, "refused": 0, "skipped": 1, "up_to_date": 2, "planned": 0, "blocked": 2,
        "not_planned": 0, "modelled_window_minutes": 650, "serial_window_minutes": 650,
    }


def test_a_refused_server_stops_the_rollout_untouched() -> None:
    report = _run(refused_outcomes())
    refused = report.hosts["ex16-legacy"]
    assert (refused["state"], refused["reason"], refused["failed_step"]) == ("refused", REFUSAL, "precheck")
    assert refused["after"] is None and refused["maintenance_exited"] is None
    assert [report.hosts[name]["state"] for name in ("ex16-mitigated", "edge01")] == ["skipped", "skipped"]
    assert (report.estate["rollout_stopped"], report.estate["stopped_by"]) == (True, "ex16-legacy")
    counts = report.estate["summary"]
    assert (counts["patched"], counts["refused"], counts["skipped"], counts["failed"]) == (1, 1, 2, 0)


def test_the_first_failure_in_wave_order_stopped_the_rollout() -> None:
    outcomes = demo_outcomes()
    # ex19-dag1 (wave 1) refused and ex16-mitigated (wave 3) failed: wave 1 came first.
    outcomes["ex19-dag1"].update(state="refused", reason=REFUSAL, build_after=None, maintenance_exited=None)
    outcomes["ex16-legacy"].update(state="skipped", reason="rollout stopped after ex19-dag1 failed")
    assert _run(outcomes).estate["stopped_by"] == "ex19-dag1"


def test_a_failure_in_the_last_wave_stops_nothing() -> None:
    outcomes = demo_outcomes()
    outcomes["ex16-mitigated"] = copy.deepcopy(outcomes["ex19-dag1"]) | {"host": "ex16-mitigated", "wave": 3}
    outcomes["ex16-mitigated"].update(build_before="15.1.2106.2", build_after="15.1.2507.72")
    outcomes["edge01"].update(state="failed", reason="Aug26SU: msiexec exited with 1603", failed_step="su",
                              setup_log="C:\\Windows\\Temp\\Aug26SU.msp.log", maintenance_exited=True)
    report = _run(outcomes, current=demo_after())
    assert report.hosts["edge01"]["state"] == "failed"
    assert (report.estate["rollout_stopped"], report.estate["stopped_by"]) == (False, None)


def test_a_plan_without_outcomes_shows_what_would_happen() -> None:
    before = demo_before()
    report = summarise_remediation(before, demo_plan(), None, {})
    hosts = report.hosts
    assert {name: entry["state"] for name, entry in hosts.items()} == {
        "edge01": "planned", "ex-damaged": "blocked", "ex10": "blocked", "ex16-legacy": "planned",
        "ex16-mitigated": "planned", "ex16-patched": "up_to_date", "ex19-dag1": "planned", "ex19-dag2": "up_to_date"}
    assert hosts["ex19-dag1"]["wave"] == 1 and hosts["ex19-dag1"]["after"] is None
    assert hosts["ex16-legacy"]["before"] == {"build": "15.1.2176.2", "cu": "CU19", "su": None}
    assert hosts["ex16-legacy"]["maintenance_exited"] is None and hosts["ex16-legacy"]["setup_log"] is None
    assert hosts["ex-damaged"]["reason"] == f"no facts: {DAMAGED_ERROR}"
    assert hosts["ex-damaged"]["before"] == {"build": None, "cu": None, "su": None}
    assert hosts["ex10"]["target"] is None and hosts["ex10"]["wave"] is None
    assert hosts["ex16-patched"]["reason"] is None
    assert report.estate["summary"]["planned"] == 4
    assert (report.estate["rollout_stopped"], report.estate["stopped_by"]) == (False, None)


def test_a_host_missing_from_the_plan_is_not_planned() -> None:
    current = demo_before()
    current["exse01"] = copy.deepcopy(current["ex16-patched"])
    current["exse01"]["exchange"].update(product="Exchange Server SE", cu="RTM", build="15.2.2562.46")
    entry = summarise_remediation(current, demo_plan()).hosts["exse01"]
    assert (entry["state"], entry["reason"], entry["target"], entry["steps"]) == (
        "not_planned", "not in the plan", None, [])
    assert entry["before"] == {"build": "15.2.2562.46", "cu": "RTM", "su": "Aug26SU"}


def test_before_comes_from_the_before_file_then_the_plan_then_the_report() -> None:
    # Without a before file the report's assessment is the one taken after patching: the plan's
    # record of the server is what it ran before.
    without = _run(before=False).hosts["ex16-legacy"]
    assert without["before"] == {"build": "15.1.2176.2", "cu": "CU19", "su": None}
    plan = demo_plan()
    del plan["servers"]["ex16-legacy"]["current"]
    # Neither a before file nor the plan: the report's own assessment is all there is.
    assert _run(before=False, plan=plan).hosts["ex16-legacy"]["before"]["build"] == "15.1.2507.72"
    # The before file wins over the plan's record.
    before = demo_before()
    before["ex16-legacy"]["exchange"].update(build="15.01.2176.002")
    outcomes = demo_outcomes()
    entry = summarise_remediation(assessment_after(outcomes), demo_plan(), before, outcomes).hosts["ex16-legacy"]
    assert entry["before"]["build"] == "15.1.2176.2"  # normalised
    # A before file without the host (or with an error entry) falls back to the plan.
    before = {name: entry for name, entry in demo_before().items() if name != "ex19-dag1"}
    entry = summarise_remediation(assessment_after(outcomes), demo_plan(), before, outcomes).hosts["ex19-dag1"]
    assert entry["before"] == {"build": "15.2.1544.14", "cu": "CU14", "su": "Nov24SUv2"}


def test_after_falls_back_to_the_build_the_apply_play_read() -> None:
    outcomes = demo_outcomes()
    outcomes["ex19-dag1"]["build_after"] = "15.02.1544.044"
    current = assessment_after(outcomes)
    current["ex19-dag1"] = {"status": "error", "error": "WinRM: connection refused", "exchange": {}}
    entry = summarise_remediation(current, demo_plan(), demo_before(), outcomes).hosts["ex19-dag1"]
    assert entry["after"] == {"build": "15.2.1544.44", "cu": None, "su": None}


@pytest.mark.parametrize(("outcome", "problem"), [
    (UnreadableOutcome("edge01.json: Expecting value: line 1 column 1 (char 0)"),
     "edge01.json: Expecting value: line 1 column 1 (char 0)"),
    (["not", "an", "object"], "not a JSON object"),
    ({"host": "edge01", "state": "done"}, "state 'done' is not one of patched, failed, refused, skipped, up_to_date"),
    ({"host": "ex19-dag2", "state": "patched"}, "it is the outcome of 'ex19-dag2', not of 'edge01'"),
    ({"host": "edge01", "state": "patched", "maintenance_exited": "yes"},
     "maintenance_exited is str, expected bool or null"),
    ({"host": "edge01", "state": "failed", "setup_log": ["C:\\x.log"]}, "setup_log is list, expected str or null"),
    ({"host": "edge01", "state": "patched", "wave": "4"}, "wave '4' is not a wave number"),
])
def test_an_unusable_outcome_is_shown_as_skipped_with_the_reason(outcome: object, problem: str) -> None:
    assert outcome_problem("edge01", outcome) == problem
    outcomes = demo_outcomes()
    outcomes["edge01"] = outcome
    report = _run(outcomes)
    entry = report.hosts["edge01"]
    assert (entry["state"], entry["reason"]) == ("skipped", f"outcome file unreadable: {problem}")
    assert entry["after"] is None and entry["wave"] == 4  # the plan's wave
    # A skipped server whose outcome could not be read is no evidence that the rollout stopped.
    assert (report.estate["rollout_stopped"], report.estate["stopped_by"]) == (False, None)


def test_a_usable_outcome_passes() -> None:
    for name, outcome in demo_outcomes().items():
        assert outcome_problem(name, outcome) is None
    assert outcome_problem("ex19-dag1", {"state": "up_to_date"}) is None  # host and the rest are optional


def test_outcomes_of_hosts_outside_the_report_are_not_counted() -> None:
    outcomes = demo_outcomes()
    outcomes["ex19-dag9"] = {"host": "ex19-dag9", "state": "patched", "wave": 1}
    report = _run(outcomes)
    assert "ex19-dag9" not in report.hosts
    assert report.estate["summary"]["patched"] == 2


def test_the_estate_shows_waves_ad_preparation_and_windows() -> None:
    plan = demo_plan()
    plan["waves"].reverse()  # written in any order, shown in wave order
    report = _run(plan=plan)
    estate = report.estate
    assert estate["waves"] == [["ex19-dag1"], ["ex16-legacy"], ["ex16-mitigated"], ["edge01"]]
    assert estate["wave_minutes"] == [90, 250, 250, 60]
    assert estate["ad_preparation"] == demo_plan()["ad_preparation"]
    assert estate["plan_generated_at"] == "2026-11-29T10:00:00Z"
    # The report holds a copy: later changes to the plan do not leak into it.
    plan["ad_preparation"]["steps"].append("PrepareDomain")
    assert estate["ad_preparation"]["steps"] == ["PrepareSchema", "PrepareAD", "PrepareAllDomains"]
    assert set(estate["summary"]) == {*STATES, "modelled_window_minutes", "serial_window_minutes"}
    json.dumps(estate)
    json.dumps(report.hosts)


def test_a_plan_without_ad_preparation_or_summary() -> None:
    plan = demo_plan()
    del plan["ad_preparation"], plan["summary"]
    estate = _run(plan=plan).estate
    assert estate["ad_preparation"] is None
    assert (estate["summary"]["modelled_window_minutes"], estate["summary"]["serial_window_minutes"]) == (None, None)


def _broken(path: tuple[Any, ...], value: Any = None, delete: bool = False):
    def mutate(plan: dict[str, Any]) -> None:
        target = plan
        for key in path[:-1]:
            target = target[key]
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return mutate


BAD_PLANS = {
    "schema 2": (_broken(("schema",), 2), "plan schema 2 is not supported"),
    "no servers": (_broken(("servers",), delete=True), "servers is missing"),
    "server state": (_broken(("servers", "ex10", "state"), "skip"), "servers.ex10.state 'skip' is not one of"),
    "server not an object": (_broken(("servers", "ex10"), "blocked"), "servers.ex10 is not an object"),
    "target not an object": (_broken(("servers", "edge01", "target"), "CU15"), "servers.edge01.target"),
    "steps not a list": (_broken(("servers", "edge01", "steps"), "su"), "servers.edge01.steps"),
    "reasons not strings": (_broken(("servers", "ex10", "reasons"), [1]), "servers.ex10.reasons"),
    "wave zero": (_broken(("servers", "edge01", "wave"), 0), "servers.edge01.wave 0"),
    "no waves": (_broken(("waves",), delete=True), "waves is missing"),
    "wave without number": (_broken(("waves", 0, "number"), "1"), r"waves\[0\] has no wave number"),
    "wave servers": (_broken(("waves", 1, "servers"), "ex16-legacy"), r"waves\[1\].servers"),
    "ad needed as text": (_broken(("ad_preparation", "needed"), "yes"), "ad_preparation.needed"),
    "ad steps": (_broken(("ad_preparation", "steps"), "PrepareSchema"), "ad_preparation.steps"),
    "ad not an object": (_broken(("ad_preparation",), ["PrepareSchema"]), "ad_preparation is not an object"),
    "summary not an object": (_broken(("summary",), 3), "summary is not an object"),
}


@pytest.mark.parametrize(("mutate", "message"), BAD_PLANS.values(), ids=list(BAD_PLANS))
def test_check_plan_names_what_is_wrong(mutate: Any, message: str) -> None:
    plan = demo_plan()
    assert check_plan(plan) is plan
    mutate(plan)
    with pytest.raises(PlanError, match=message):
        summarise_remediation(demo_before(), plan)


def test_check_plan_rejects_what_is_not_a_plan() -> None:
    with pytest.raises(PlanError, match="not a JSON object"):
        check_plan([demo_plan()])


def test_step_text() -> None:
    assert step_text({"kind": "cu", "name": "CU23", "build": "15.1.2507.6", "kb": "KB5011155"}) == \
        "CU23 (15.1.2507.6, KB5011155)"
    assert step_text({"kind": "prerequisite", "id": "dotnet48", "name": ".NET Framework 4.8"}) == \
        "prerequisite .NET Framework 4.8"
    assert step_text({"kind": "prerequisite", "id": "vcredist2013"}) == "prerequisite vcredist2013"
    assert step_text({"kind": "se_upgrade", "name": "RTM", "build": "15.2.2562.17"}) == \
        "se upgrade RTM (15.2.2562.17)"
    assert step_text("CU23") is None
