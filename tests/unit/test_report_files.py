"""Writing the report files: all four written, or none when report.json breaks its schema."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_samples import (
    HOSTILE_SHOWN,
    SETUP_LOG,
    assessment_after,
    demo_before,
    demo_outcomes,
    demo_plan,
    sample_report,
    without_hunt,
)

from exchange_remediation.module_runs import TaskInputError, run_report
from exchange_remediation.report_files import (
    ReportInputError,
    ReportSchemaError,
    read_outcomes,
    read_remediation,
    write_reports,
)

SCHEMA = str(Path(__file__).resolve().parents[2] / "docs" / "report.schema.json")


def test_every_format_is_written_and_readable(tmp_path: Path) -> None:
    hosts = sample_report()["hosts"]
    written = write_reports(hosts, {"playbook": "assess"}, "2026-11-29T10:00:00Z", str(tmp_path), SCHEMA)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "report.html", "report.json", "servers",
                                                          "summary.md"]
    # html also writes one page per server, named by report_html.safe_page_name; no staging left.
    assert sorted(p.name for p in (tmp_path / "servers").iterdir()) == [
        "ex13-broken.html", "ex16-patched.html", "ex16.html", "ex19.html"]
    assert "ex16-patched" in (tmp_path / "servers" / "ex16-patched.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["hosts"].keys() == hosts.keys()
    assert ET.parse(tmp_path / "junit.xml").getroot().tag == "testsuites"
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert written.files["markdown"] == str(tmp_path / "summary.md")
    assert any(line.startswith("Totals:") for line in written.table)


def test_a_report_that_breaks_its_schema_publishes_nothing(tmp_path: Path) -> None:
    hosts = sample_report()["hosts"]
    first = next(iter(hosts))
    hosts[first]["status"] = "probably fine"
    with pytest.raises(ReportSchemaError, match="status"):
        write_reports(hosts, {}, "2026-11-29T10:00:00Z", str(tmp_path), SCHEMA)
    assert list(tmp_path.iterdir()) == []


def test_check_mode_writes_nothing_but_still_validates_and_tabulates(tmp_path: Path) -> None:
    written = write_reports(sample_report()["hosts"], {}, "2026-11-29T10:00:00Z", str(tmp_path / "out"), SCHEMA,
                            write=False)
    assert not (tmp_path / "out").exists()
    assert written.files == {} and written.table


def test_every_format_shows_the_findings(tmp_path: Path) -> None:
    hosts = sample_report()["hosts"]
    written = write_reports(hosts, {"playbook": "hunt"}, "2026-11-29T10:00:00Z", str(tmp_path), SCHEMA)
    summary = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["summary"]
    assert summary == sample_report()["summary"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "summary.md").read_text(encoding="utf-8")
    junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    for text in (html, markdown, junit, "\n".join(written.table)):
        assert "PL-26855-HTTPPROXY" in text and "PL-27065-ECPSERVER" in text
    for text in (html, markdown, junit):
        assert "PNS-IIS-AUTODISCOVER-POWERSHELL" in text  # attempts too, marked as such
        assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    assert HOSTILE_SHOWN in markdown  # inside its fenced block
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    failure = ET.parse(tmp_path / "junit.xml").getroot().find(
        "./testsuite[@name='ex16-patched']/testcase[@name='compromised']/failure")
    assert HOSTILE_SHOWN in failure.text


def test_reports_without_a_hunt_are_written(tmp_path: Path) -> None:
    written = write_reports(without_hunt(sample_report())["hosts"], {}, "2026-11-29T10:00:00Z", str(tmp_path),
                            SCHEMA)
    assert sorted(written.files) == ["html", "json", "junit", "markdown"]
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["summary"]["hunted"] == 0


# --- a remediation run's files: plan.json, outcomes/<host>.json, the assessment before ---------


def _write_json(path: Path, data: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _run_files(tmp_path: Path) -> dict[str, str]:
    """The evidence folder of a remediation run of the demo estate."""
    run = tmp_path / "evidence" / "20261129T100000Z"
    outcomes = demo_outcomes()
    for name, outcome in outcomes.items():
        _write_json(run / "outcomes" / f"{name}.json", outcome)
    return {
        "before_file": _write_json(run / "assessment.json", {"hosts": demo_before()}),
        "assessment_file": _write_json(run / "assessment-after.json", {"hosts": assessment_after(outcomes)}),
        "plan_file": _write_json(run / "plan.json", demo_plan()),
        "outcomes_dir": str(run / "outcomes"),
    }


def test_a_remediation_run_is_read_and_shown_in_every_format(tmp_path: Path) -> None:
    files = _run_files(tmp_path)
    outcomes = Path(files["outcomes_dir"])
    (outcomes / "ex19-dag2.json").write_text('{"host": "ex19-dag2", "state": "up_to_da', encoding="utf-8")
    (outcomes / ".tmp-ex10.json").write_text("{", encoding="utf-8")  # an interrupted atomic write
    (outcomes / "README.txt").write_text("not an outcome", encoding="utf-8")
    hosts = json.loads(Path(files["assessment_file"]).read_text(encoding="utf-8"))["hosts"]
    remediation = read_remediation(hosts, files["plan_file"], files["before_file"], files["outcomes_dir"])
    out = tmp_path / "reports"
    written = write_reports(hosts, {"playbook": "remediate"}, "2026-11-29T12:00:00Z", str(out), SCHEMA,
                            remediation=remediation)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["remediation"]["stopped_by"] == "ex16-mitigated"
    legacy = report["hosts"]["ex16-legacy"]["remediation"]
    assert (legacy["before"]["build"], legacy["after"]["build"]) == ("15.1.2176.2", "15.1.2507.72")
    assert report["hosts"]["ex16-mitigated"]["remediation"]["setup_log"] == SETUP_LOG
    unreadable = report["hosts"]["ex19-dag2"]["remediation"]
    assert unreadable["state"] == "skipped"
    assert unreadable["reason"].startswith("outcome file unreadable: ex19-dag2.json: Unterminated string")
    assert "ex10" not in read_outcomes(files["outcomes_dir"])
    assert '<section id="remediation">' in (out / "report.html").read_text(encoding="utf-8")
    assert "## Remediation" in (out / "summary.md").read_text(encoding="utf-8")
    suite = ET.parse(out / "junit.xml").getroot().find("./testsuite[@name='remediation']")
    assert suite is not None and suite.get("tests") == "8"
    assert any("CU19→CU23 Aug26SU" in line for line in written.table)


def test_a_missing_outcomes_folder_means_no_server_was_touched(tmp_path: Path) -> None:
    files = _run_files(tmp_path)
    hosts = demo_before()
    remediation = read_remediation(hosts, files["plan_file"], None, str(tmp_path / "nowhere"))
    assert {entry["state"] for entry in remediation.hosts.values()} == {"planned", "blocked", "up_to_date"}
    assert read_outcomes(str(tmp_path / "nowhere")) == {}


@pytest.mark.parametrize(("name", "content", "message"), [
    ("plan_file", None, "cannot read the plan {path}: No such file or directory"),
    ("plan_file", "{", "cannot read the plan {path}: Expecting property name"),
    ("plan_file", json.dumps({"schema": 2}), "cannot read the plan {path}: plan schema 2 is not supported"),
    ("plan_file", b"\xff\xfe", "cannot read the plan {path}: 'utf-8' codec can't decode"),
    ("before_file", "[]", "cannot read the assessment taken before remediation {path}: {path} holds no host"),
    ("before_file", None, "cannot read the assessment taken before remediation {path}: No such file"),
    ("outcomes_dir", "a file, not a folder", "cannot read the outcomes folder {path}: Not a directory"),
])
def test_unusable_inputs_name_their_file(tmp_path: Path, name: str, content: str | bytes | None,
                                         message: str) -> None:
    files = _run_files(tmp_path)
    path = tmp_path / f"broken-{name}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    files[name] = str(path)
    with pytest.raises(ReportInputError) as raised:
        read_remediation(demo_before(), files["plan_file"], files["before_file"], files["outcomes_dir"])
    assert str(raised.value).startswith(message.format(path=path))


def _params(tmp_path: Path, **extra: object) -> dict[str, object]:
    params: dict[str, object] = {
        "assessment_file": _write_json(tmp_path / "assessment.json", {"hosts": demo_before()}),
        "report_dir": str(tmp_path / "reports"), "schema_path": SCHEMA, "run": {"playbook": "remediate"},
        "formats": ["html", "markdown", "junit"], "before_file": None, "plan_file": None, "outcomes_dir": None,
    }
    params.update(extra)
    return params


def test_run_report_with_the_run_files(tmp_path: Path) -> None:
    files = _run_files(tmp_path)
    result = run_report(_params(tmp_path, **files), check_mode=False)
    assert result["remediation"]["rollout_stopped"] is True
    assert result["remediation"]["summary"]["patched"] == 2
    report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    assert report["remediation"] == result["remediation"]
    # Check mode validates and tabulates, and writes nothing.
    out = tmp_path / "check"
    result = run_report(_params(tmp_path, **files, report_dir=str(out)), check_mode=True)
    assert not out.exists() and any("Patch" in line for line in result["table"])


def test_run_report_without_a_plan_is_an_assessment_report(tmp_path: Path) -> None:
    # The role passes nothing (omit) or empty strings: both mean "no plan".
    for empty in (None, ""):
        result = run_report(_params(tmp_path, plan_file=empty, before_file=empty, outcomes_dir=empty), False)
        assert "remediation" not in result
        report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
        assert "remediation" not in report
        assert all("remediation" not in host for host in report["hosts"].values())
        assert 'id="remediation"' not in (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["before_file", "outcomes_dir"])
def test_run_report_needs_the_plan_for_before_and_outcomes(tmp_path: Path, name: str) -> None:
    files = _run_files(tmp_path)
    with pytest.raises(TaskInputError, match="before_file and outcomes_dir need plan_file"):
        run_report(_params(tmp_path, **{name: files[name]}), check_mode=False)


def test_run_report_names_an_unreadable_plan(tmp_path: Path) -> None:
    missing = str(tmp_path / "plan.json")
    with pytest.raises(TaskInputError, match=re.escape(f"cannot read the plan {missing}: No such file or directory")):
        run_report(_params(tmp_path, plan_file=missing), check_mode=False)


# --- the nightly run: policy, drift, retention, patch window and the indicator exports -----------


def _nightly_params(tmp_path: Path, **extra: object) -> dict[str, object]:
    from nightly_samples import demo_report, next_night

    first = demo_report()
    previous = _write_json(tmp_path / "reports" / "acme" / "20261128T020000Z" / "report.json", first)
    params = _params(tmp_path, assessment_file=_write_json(tmp_path / "evidence" / "assessment.json",
                                                           {"hosts": next_night(first)["hosts"]}),
                     report_dir=str(tmp_path / "reports" / "acme" / "20261129T020000Z"), run={"playbook": "nightly"},
                     formats=["html", "markdown", "junit", "stix", "indicators_csv"],
                     policy=["compromised", "vulnerable", "unknown", "unpatched_after_window", "new_indicators"],
                     patch_window={"applied": False}, previous_report=previous, min_log_days=30,
                     export_hostnames=True)
    params.update(extra)
    return params


def test_run_report_of_a_nightly_run(tmp_path: Path) -> None:
    params = _nightly_params(tmp_path)
    result = run_report(params, check_mode=False)
    out = Path(str(params["report_dir"]))
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert list(report) == ["schema", "generated_at", "run", "summary", "patch_window", "drift", "policy", "hosts"]
    assert result["policy"] == report["policy"] and result["policy"]["failed"] is True
    assert report["patch_window"] == {"applied": False, "opens_at": None, "closes_at": None}
    assert report["drift"]["previous"]["path"] == params["previous_report"]
    assert report["drift"]["summary"] == "2 servers changed, 1 gone, 1 new indicator"
    assert report["hosts"]["ex19-dag3"]["hunt"]["retention"]["short"] is True
    assert sorted(p.name for p in out.iterdir()) == ["indicators.csv", "indicators.stix.json", "junit.xml",
                                                     "report.html", "report.json", "servers", "summary.md"]
    assert result["files"]["stix"] == str(out / "indicators.stix.json")
    assert result["files"]["indicators_csv"] == str(out / "indicators.csv")
    assert json.loads((out / "indicators.stix.json").read_text(encoding="utf-8"))["type"] == "bundle"
    csv_text = (out / "indicators.csv").read_text(encoding="utf-8")
    assert "192.0.2.45" in csv_text and "ex16-patched" in csv_text
    assert len(list((out / "servers").iterdir())) == len(report["hosts"])
    assert ET.parse(out / "junit.xml").getroot().find("./testsuite[@name='policy']") is not None
    assert "## Policy" in (out / "summary.md").read_text(encoding="utf-8")
    assert result["table"][-1].startswith("Policy failed: compromised (ex16-legacy)")


def test_exports_without_hostnames(tmp_path: Path) -> None:
    params = _nightly_params(tmp_path, formats=["indicators_csv"], export_hostnames=False)
    run_report(params, check_mode=False)
    csv_text = (Path(str(params["report_dir"])) / "indicators.csv").read_text(encoding="utf-8")
    assert "192.0.2.45" in csv_text and "ex16-patched" not in csv_text.lower()


def test_run_report_without_the_nightly_params_is_unchanged(tmp_path: Path) -> None:
    result = run_report(_params(tmp_path), check_mode=False)
    assert result["policy"] is None
    report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    assert not {"policy", "drift", "patch_window"} & set(report)
    assert all("retention" not in (host.get("hunt") or {}) for host in report["hosts"].values())


def test_an_empty_policy_is_a_policy(tmp_path: Path) -> None:
    result = run_report(_nightly_params(tmp_path, policy=[], formats=[]), check_mode=False)
    assert result["policy"]["failed"] is False
    assert result["policy"]["summary"] == "policy passed: no condition is enforced"


@pytest.mark.parametrize(("extra", "message"), [
    ({"policy": ["compromized"]}, "policy: fail_when entry 1: unknown condition 'compromized' "
                                  "(did you mean compromised?)"),
    ({"patch_window": {"applied": "sometimes"}}, "patch_window.applied: 'sometimes' is not true or false"),
    ({"min_log_days": -1}, "min_log_days must be 0 (off) or more, got -1"),
])
def test_run_report_refuses_bad_nightly_params(tmp_path: Path, extra: dict[str, object], message: str) -> None:
    params = _nightly_params(tmp_path, **extra)
    with pytest.raises(TaskInputError) as raised:
        run_report(params, check_mode=False)
    assert str(raised.value).startswith(message)
    assert not Path(str(params["report_dir"])).exists()


@pytest.mark.parametrize(("content", "why"), [
    (None, "No such file or directory"),
    ("<html>not a report</html>", "not JSON"),
    (json.dumps({"schema": 1, "plan": []}), "not a report.json (no schema or hosts)"),
])
def test_run_report_names_an_unusable_previous_report(tmp_path: Path, content: str | None, why: str) -> None:
    previous = tmp_path / "previous" / "report.json"
    if content is not None:
        previous.parent.mkdir(parents=True)
        previous.write_text(content, encoding="utf-8")
    with pytest.raises(TaskInputError) as raised:
        run_report(_nightly_params(tmp_path, previous_report=str(previous)), check_mode=False)
    assert str(raised.value).startswith(f"previous report {previous}: {why}")


def test_a_nightly_report_that_breaks_its_schema_publishes_nothing(tmp_path: Path) -> None:
    from nightly_samples import demo_report

    from exchange_remediation.report_files import NightlyOptions

    hosts = demo_report()["hosts"]
    hosts["ex19-dag1"]["hunt"]["logs_from"] = "2026-10-27T10:05:17.560Z"
    hosts["ex19-dag1"]["status"] = "probably fine"
    out = tmp_path / "out"
    with pytest.raises(ReportSchemaError, match="status"):
        write_reports(hosts, {}, "2026-11-29T02:00:00Z", str(out), SCHEMA,
                      ["html", "markdown", "junit", "stix", "indicators_csv"],
                      nightly=NightlyOptions(fail_when=("compromised",), min_log_days=30))
    assert list(out.iterdir()) == []


def test_leftovers_of_a_killed_run_are_replaced(tmp_path: Path) -> None:
    (tmp_path / ".staged-report.html").write_text("half", encoding="utf-8")
    (tmp_path / ".staged-summary.md" / "servers").mkdir(parents=True)
    write_reports(sample_report()["hosts"], {}, "2026-11-29T10:00:00Z", str(tmp_path), SCHEMA)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "report.html", "report.json", "servers",
                                                          "summary.md"]


def test_an_empty_previous_report_is_the_first_night(tmp_path: Path) -> None:
    # nightly.yml's first run of an estate: drift was asked for, there is nothing to compare with.
    result = run_report(_nightly_params(tmp_path, previous_report="", formats=[]), check_mode=False)
    report = json.loads((tmp_path / "reports" / "acme" / "20261129T020000Z" / "report.json").read_text(
        encoding="utf-8"))
    assert report["drift"]["previous"] is None
    assert report["drift"]["summary"] == "no previous report: drift not checked"
    new = next(c for c in result["policy"]["conditions"] if c["name"] == "new_indicators")
    assert new["evaluated"] is False and new["triggered"] is False
