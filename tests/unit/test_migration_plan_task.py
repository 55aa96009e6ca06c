"""m365_migration_plan's task on the demo organisation: readiness, batches, CSVs and blockers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.estate_assessment import assess_estate, write_assessment
from exchange_remediation.migration_plan_task import MigrationPlanError, run_migration_plan

REPO = Path(__file__).resolve().parents[2]
DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo"
INVENTORY = str(DEMO / "organisation" / "mailboxes.json")


@pytest.fixture(scope="module")
def assessment_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    names = sorted(path.name for path in (DEMO / "evidence").iterdir())
    specs = {name: {"evidence_dir": str(DEMO / "evidence" / name), "source": "evidence"} for name in names}
    path = tmp_path_factory.mktemp("assessment") / "assessment.json"
    write_assessment(assess_estate(specs, DATA, dt.date(2026, 11, 29)), str(path))
    return str(path)


def _params(output: Path, assessment: str | None, **extra: Any) -> dict[str, Any]:
    return {"inventory_file": INVENTORY, "assessment_file": assessment, "data_dir": DATA, "output_dir": str(output),
            "tenant": "contoso", "service_accounts": ["svc-backup", "svc-archive"], "max_mailboxes": 100,
            "max_gb": 1500, "order_by": "database", "order": [], "batch_prefix": "Batch",
            "hybrid_servers": ["EX19-DAG1", "EX19-DAG2", "EX19-DAG3"], "exo_accepted_domains": None,
            "override_blockers": [], "graph": None, **extra}


def test_the_demo_plan_names_each_blocker_and_writes_a_csv_per_batch(assessment_file: str, tmp_path: Path) -> None:
    result = run_migration_plan(_params(tmp_path, assessment_file))
    plan = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert result["changed"] is False
    assert plan["migration_type"]["type"] == "none"  # 2010 beside 2019 and SE: no single hybrid version serves all
    assert result["blockers"][0] == "migration-type:none"
    assert "mrsproxy:EX19-DAG3\\EWS (Default Web Site)" in result["blockers"]
    assert "mailbox-size:elena.costa" in result["blockers"]
    assert not plan["graph"]["checked"] and "not checked" in plan["graph"]["unavailable_reason"]
    for batch in result["batches"]:
        data = Path(batch["csv_file"]).read_bytes()
        assert data.startswith(b"EmailAddress,MailboxType\r\n") and data.count(b"\r\n") == batch["count"] + 1
    linked = [b["name"] for b in plan["batches"] if {"ceo", "exec.assistant1"} & set(b["mailboxes"])]
    assert len(linked) == 1
    markdown = (tmp_path / "plan.md").read_text(encoding="utf-8")
    assert "## Readiness" in markdown and "mrsproxy:EX19-DAG3" in markdown


def test_overrides_are_taken_by_name_and_unknown_ones_are_reported(assessment_file: str, tmp_path: Path) -> None:
    accepted = "mrsproxy:EX19-DAG3\\EWS (Default Web Site)"
    result = run_migration_plan(_params(tmp_path, assessment_file, override_blockers=[accepted, "mrsproxy:EX99"]))
    plan = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert accepted not in result["blockers"] and plan["overridden"] == [accepted]
    assert result["unknown_overrides"] == ["mrsproxy:EX99"]


def test_an_unusable_graph_is_a_blocker_never_a_pass(assessment_file: str, tmp_path: Path) -> None:
    graph = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
             "certificate_thumbprint": "A" * 40, "private_key_path": str(tmp_path / "missing-key.pem"),
             "authority_host": "https://127.0.0.1:1", "graph_base_url": "https://127.0.0.1:1/v1.0", "timeout": 2.0}
    result = run_migration_plan(_params(tmp_path, assessment_file, graph=graph))
    plan = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert "graph:unavailable" in result["blockers"]
    assert plan["graph"]["checked"] and plan["graph"]["ready"] is False
    assert plan["graph"]["unavailable_reason"].startswith("Bad certificate")


def test_bad_inputs_name_what_is_wrong(assessment_file: str, tmp_path: Path) -> None:
    with pytest.raises(MigrationPlanError, match="mailbox inventory"):
        run_migration_plan(_params(tmp_path, assessment_file, inventory_file=str(tmp_path / "none.json")))
    with pytest.raises(MigrationPlanError, match="max_mailboxes and max_gb"):
        run_migration_plan(_params(tmp_path, assessment_file, max_mailboxes=0))
    with pytest.raises(MigrationPlanError, match="cannot read the assessment"):
        run_migration_plan(_params(tmp_path, str(tmp_path / "none.json")))
