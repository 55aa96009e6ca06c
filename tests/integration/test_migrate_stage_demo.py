"""migrate_stage.yml in plan mode over the demo organisation: nothing changes, the plan is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, PlaybookRun, run_playbook

DEMO = REPO / "inventories" / "demo" / "hosts.yml"


def _plan(run_id: str) -> dict:
    return json.loads((REPO / "evidence" / run_id / "migration" / "plan.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def plan_run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    return run_playbook("migrate_stage.yml", DEMO, tmp_path_factory.mktemp("migrate"),
                        "-e", "exchange_facts_run_id=pytest-migrate")


def test_plan_mode_changes_nothing_and_writes_the_plan(plan_run: PlaybookRun) -> None:
    assert plan_run.returncode == 0, plan_run.stdout[-3000:] + plan_run.stderr[-2000:]
    assert "changed=0" in plan_run.stdout.split("PLAY RECAP")[-1].replace(" ", "")
    assert "blocker(s) standing: migration-type:none" in plan_run.stdout
    plan = _plan("pytest-migrate")
    folder = REPO / "evidence" / "pytest-migrate" / "migration"
    assert {p.name for p in (folder / "batches").iterdir()} == {b["csv"] for b in plan["batches"]}
    assert (folder / "plan.md").read_text(encoding="utf-8").startswith("#")


@pytest.mark.parametrize(("variable", "value"), [
    ("m365_migration_stage_max_gb", "lots"),
    ("m365_migration_stage_order_by", "size"),
    ("m365_migration_stage_state", "gone"),
])
def test_a_wrong_variable_names_itself(tmp_path: Path, variable: str, value: str) -> None:
    run = run_playbook("migrate_stage.yml", DEMO, tmp_path, "-e", "exchange_facts_run_id=pytest-migrate-bad",
                       "-e", f"{variable}={value}")
    assert run.returncode != 0
    assert variable in run.stdout + run.stderr


def test_staging_without_its_settings_stops_before_anything_is_created(tmp_path: Path) -> None:
    run = run_playbook("migrate_stage.yml", DEMO, tmp_path, "-e", "exchange_facts_run_id=pytest-migrate-apply",
                       "-e", "m365_migration_stage_apply=true")
    assert run.returncode != 0
    assert "m365_migration_stage_management_host" in run.stdout
    assert "Stage the endpoint and the batches" not in run.stdout


def test_nothing_is_staged_while_a_blocker_stands(tmp_path: Path) -> None:
    settings = {"m365_migration_stage_apply": "true", "m365_migration_stage_management_host": "mgmt01",
                "m365_migration_stage_app_id": "00000000-0000-0000-0000-000000000002",
                "m365_migration_stage_certificate_thumbprint": "B" * 40,
                "m365_migration_stage_remote_server": "mail.contoso.com",
                "m365_migration_stage_endpoint_credential_user": "CONTOSO\\svc-mrsproxy"}
    extra = [arg for name, value in settings.items() for arg in ("-e", f"{name}={value}")]
    run = run_playbook("migrate_stage.yml", DEMO, tmp_path, "-e", "exchange_facts_run_id=pytest-migrate-blocked",
                       *extra)
    assert run.returncode != 0
    out = run.stdout
    assert "migration-type:none" in out and "m365_migration_stage_override_blockers" in out
    # Refused by the first check of the staging tasks: MRSProxy untouched, no CSV copied, no script run.
    assert "Refuse to stage while a blocker stands" in out
    for later in ("Turn MRSProxy on", "Copy the batch CSVs", "Stage the endpoint and batches in Exchange Online"):
        assert f"TASK [m365_migration_stage : {later}" not in out
