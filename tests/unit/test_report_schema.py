"""docs/report.schema.json: accepts the sample report, rejects what breaks the contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_samples import (
    demo_before,
    demo_plan,
    hostile_remediation_report,
    refused_outcomes,
    remediation_report,
    sample_report,
    without_hunt,
)

from exchange_remediation.compromise_verdict import judge
from exchange_remediation.estate_report import build_report
from exchange_remediation.remediation_summary import UnreadableOutcome, summarise_remediation

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_schema_declares_draft_07() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["schema", "generated_at", "hosts"]


def test_sample_report_is_valid(validator: jsonschema.Draft7Validator) -> None:
    errors = [error.message for error in validator.iter_errors(sample_report())]
    assert errors == []


def test_minimal_contract_report_is_valid(validator: jsonschema.Draft7Validator) -> None:
    # Exactly the DESIGN.md example keys, no extension: older writers stay valid.
    report = {
        "schema": 1,
        "generated_at": "2021-03-08T10:00:00Z",
        "hosts": {"ex01": {
            "status": "ok",
            "exchange": {"product": "Exchange Server 2016", "cu": "CU19", "su": "Mar21SU",
                         "build": "15.1.2176.9", "supported": False, "latest": False},
            "cves": {"CVE-2021-26855": "patched"},
            "indicators": [],
            "verdict": {"vulnerable": False, "compromised": "no"},
        }},
    }
    assert validator.is_valid(report)


def test_hunt_shapes_of_the_assessment_are_valid(validator: jsonschema.Draft7Validator) -> None:
    # What compromise_verdict.judge writes for a host whose hunt did not run, and for one that ran.
    exposure = sample_report()["hosts"]["ex16"]["hunt"]["exposure"]
    finding = {key: value for key, value in sample_report()["hosts"]["ex16"]["indicators"][0].items()
               if key != "attempt"}
    sources = sample_report()["hosts"]["ex16"]["hunt"]["sources"]
    for hunt in (None, {"status": "not_run", "error": "no evidence to hunt: no bundle"},
                 {"status": "done", "rules": 41, "findings": [finding], "sources": sources, "excluded": {"X-Y": 2},
                  "warnings": ["ECP: 1 file(s) could not be read"], "findings_total": 1}):
        verdict, indicators, block = judge(hunt, exposure, 90.0, True, "2021-03-08T10:00:00Z")
        report = sample_report()
        report["hosts"]["ex16"].update(indicators=indicators, hunt=block)
        report["hosts"]["ex16"]["verdict"]["compromised"] = verdict
        assert [e.message for e in validator.iter_errors(report)] == []
    # The shape the assessment writes before the hunt replaces it (server_assessment).
    report = sample_report()
    report["hosts"]["ex19"]["hunt"] = {"status": "not_run", "exposure": exposure}
    report["hosts"]["ex19"]["verdict"]["compromised"] = "unknown"
    assert validator.is_valid(report)


def test_hosts_without_a_hunt_are_valid(validator: jsonschema.Draft7Validator) -> None:
    assert validator.is_valid(without_hunt(sample_report()))
    report = sample_report()
    del report["hosts"]["ex19"]["hunt"]  # an older writer: "no" without a hunt block stays valid
    assert validator.is_valid(report)


def test_unknown_extension_keys_are_allowed(validator: jsonschema.Draft7Validator) -> None:
    report = sample_report()
    report["future_key"] = {"anything": [1, 2]}
    report["hosts"]["ex16"]["mitigations"] = [{"cve": "CVE-2021-26857", "verified": True}]
    report["hosts"]["ex16"]["exchange"]["su_known"] = True
    report["hosts"]["ex16"]["indicators"][0]["fields"] = {"ClientIpAddress": "203.0.113.45"}
    report["hosts"]["ex16"]["hunt"]["sources"]["HttpProxy"]["unreadable"] = 0
    report["hosts"]["ex16"]["hunt"]["future"] = True
    assert validator.is_valid(report)


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(report: dict[str, Any]) -> None:
        target = report
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(report: dict[str, Any]) -> None:
        target = report
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


BAD_REPORTS = {
    "schema version 2": _set(("schema",), 2),
    "no hosts": _delete(("hosts",)),
    "bad status": _set(("hosts", "ex19", "status"), "fine"),
    "bad cve value": _set(("hosts", "ex19", "cves", "CVE-2021-26855"), "fixed"),
    "bad cve id": _set(("hosts", "ex19", "cves", "26855"), "patched"),
    "bad cve_details status": _set(("hosts", "ex16", "cve_details", "CVE-2021-26855", "status"), "open"),
    "error host without reason": _delete(("hosts", "ex13-broken", "error")),
    "error host with null reason": _set(("hosts", "ex13-broken", "error"), None),
    "error host reported clean": _set(("hosts", "ex13-broken", "verdict", "compromised"), "no"),
    "verdict vulnerable as text": _set(("hosts", "ex16", "verdict", "vulnerable"), "yes"),
    "verdict compromised bad": _set(("hosts", "ex16", "verdict", "compromised"), "maybe"),
    "missing verdict": _delete(("hosts", "ex19", "verdict")),
    "bad severity": _set(("hosts", "ex16", "indicators", 0, "severity"), "info"),
    "indicator without line key": _delete(("hosts", "ex16", "indicators", 0, "line")),
    "indicator line as text": _set(("hosts", "ex16", "indicators", 0, "line"), "7"),
    "zero-padded build": _set(("hosts", "ex16", "exchange", "build"), "15.01.2176.002"),
    "supported as text": _set(("hosts", "ex16", "exchange", "supported"), "no"),
    "bad support_end": _set(("hosts", "ex16", "exchange", "support_end"), "14/10/2025"),
    "bad next_step action": _set(("hosts", "ex16", "next_step", "action"), "reboot"),
    "warning without code": _delete(("hosts", "ex16", "warnings", 0, "code")),
    "bad source": _set(("hosts", "ex16", "source"), "winrm"),
    "negative summary count": _set(("summary", "hosts"), -1),
    "check_mode as text": _set(("run", "check_mode"), "yes"),
    "attempt as text": _set(("hosts", "ex16-patched", "indicators", 0, "attempt"), "yes"),
    "bad cve in cves": _set(("hosts", "ex16", "indicators", 0, "cves"), ["26855"]),
    "evidence not text": _set(("hosts", "ex16", "indicators", 0, "evidence"), ["line"]),
    "title not text": _set(("hosts", "ex16", "indicators", 0, "title"), None),
    "bad hunt status": _set(("hosts", "ex16", "hunt", "status"), "finished"),
    "hunt without status": _delete(("hosts", "ex16", "hunt", "status")),
    "hunt not run but clean": _set(("hosts", "ex19", "hunt", "status"), "not_run"),
    "hunt failed but clean": _set(("hosts", "ex19", "hunt", "status"), "error"),
    "coverage over 100": _set(("hosts", "ex16", "hunt", "coverage_percent"), 126.7),
    "coverage as text": _set(("hosts", "ex16", "hunt", "coverage_percent"), "26.7%"),
    "min coverage null": _set(("hosts", "ex16", "hunt", "min_coverage_percent"), None),
    "source without present": _delete(("hosts", "ex16", "hunt", "sources", "HttpProxy", "present")),
    "source lines negative": _set(("hosts", "ex16", "hunt", "sources", "HttpProxy", "lines"), -1),
    "source capped as text": _set(("hosts", "ex16", "hunt", "sources", "HttpProxy", "capped"), "no"),
    "source warning not text": _set(("hosts", "ex16", "hunt", "sources", "HttpProxy", "warnings"), [{"x": 1}]),
    "window without attack": _delete(("hosts", "ex16", "hunt", "exposure", 0, "attack")),
    "window bad start": _set(("hosts", "ex16", "hunt", "exposure", 0, "start"), "06/01/2021"),
    "window exposed as text": _set(("hosts", "ex16", "hunt", "exposure", 0, "exposed"), "yes"),
    "reasons not a list": _set(("hosts", "ex16-patched", "hunt", "reasons"), "capped"),
    "excluded count as text": _set(("hosts", "ex16", "hunt", "excluded", "PL-26855-HTTPPROXY"), "3"),
    "findings_total negative": _set(("hosts", "ex16", "hunt", "findings_total"), -5),
    "summary compromised_no negative": _set(("summary", "compromised_no"), -1),
    "summary indicators_critical as text": _set(("summary", "indicators_critical"), "3"),
}


@pytest.mark.parametrize("mutate", BAD_REPORTS.values(), ids=list(BAD_REPORTS))
def test_schema_rejects(validator: jsonschema.Draft7Validator,
                        mutate: Callable[[dict[str, Any]], None]) -> None:
    report = sample_report()
    assert validator.is_valid(report)
    mutate(report)
    assert not validator.is_valid(report)


# --- the remediation (a report written with a plan) -----------------------------------------


def test_remediation_reports_are_valid(validator: jsonschema.Draft7Validator) -> None:
    hosts = demo_before()
    plan_only = build_report(hosts, "2026-11-29T10:00:00Z", {}, summarise_remediation(hosts, demo_plan()))
    unreadable = remediation_report({"edge01": UnreadableOutcome("edge01.json: Expecting value")})
    for report in (remediation_report(), remediation_report(refused_outcomes()), hostile_remediation_report(),
                   remediation_report(before=False), plan_only, unreadable):
        assert [error.message for error in validator.iter_errors(report)] == []
    no_ad = demo_plan()
    del no_ad["ad_preparation"], no_ad["summary"]
    report = build_report(hosts, "2026-11-29T10:00:00Z", {}, summarise_remediation(hosts, no_ad))
    assert validator.is_valid(report)


BAD_REMEDIATIONS = {
    "bad state": _set(("hosts", "ex16-legacy", "remediation", "state"), "done"),
    "state missing": _delete(("hosts", "ex16-legacy", "remediation", "state")),
    "before missing": _delete(("hosts", "ex16-legacy", "remediation", "before")),
    "before without build": _delete(("hosts", "ex16-legacy", "remediation", "before", "build")),
    "zero-padded after": _set(("hosts", "ex16-legacy", "remediation", "after", "build"), "15.01.2507.072"),
    "after as text": _set(("hosts", "ex16-legacy", "remediation", "after"), "15.1.2507.72"),
    "wave zero": _set(("hosts", "ex16-legacy", "remediation", "wave"), 0),
    "wave as text": _set(("hosts", "ex16-legacy", "remediation", "wave"), "2"),
    "target without build": _delete(("hosts", "ex16-legacy", "remediation", "target", "build")),
    "maintenance_exited as text": _set(("hosts", "ex16-mitigated", "remediation", "maintenance_exited"), "yes"),
    "setup_log not text": _set(("hosts", "ex16-mitigated", "remediation", "setup_log"), ["C:\\x.log"]),
    "steps not text": _set(("hosts", "ex16-legacy", "remediation", "steps"), [{"kind": "cu"}]),
    "reason missing": _delete(("hosts", "ex16-legacy", "remediation", "reason")),
    "waves of hosts not lists": _set(("remediation", "waves"), ["ex19-dag1"]),
    "empty host in a wave": _set(("remediation", "waves"), [[""]]),
    "summary count negative": _set(("remediation", "summary", "patched"), -1),
    "summary without failed": _delete(("remediation", "summary", "failed")),
    "window as text": _set(("remediation", "summary", "modelled_window_minutes"), "650"),
    "rollout_stopped as text": _set(("remediation", "rollout_stopped"), "yes"),
    "stopped without a server": _set(("remediation", "stopped_by"), None),
    "not stopped but a server": _set(("remediation", "rollout_stopped"), False),
    "ad needed as text": _set(("remediation", "ad_preparation", "needed"), "yes"),
    "ad_preparation as list": _set(("remediation", "ad_preparation"), ["PrepareSchema"]),
    "no waves": _delete(("remediation", "waves")),
}


@pytest.mark.parametrize("mutate", BAD_REMEDIATIONS.values(), ids=list(BAD_REMEDIATIONS))
def test_schema_rejects_remediations(validator: jsonschema.Draft7Validator,
                                     mutate: Callable[[dict[str, Any]], None]) -> None:
    report = remediation_report()
    assert validator.is_valid(report)
    mutate(report)
    assert not validator.is_valid(report)


# --- the nightly run: policy, patch_window, drift, hunt.retention, indicator.observables ----------


def test_a_nightly_report_is_valid(validator: jsonschema.Draft7Validator) -> None:
    from nightly_samples import nightly_report

    report = nightly_report()
    assert {"policy", "patch_window", "drift"} <= set(report)
    assert any("retention" in host["hunt"] for host in report["hosts"].values())
    assert any("observables" in i for host in report["hosts"].values() for i in host["indicators"])
    assert [e.message for e in validator.iter_errors(report)] == []


def test_drift_without_a_previous_report_is_valid(validator: jsonschema.Draft7Validator) -> None:
    from nightly_samples import demo_report

    from exchange_remediation.report_drift import compare_reports

    report = demo_report()
    report["drift"] = compare_reports(report, None)
    report["patch_window"] = {"applied": True, "opens_at": "2026-11-28T00:00:00Z", "closes_at": "2026-11-28T04:00:00Z"}
    assert [e.message for e in validator.iter_errors(report)] == []


BAD_NIGHTLY: dict[str, Callable[[dict[str, Any]], None]] = {
    "policy without failed": _delete(("policy", "failed")),
    "policy failed as text": _set(("policy", "failed"), "yes"),
    "unknown condition in fail_when": _set(("policy", "fail_when"), ["compromized"]),
    "fail_when twice": _set(("policy", "fail_when"), ["unknown", "unknown"]),
    "condition not evaluated but triggered": _set(("policy", "conditions", 3, "triggered"), True),
    "condition hosts as text": _set(("policy", "conditions", 0, "hosts"), "ex16-legacy"),
    "condition without summary": _delete(("policy", "conditions", 0, "summary")),
    "patch window applied as text": _set(("patch_window", "applied"), "true"),
    "patch window without applied": _delete(("patch_window", "applied")),
    "drift without summary": _delete(("drift", "summary")),
    "drift previous as text": _set(("drift", "previous"), "/srv/report.json"),
    "unknown change kind": _set(("drift", "changes", 0, "kind"), "moved"),
    "change without host": _delete(("drift", "changes", 0, "host")),
    "new indicator line zero": _set(("drift", "new_indicators", 0, "line"), 0),
    "new indicator total negative": _set(("drift", "new_indicators_total"), -1),
    "retention days as text": _set(("hosts", "ex19-dag3", "hunt", "retention", "days"), "27.1"),
    "retention without short": _delete(("hosts", "ex19-dag3", "hunt", "retention", "short")),
    "retention sources as text": _set(("hosts", "ex19-dag3", "hunt", "retention", "sources"), "IIS"),
    "observable sha256 not hex": _set(("hosts", "ex16-patched", "indicators", 0, "observables", "sha256"), "x" * 64),
    "observable ip empty": _set(("hosts", "ex16-patched", "indicators", 0, "observables", "ip"), ""),
}


@pytest.mark.parametrize("mutate", BAD_NIGHTLY.values(), ids=list(BAD_NIGHTLY))
def test_schema_rejects_broken_nightly_keys(validator: jsonschema.Draft7Validator,
                                             mutate: Callable[[dict[str, Any]], None]) -> None:
    from nightly_samples import nightly_report

    report = nightly_report()
    assert validator.is_valid(report)
    mutate(report)
    assert not validator.is_valid(report)
