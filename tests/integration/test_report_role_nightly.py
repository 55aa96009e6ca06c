"""The exchange_report role's nightly variables, through the real assess.yml on the demo estate:
two nights in a row, the second compared with the first, and exchange_report_last on localhost."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import REPO, PlaybookRun, run_playbook

DEMO = REPO / "inventories" / "demo" / "hosts.yml"
POLICY = ["compromised", "vulnerable", "unknown", "unpatched_after_window", "new_indicators"]


def _outcome_play(path: Path, assess: Path) -> Path:
    """assess.yml, then a play that saves what the role left on localhost for later plays."""
    playbook = path / "assess-then-read.yml"
    playbook.write_text(
        "---\n"
        f"- name: Assess\n  ansible.builtin.import_playbook: {assess}\n\n"
        "- name: Read the outcome as a later play would\n"
        "  hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Save exchange_report_last\n"
        "      ansible.builtin.copy:\n"
        "        content: \"{{ exchange_report_last | to_json }}\"\n"
        f"        dest: {path / 'last.json'}\n"
        "        mode: \"0644\"\n",
        encoding="utf-8")
    return playbook


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlaybookRun, PlaybookRun, Path]:
    first = run_playbook("assess.yml", DEMO, tmp_path_factory.mktemp("night-1"))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    work = tmp_path_factory.mktemp("night-2")
    variables = {"exchange_report_fail_when": POLICY,
                 "exchange_report_previous_file": str(first.report_dir / "report.json"),
                 "exchange_report_patch_window": {"applied": False},
                 "exchange_report_formats": ["html", "markdown", "junit", "stix", "indicators_csv"]}
    second = run_playbook(str(_outcome_play(work, REPO / "playbooks" / "assess.yml")), DEMO, work / "reports",
                          "-e", json.dumps(variables))
    return first, second, work


def test_the_default_run_warns_about_short_logs_and_has_no_policy(nights) -> None:
    first, _, _ = nights
    report = first.report()
    assert not {"policy", "drift", "patch_window"} & set(report)
    dag3 = report["hosts"]["ex19-dag3"]
    assert dag3["hunt"]["retention"]["required_days"] == 30 and dag3["hunt"]["retention"]["short"] is True
    assert dag3["warnings"][-1]["code"] == "log_retention_short"
    assert "Logs too short to rule out older attacks" in first.stdout


def test_the_second_night_has_drift_policy_exports_and_the_outcome_on_localhost(nights) -> None:
    first, second, work = nights
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    report = second.report()
    assert report["drift"]["previous"] == {"path": str(first.report_dir / "report.json"),
                                           "generated_at": first.report()["generated_at"]}
    assert report["drift"]["changes"] == [] and report["drift"]["hosts_gone"] == []
    assert report["policy"]["failed"] is True
    assert report["policy"]["summary"].startswith("policy failed: compromised (ex16-legacy); vulnerable (3 servers: ")
    assert "Policy failed: compromised (ex16-legacy)" in second.stdout
    for name in ("indicators.stix.json", "indicators.csv", "servers"):
        assert (second.report_dir / name).exists(), name
    suite = ET.parse(second.report_dir / "junit.xml").getroot().find("./testsuite[@name='policy']")
    assert suite is not None and suite.get("tests") == "5"
    # The estate is named, so that a nightly run never compares with another client's report.
    assert (report["run"]["client"], report["run"]["inventory"]) == ("", str(DEMO))
    last = json.loads((work / "last.json").read_text(encoding="utf-8"))
    assert last == {"dir": str(second.report_dir), "policy": report["policy"]}


def test_an_unusable_previous_report_fails_the_run(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "report.json"
    run = run_playbook("assess.yml", DEMO, tmp_path / "reports", "-e",
                       json.dumps({"exchange_report_previous_file": str(missing)}))
    assert run.returncode != 0
    assert f"previous report {missing}: No such file or directory" in run.stdout
