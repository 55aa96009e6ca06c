"""report_drift: tonight's demo report against last night's — what changed, what is new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nightly_samples import NEW_HTTPPROXY_LOG, NEW_TIME, demo_report, next_night, vulnerable_cves

from exchange_remediation.report_drift import (
    MAX_NEW_INDICATORS,
    PreviousReportError,
    compare_reports,
    indicator_key,
    read_previous_report,
)


def _write(path: Path, data: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_the_next_night_of_the_demo_estate(tmp_path: Path) -> None:
    previous = demo_report()
    path = _write(tmp_path / "reports" / "acme" / "20261128T020000Z" / "report.json", previous)
    drift = compare_reports(next_night(previous), read_previous_report(path), path)
    assert drift["previous"] == {"path": path, "generated_at": "2026-11-28T02:00:00Z"}
    assert drift["hosts_added"] == [] and drift["hosts_gone"] == ["ex13"]
    by_kind = {(c["host"], c["kind"]): c for c in drift["changes"]}
    assert sorted(by_kind) == [("ex16-patched", "new_indicators"), ("ex19-dag1", "build"),
                               ("ex19-dag1", "cves_closed"), ("ex19-dag1", "vulnerable")]
    build = by_kind[("ex19-dag1", "build")]
    assert (build["before"], build["after"]) == ("15.2.1544.14", "15.2.1544.44")
    assert build["summary"] == "build 15.2.1544.14 -> 15.2.1544.44 (CU14 Nov24SUv2 -> CU14 Aug26SU)"
    closed = by_kind[("ex19-dag1", "cves_closed")]
    was_open = vulnerable_cves(previous["hosts"]["ex19-dag1"])
    assert closed["before"] == was_open and closed["after"] == []
    assert closed["summary"] == f"{len(was_open)} CVEs no longer vulnerable: {', '.join(was_open)}"
    assert by_kind[("ex19-dag1", "vulnerable")]["summary"] == "no longer vulnerable"
    new = by_kind[("ex16-patched", "new_indicators")]
    count = len(previous["hosts"]["ex16-patched"]["indicators"])
    assert (new["before"], new["after"]) == (count, count + 1)
    assert new["summary"] == "1 new indicator (PS-HTTPPROXY-AUTODISCOVER)"
    assert drift["new_indicators"] == [{"host": "ex16-patched", "rule": "PS-HTTPPROXY-AUTODISCOVER",
                                        "severity": "medium", "source": NEW_HTTPPROXY_LOG, "line": 5,
                                        "time": NEW_TIME}]
    assert drift["new_indicators_total"] == 1
    assert drift["summary"] == "2 servers changed, 1 gone, 1 new indicator"


def test_the_same_report_twice_has_no_drift() -> None:
    report = demo_report()
    drift = compare_reports(report, demo_report(), "reports/20261128T020000Z/report.json")
    assert drift["changes"] == [] and drift["new_indicators"] == [] and drift["new_indicators_total"] == 0
    assert drift["summary"] == "no change since the previous report"
    assert Path(drift["previous"]["path"]).is_absolute()


def test_a_rewritten_path_case_is_the_same_indicator() -> None:
    # Windows paths are case-insensitive: a collector that upper-cases the path finds nothing new.
    previous = demo_report()
    current = demo_report()
    for indicator in current["hosts"]["ex16-legacy"]["indicators"]:
        indicator["source"] = indicator["source"].upper()
    assert compare_reports(current, previous)["new_indicators_total"] == 0
    first = previous["hosts"]["ex16-legacy"]["indicators"][0]
    assert indicator_key(first) == indicator_key({**first, "source": first["source"].upper(), "detail": "other"})


def test_a_server_that_got_worse() -> None:
    # The night before ex16-legacy was breached: patched state, no findings, assessed clean.
    current = demo_report()
    previous = demo_report()
    legacy = previous["hosts"]["ex16-legacy"]
    opened = vulnerable_cves(legacy)
    legacy["cves"] = {cve: ("patched" if status == "vulnerable" else status) for cve, status in legacy["cves"].items()}
    legacy["verdict"] = {"vulnerable": False, "compromised": "no"}
    legacy["indicators"] = []
    previous["hosts"]["ex-damaged"]["status"] = "ok"
    previous["hosts"]["ex-damaged"]["error"] = None
    drift = compare_reports(current, previous)
    changes = {(c["host"], c["kind"]): c for c in drift["changes"]}
    assert changes[("ex16-legacy", "cves_opened")]["after"] == opened
    assert changes[("ex16-legacy", "cves_opened")]["summary"].startswith(f"{len(opened)} CVEs newly vulnerable: ")
    assert changes[("ex16-legacy", "vulnerable")]["summary"] == "now vulnerable"
    assert changes[("ex16-legacy", "compromised")]["summary"] == "compromised no -> yes"
    assert changes[("ex-damaged", "status")]["summary"] == "status ok -> error"
    total = len(current["hosts"]["ex16-legacy"]["indicators"])
    assert drift["new_indicators_total"] == total
    assert len(drift["new_indicators"]) == min(total, MAX_NEW_INDICATORS)


def test_new_indicators_are_capped_but_counted() -> None:
    previous = demo_report()
    current = demo_report()
    seen = current["hosts"]["ex16-legacy"]["indicators"][0]
    current["hosts"]["ex16-legacy"]["indicators"] += [
        {**seen, "line": 1000 + number, "time": f"2021-03-04T0{number % 10}:00:00.000Z"} for number in range(250)]
    drift = compare_reports(current, previous)
    assert drift["new_indicators_total"] == 250
    assert len(drift["new_indicators"]) == MAX_NEW_INDICATORS
    assert drift["summary"] == "1 server changed, 250 new indicators"


def test_added_servers_and_remediation_states() -> None:
    previous = demo_report()
    current = demo_report()
    current["hosts"]["ex19-dag4"] = current["hosts"].pop("ex19-dag3")
    for host, state in (("ex16-mitigated", "planned"), ("ex19-dag1", "planned")):
        previous["hosts"][host]["remediation"] = {"state": state}
    current["hosts"]["ex16-mitigated"]["remediation"] = {"state": "failed"}
    current["hosts"]["ex19-dag1"]["remediation"] = {"state": "planned"}
    # An assessment-only run has no remediation: that is not a change of state.
    previous["hosts"]["ex19-dag2"]["remediation"] = {"state": "patched"}
    drift = compare_reports(current, previous)
    assert drift["hosts_added"] == ["ex19-dag4"] and drift["hosts_gone"] == ["ex19-dag3"]
    assert drift["changes"] == [{"host": "ex16-mitigated", "kind": "remediation", "before": "planned",
                                 "after": "failed", "summary": "remediation planned -> failed"}]
    assert drift["summary"] == "1 server changed, 1 added, 1 gone"


def test_no_previous_report_is_said_not_hidden() -> None:
    drift = compare_reports(demo_report(), None)
    assert drift["previous"] is None and drift["summary"] == "no previous report: drift not checked"
    assert drift["changes"] == [] and drift["new_indicators_total"] == 0


@pytest.mark.parametrize(("content", "why"), [
    (None, "No such file or directory"),
    ("{", "not JSON (Expecting property name"),
    (b"\xff\xfe{}", "not JSON ('utf-8' codec can't decode"),
    ("[1, 2]", "not a report.json (a JSON list, not an object)"),
    ('{"schema": 1}', "not a report.json (no schema or hosts)"),
    ('{"schema": 2, "hosts": {}}', "report schema 2 is not supported (only 1)"),
    ('{"schema": 1, "hosts": []}', "not a report.json (hosts is not an object of host objects)"),
    ('{"schema": 1, "hosts": {"ex01": "ok"}}', "not a report.json (hosts is not an object of host objects)"),
])
def test_an_unusable_previous_report_is_named_with_the_reason(tmp_path: Path, content: str | bytes | None,
                                                               why: str) -> None:
    path = tmp_path / "report.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PreviousReportError) as raised:
        read_previous_report(str(path))
    assert str(raised.value).startswith(f"previous report {path}: {why}")


def test_a_folder_is_not_a_previous_report(tmp_path: Path) -> None:
    with pytest.raises(PreviousReportError, match=f"previous report {tmp_path}: Is a directory"):
        read_previous_report(str(tmp_path))
