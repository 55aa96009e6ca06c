"""assess.yml end to end on the fixture estate: one host per outcome, including broken ones."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO, PlaybookRun, run_playbook

FIXTURE = REPO / "tests" / "fixtures" / "estate"


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    return run_playbook("assess.yml", FIXTURE / "hosts.yml", tmp_path_factory.mktemp("reports"))


def test_play_succeeds_and_prints_the_summary_table(fixture_run: PlaybookRun) -> None:
    assert fixture_run.returncode == 0, fixture_run.stdout[-3000:] + fixture_run.stderr[-3000:]
    assert "host             | status | product" in fixture_run.stdout
    assert "Totals: 7 hosts: 4 ok, 3 error" in fixture_run.stdout
    assert f"Reports: {fixture_run.report_dir}" in fixture_run.stdout


def test_every_report_file_is_written(fixture_run: PlaybookRun) -> None:
    for name in ("report.json", "report.html", "summary.md", "junit.xml"):
        assert (fixture_run.report_dir / name).stat().st_size > 0, name


def test_report_follows_the_schema_and_the_contract(fixture_run: PlaybookRun, report_schema: dict) -> None:
    report = fixture_run.report()
    jsonschema.Draft7Validator(report_schema).validate(report)
    assert report["schema"] == 1
    assert sorted(report["hosts"]) == ["fx-admin-display", "fx-current", "fx-damaged", "fx-missing",
                                       "fx-mitigated", "fx-unknown-build", "fx-unpatched"]


def test_each_host_gets_the_expected_outcome(fixture_run: PlaybookRun) -> None:
    hosts = fixture_run.report()["hosts"]
    unpatched = hosts["fx-unpatched"]
    expected = {"product": "Exchange Server 2016", "cu": "CU19", "su": None, "build": "15.1.2176.2",
                "supported": False, "latest": False}
    assert {key: unpatched["exchange"][key] for key in expected} == expected
    assert unpatched["cves"]["CVE-2021-26855"] == "vulnerable"
    assert unpatched["cves"]["CVE-2021-34473"] == "vulnerable"
    # Its HttpProxy log holds the ProxyLogon session request (status 241) while it is unpatched.
    assert unpatched["verdict"] == {"vulnerable": True, "compromised": "yes"}
    assert [f["rule"] for f in unpatched["indicators"] if f["severity"] == "critical"] == ["PL-26855-HTTPPROXY"]
    assert unpatched["next_step"]["action"] == "install_cu"
    assert unpatched["next_step"]["target_cu"] == "CU23"
    codes = {w["code"] for w in unpatched["warnings"]}
    assert {"endpoint_protection_realtime_off", "endpoint_protection_signatures_old"} <= codes

    mitigated = hosts["fx-mitigated"]
    assert mitigated["cves"]["CVE-2021-26855"] == "mitigated"
    assert mitigated["cves"]["CVE-2021-27065"] == "vulnerable"

    current = hosts["fx-current"]
    assert current["exchange"]["product"] == "Exchange Server SE"
    assert current["exchange"]["latest"] is True
    assert current["verdict"]["vulnerable"] is False
    assert current["next_step"]["action"] == "none"
    # Installed after every campaign's fix and every standard source read: the one clean verdict.
    assert current["verdict"]["compromised"] == "no", current["hunt"]["reasons"]
    assert {name for name, s in current["hunt"]["sources"].items() if s["required"] and s["present"]} >= {
        "HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders"}

    admin = hosts["fx-admin-display"]
    assert admin["exchange"]["su"] is None and admin["exchange"]["su_known"] is False
    assert "vulnerable" not in admin["cves"].values()


@pytest.mark.parametrize(("host", "reason"), [
    ("fx-damaged", "is not valid JSON"),
    ("fx-missing", "does not exist"),
    ("fx-unknown-build", "unknown build 16.0.1000.1"),
])
def test_unreadable_hosts_are_errors_never_clean(fixture_run: PlaybookRun, host: str, reason: str) -> None:
    entry = fixture_run.report()["hosts"][host]
    assert entry["status"] == "error"
    assert reason in entry["error"]
    assert entry["verdict"] == {"vulnerable": None, "compromised": "unknown"}
    assert set(entry["cves"].values()) == {"unknown"}


def test_junit_has_a_suite_per_host_and_fails_broken_ones(fixture_run: PlaybookRun) -> None:
    root = ET.parse(fixture_run.report_dir / "junit.xml").getroot()
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert len(suites) == 7
    damaged = suites["fx-damaged"]
    assert int(damaged.get("errors")) + int(damaged.get("failures")) > 0
    unpatched = suites["fx-unpatched"]
    failed = {case.get("name") for case in unpatched.iter("testcase") if case.find("failure") is not None}
    assert "CVE-2021-26855" in failed


def test_check_mode_changes_nothing_and_still_reports(tmp_path: Path) -> None:
    run = run_playbook("assess.yml", FIXTURE / "hosts.yml", tmp_path / "reports", "--check")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "changed=0" in run.stdout
    assert run.report()["hosts"]["fx-unpatched"]["cves"]["CVE-2021-26855"] == "vulnerable"


def test_an_unreachable_live_host_is_an_error_and_the_rest_is_assessed(tmp_path: Path) -> None:
    """A WinRM/PSRP host that cannot be reached must not stop the offline hosts."""
    estate = tmp_path / "estate"
    shutil.copytree(FIXTURE / "evidence" / "fx-unpatched", estate / "evidence" / "fx-unpatched")
    (estate / "hosts.yml").write_text(
        "all:\n  children:\n    exchange:\n      hosts:\n"
        "        fx-unpatched:\n          ansible_connection: local\n"
        "          ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
        "          exchange_evidence_dir: \"{{ inventory_dir }}/evidence/fx-unpatched\"\n"
        "        ex-offline-live:\n          ansible_host: 127.0.0.1\n          ansible_port: 9\n"
        "          ansible_connection: psrp\n          ansible_psrp_protocol: http\n"
        "          ansible_psrp_connection_timeout: 3\n          ansible_psrp_reconnection_retries: 0\n"
        "          ansible_user: svc-ansible\n          ansible_password: not-a-real-secret\n",
        encoding="utf-8")
    run = run_playbook("assess.yml", estate / "hosts.yml", tmp_path / "reports")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    hosts = run.report()["hosts"]
    assert hosts["ex-offline-live"]["status"] == "error"
    assert "unreachable" in hosts["ex-offline-live"]["error"]
    assert hosts["ex-offline-live"]["source"] == "live"
    assert hosts["fx-unpatched"]["status"] == "ok"
    assert "not-a-real-secret" not in run.stdout + run.stderr
