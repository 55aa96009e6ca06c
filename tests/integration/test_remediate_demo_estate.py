"""remediate.yml and stage.yml over the bundled demo estate (offline bundles: planned, never applied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import REPO, PlaybookRun, run_playbook

DEMO = REPO / "inventories" / "demo" / "hosts.yml"
DAG01 = {"ex19-dag1", "ex19-dag2", "ex19-dag3"}


def _plan(run_id: str) -> dict[str, Any]:
    return json.loads((REPO / "evidence" / run_id / "plan.json").read_text(encoding="utf-8"))


def _failed(run: PlaybookRun) -> str:
    return run.stdout[-4000:] + run.stderr[-2000:]


@pytest.fixture(scope="module")
def check_run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    return run_playbook("remediate.yml", DEMO, tmp_path_factory.mktemp("remediate-check"), "--check",
                        "-e", "exchange_facts_run_id=pytest-remediate-check")


@pytest.fixture(scope="module")
def se_run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    return run_playbook("remediate.yml", DEMO, tmp_path_factory.mktemp("remediate-se"), "--check",
                        "-e", "exchange_facts_run_id=pytest-remediate-se",
                        "-e", "exchange_patch_plan_upgrade_to_se=true")


def test_check_run_prints_and_writes_the_plan(check_run: PlaybookRun, report_schema: dict) -> None:
    assert check_run.returncode == 0, _failed(check_run)
    plan = _plan("pytest-remediate-check")
    assert (REPO / "evidence" / "pytest-remediate-check" / "plan.md").is_file()
    assert "Waves (" in check_run.stdout and "Totals:" in check_run.stdout
    assert set(plan["servers"]) == {
        "edge01", "ex-damaged", "ex10", "ex13", "ex16-legacy", "ex16-mitigated", "ex16-patched",
        "ex19-dag1", "ex19-dag2", "ex19-dag3", "ex19-unknown", "exse01"}
    report = check_run.report()
    jsonschema.validate(report, report_schema)
    assert report["hosts"]["ex16-legacy"]["remediation"]["state"] == "planned"
    assert report["hosts"]["ex10"]["remediation"]["state"] == "blocked"


def test_the_plan_says_what_each_demo_server_gets(check_run: PlaybookRun) -> None:
    assert check_run.returncode == 0, _failed(check_run)
    servers = _plan("pytest-remediate-check")["servers"]
    legacy = servers["ex16-legacy"]
    assert legacy["state"] == "patch"
    assert (legacy["target"]["cu"], legacy["target"]["su"], legacy["target"]["build"]) == ("CU23", "Aug26SU",
                                                                                         "15.1.2507.72")
    assert [step["kind"] for step in legacy["steps"] if step["kind"] != "prerequisite"] == ["cu", "su"]
    assert legacy["license_switch"] == "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF"
    assert servers["ex19-dag1"]["state"] == "patch"
    assert [step["kind"] for step in servers["ex19-dag1"]["steps"] if step["kind"] != "prerequisite"] == ["su"]
    assert servers["ex19-dag1"]["license_switch"] is None
    for blocked in ("ex10", "ex13", "ex-damaged", "ex19-unknown"):
        assert servers[blocked]["state"] == "blocked" and servers[blocked]["reasons"], blocked
    for current in ("ex19-dag2", "ex19-dag3", "exse01"):
        assert servers[current]["state"] == "up_to_date", current
    assert not any(server["live"] for server in servers.values())


def test_waves_never_hold_two_members_of_one_dag_and_are_minimal(se_run: PlaybookRun) -> None:
    assert se_run.returncode == 0, _failed(se_run)
    plan = _plan("pytest-remediate-se")
    waves = [set(wave["servers"]) for wave in plan["waves"]]
    assert all(len(wave & DAG01) <= 1 for wave in waves)
    dag_members_to_patch = {name for name in DAG01 if plan["servers"][name]["state"] == "patch"}
    assert len(dag_members_to_patch) == 3  # SE in place upgrade for all three 2019 members
    assert len(waves) == plan["summary"]["lower_bound"] == 3
    assert plan["summary"]["modelled_window_minutes"] < plan["summary"]["serial_window_minutes"]


def test_a_wave_limit_spreads_the_servers(tmp_path: Path) -> None:
    run = run_playbook("remediate.yml", DEMO, tmp_path, "--check", "-e", "exchange_facts_run_id=pytest-remediate-one",
                       "-e", "exchange_patch_plan_max_per_wave=1", "-e", "exchange_hunt_enabled=false")
    assert run.returncode == 0, _failed(run)
    plan = _plan("pytest-remediate-one")
    patch = [name for name, server in plan["servers"].items() if server["state"] == "patch"]
    assert [len(wave["servers"]) for wave in plan["waves"]] == [1] * len(patch)


@pytest.mark.parametrize(("variable", "value"), [
    ("exchange_patch_plan_max_per_wave", "two"),
    ("exchange_patch_plan_diagnostic_data", "MAYBE"),
    ("exchange_patch_plan_upgrade_to_se", "perhaps"),
])
def test_a_wrong_variable_fails_before_patching_and_names_the_variable(tmp_path: Path, variable: str,
                                                                           value: str) -> None:
    run = run_playbook("remediate.yml", DEMO, tmp_path, "--check", "-e", "exchange_facts_run_id=pytest-remediate-bad",
                       "-e", f"{variable}={value}", "-e", "exchange_hunt_enabled=false")
    assert run.returncode != 0
    assert variable in run.stdout + run.stderr
    assert "PLAY [Patch the servers" not in run.stdout


def test_a_real_run_over_offline_bundles_applies_nothing(tmp_path: Path) -> None:
    run = run_playbook("remediate.yml", DEMO, tmp_path, "-e", "exchange_facts_run_id=pytest-remediate-apply",
                       "-e", "exchange_hunt_enabled=false")
    assert run.returncode == 0, _failed(run)
    assert "changed=0" in run.stdout.split("PLAY RECAP")[-1].replace(" ", "")
    report = run.report()
    assert report["hosts"]["ex19-dag1"]["remediation"]["state"] == "planned"
    assert report["remediation"]["summary"]["patched"] == 0


def test_stage_over_offline_bundles_stages_nothing(tmp_path: Path) -> None:
    run = run_playbook("stage.yml", DEMO, tmp_path, "-e", "exchange_facts_run_id=pytest-stage")
    assert run.returncode == 0, _failed(run)
    assert "changed=0" in run.stdout.split("PLAY RECAP")[-1].replace(" ", "")
