"""playbooks/nightly.yml patching inside a maintenance window, over the simulated live estate of
test_remediate_rollout.py (a DAG of three and a stand-alone server behind stand-in Windows modules).

1. A window long enough for every wave: all four servers patched, the policy passes.
2. A window that closes before the first wave could finish: no server is touched (none enters
   maintenance), each is recorded as skipped with the window's reason, and the policy's
   unpatched_after_window fails the run.
3. Patching on, but the window is next week: nothing is touched and the condition is not evaluated.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import BIN, REPO
from test_remediate_rollout import HOSTS, MEDIA_SHA256, Lab, read_calls

POLICY = ["vulnerable", "unpatched_after_window"]
# What a server is asked when it is worked on; reading facts and hunting are not in this list.
TOUCHING = {"enter", "exit", "win_package", "win_reboot", "win_feature", "win_hotfix", "win_service"}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_nightly(lab: Lab, name: str, window: dict[str, str]) -> dict[str, Any]:
    client_run = f"pytest-window-{name}-{os.getpid()}"
    report_root = lab.base / f"reports-{name}"
    seen = {host: len(read_calls(lab.files[host])) for host in HOSTS}
    env = dict(os.environ)
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_COLLECTIONS_PATH": str(lab.collections),
                "ANSIBLE_LOCAL_TEMP": str(lab.base / "tmp"), "ANSIBLE_PIPELINING": "True"})
    command = [
        str(BIN / "ansible-playbook"), "-i", str(lab.inventory), str(REPO / "playbooks" / "nightly.yml"),
        "-e", json.dumps({"exchange_nightly_patch": True, "exchange_nightly_window": window,
                          "exchange_nightly_fail_when": POLICY, "exchange_nightly_report_root": str(report_root),
                          "exchange_nightly_run_id": client_run, "exchange_nightly_previous_report": "",
                          "exchange_patch_plan_media_sha256": MEDIA_SHA256}),
        "-e", "exchange_hunt_enabled=false",
        "-e", "exchange_patch_async_poll=1", "-e", "exchange_patch_postcheck_retries=2",
        "-e", "exchange_patch_postcheck_delay=0", "-e", "exchange_maintenance_verify_retries=2",
        "-e", "exchange_maintenance_verify_delay=0",
    ]
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
        evidence = REPO / "evidence" / client_run
        outcomes = {path.stem: json.loads(path.read_text(encoding="utf-8"))
                    for path in (evidence / "outcomes").glob("*.json")}
    finally:
        shutil.rmtree(REPO / "evidence" / client_run, ignore_errors=True)
    report_file = report_root / client_run / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else {}
    calls = {host: read_calls(lab.files[host])[seen[host]:] for host in HOSTS}
    return {"done": done, "outcomes": outcomes, "report": report, "calls": calls}


def _output(run: dict[str, Any]) -> str:
    return run["done"].stdout[-8000:] + run["done"].stderr[-3000:]


def _touched(run: dict[str, Any]) -> dict[str, list[str]]:
    return {host: [call["kind"] for call in calls if call["kind"] in TOUCHING] for host, calls in run["calls"].items()}


@pytest.fixture(scope="module")
def long_window(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    now = datetime.now(UTC)
    lab = Lab(tmp_path_factory.mktemp("nightly-long-window"))
    return run_nightly(lab, "long", {"opens_at": _stamp(now - timedelta(hours=1)),
                                     "closes_at": _stamp(now + timedelta(hours=20))})


@pytest.fixture(scope="module")
def short_window(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    now = datetime.now(UTC)
    lab = Lab(tmp_path_factory.mktemp("nightly-short-window"))
    run = run_nightly(lab, "short", {"opens_at": _stamp(now - timedelta(hours=1)),
                                     "closes_at": _stamp(now + timedelta(minutes=30))})
    run["closes_at"] = _stamp(now + timedelta(minutes=30))
    return run


@pytest.fixture(scope="module")
def next_week(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    now = datetime.now(UTC)
    lab = Lab(tmp_path_factory.mktemp("nightly-next-week"))
    return run_nightly(lab, "next-week", {"opens_at": _stamp(now + timedelta(days=6)),
                                          "closes_at": _stamp(now + timedelta(days=6, hours=4))})


def test_a_window_long_enough_patches_every_wave_and_passes(long_window: dict[str, Any]) -> None:
    assert long_window["done"].returncode == 0, _output(long_window)
    assert {host: outcome["state"] for host, outcome in long_window["outcomes"].items()} == dict.fromkeys(
        HOSTS, "patched")
    report = long_window["report"]
    assert report["patch_window"]["applied"] is True
    condition = next(item for item in report["policy"]["conditions"] if item["name"] == "unpatched_after_window")
    assert condition["evaluated"] is True and condition["triggered"] is False
    assert report["policy"]["failed"] is False


def test_a_wave_that_would_overrun_the_window_is_not_started(short_window: dict[str, Any]) -> None:
    assert short_window["done"].returncode == 2, _output(short_window)
    # Not one server entered maintenance or got an installer.
    assert _touched(short_window) == {host: [] for host in HOSTS}
    for host in HOSTS:
        outcome = short_window["outcomes"][host]
        assert outcome["state"] == "skipped", (host, outcome)
        assert outcome["reason"].startswith(f"the maintenance window closes at {short_window['closes_at'][:16]}"), \
            outcome["reason"]
        assert "needs about" in outcome["reason"]
    report = short_window["report"]
    condition = next(item for item in report["policy"]["conditions"] if item["name"] == "unpatched_after_window")
    assert condition["triggered"] is True and condition["hosts"] == sorted(HOSTS)
    assert {report["hosts"][host]["remediation"]["state"] for host in HOSTS} == {"skipped"}
    assert "unpatched_after_window" in short_window["done"].stdout.split("Fail the run when")[-1]


def test_outside_the_window_nothing_is_touched(next_week: dict[str, Any]) -> None:
    # The servers still need their update: vulnerable fails the run, but nothing was patched.
    assert next_week["done"].returncode == 2, _output(next_week)
    assert "outside the maintenance window" in next_week["done"].stdout
    assert _touched(next_week) == {host: [] for host in HOSTS}
    assert next_week["outcomes"] == {}
    report = next_week["report"]
    condition = next(item for item in report["policy"]["conditions"] if item["name"] == "unpatched_after_window")
    assert condition["evaluated"] is False
    assert {report["hosts"][host]["remediation"]["state"] for host in HOSTS} == {"planned"}

