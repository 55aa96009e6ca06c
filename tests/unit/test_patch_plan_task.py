"""exchange_patch_plan's task (patch_plan_task.run_patch_plan) and the plan table it prints:
the demo estate's assessment in, plan.json and plan.md out, and the rollout order for the play."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.estate_assessment import assess_estate, write_assessment
from exchange_remediation.patch_plan_task import PlanInputError, run_patch_plan
from exchange_remediation.plan_table import render_plan_table

REPO = Path(__file__).resolve().parents[2]
DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo" / "evidence"
TODAY = dt.date(2026, 11, 29)


def _assessment_file(folder: Path, live: set[str] = frozenset()) -> str:
    names = sorted(path.name for path in DEMO.iterdir())
    specs = {name: {"evidence_dir": str(DEMO / name), "source": "live" if name in live else "evidence"}
             for name in names}
    path = folder / "assessment.json"
    write_assessment(assess_estate(specs, DATA, TODAY), str(path))
    return str(path)


def _params(assessment_file: str, output_dir: Path, **options: Any) -> dict[str, Any]:
    return {"assessment_file": assessment_file, "data_dir": DATA, "output_dir": str(output_dir),
            "generated_at": "2026-11-29T10:00:00Z", "hosts": None, "max_per_wave": None, "max_per_site": None,
            "upgrade_to_se": False, "diagnostic_data": "OFF", "domain_controller": None,
            "extended_protection_opt_out": "", "media_sha256": {}, **options}


@pytest.fixture(scope="module")
def offline_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _assessment_file(tmp_path_factory.mktemp("offline"))


@pytest.fixture(scope="module")
def live_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    # The same bundles, described as collected live: the plan then hands them to the apply play.
    return _assessment_file(tmp_path_factory.mktemp("live"), {"ex16-legacy", "ex19-dag1", "ex19-dag2",
                                                               "ex19-dag3", "edge01"})


def test_writes_plan_json_and_markdown_and_applies_no_offline_bundle(offline_file: str, tmp_path: Path) -> None:
    result = run_patch_plan(_params(offline_file, tmp_path / "run"))
    plan = json.loads((tmp_path / "run" / "plan.json").read_text(encoding="utf-8"))
    assert result["plan_file"] == str(tmp_path / "run" / "plan.json")
    assert (tmp_path / "run" / "plan.md").read_text(encoding="utf-8").startswith("# Exchange patch plan")
    assert result["changed"] is False
    assert result["waves"] == [wave["servers"] for wave in plan["waves"]]
    assert sorted(result["waves"][0]) == ["edge01", "ex16-legacy", "ex16-mitigated", "ex19-dag1"]
    assert result["apply_hosts"] == [] and result["apply_batches"] == []
    assert result["servers"]["ex10"]["state"] == "blocked" and result["servers"]["ex10"]["reasons"]
    assert result["ad_prep_hosts"] == []


def test_live_servers_are_applied_wave_after_wave_never_two_of_one_dag(live_file: str, tmp_path: Path) -> None:
    result = run_patch_plan(_params(live_file, tmp_path, upgrade_to_se=True))
    # SE upgrade: all three DAG01 members and edge01 patch; ex16-legacy is live too, ex16-mitigated offline.
    assert len(result["apply_batches"]) == 3
    assert sum(result["apply_batches"]) == len(result["apply_hosts"]) == 5
    start = 0
    for size in result["apply_batches"]:
        batch = result["apply_hosts"][start:start + size]
        assert len(set(batch) & {"ex19-dag1", "ex19-dag2", "ex19-dag3"}) == 1
        start += size
    assert "ex16-mitigated" not in result["apply_hosts"]


def test_a_host_filter_plans_only_those_hosts_but_keeps_the_estate(live_file: str, tmp_path: Path) -> None:
    result = run_patch_plan(_params(live_file, tmp_path, hosts=["ex19-dag1"]))
    assert result["apply_hosts"] == ["ex19-dag1"]
    plan = json.loads(Path(result["plan_file"]).read_text(encoding="utf-8"))
    assert plan["servers"]["ex19-dag1"]["dag_peers"] == ["ex19-dag2", "ex19-dag3"]


def test_unknown_hosts_and_bad_options_name_what_is_wrong(offline_file: str, tmp_path: Path) -> None:
    with pytest.raises(PlanInputError, match="hosts: nosuchhost"):
        run_patch_plan(_params(offline_file, tmp_path, hosts=["nosuchhost"]))
    with pytest.raises(PlanInputError, match="max_per_site"):
        run_patch_plan(_params(offline_file, tmp_path, max_per_site=0))
    with pytest.raises(PlanInputError, match="media_sha256"):
        run_patch_plan(_params(offline_file, tmp_path, media_sha256={"ExchangeServer2016-x64-CU23.ISO": "xyz"}))


def test_an_unreadable_assessment_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "assessment.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(PlanInputError, match=r"cannot read the assessment .*assessment\.json"):
        run_patch_plan(_params(str(broken), tmp_path))
    with pytest.raises(PlanInputError, match="cannot read the assessment"):
        run_patch_plan(_params(str(tmp_path / "missing.json"), tmp_path))


def test_an_unwritable_output_folder_is_named(offline_file: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(PlanInputError, match="cannot write the plan to"):
        run_patch_plan(_params(offline_file, blocker / "run"))


def test_the_table_shows_waves_steps_and_totals(offline_file: str, tmp_path: Path) -> None:
    lines = run_patch_plan(_params(offline_file, tmp_path))["table"]
    text = "\n".join(lines)
    assert "Active Directory preparation: not needed" in text
    assert "Waves (1; never two members of one DAG at once):" in text
    legacy = next(line for line in lines if line.startswith("ex16-legacy "))
    assert "CU19" in legacy and "CU23 Aug26SU" in legacy and "CU23 → Aug26SU" in legacy
    assert "offline evidence: plan only" in legacy
    assert lines[-1].startswith("Totals: 4 to patch, 4 up to date, 4 blocked; 1 wave(s)")


def test_the_table_neutralises_hostile_names_and_reasons() -> None:
    plan = {"ad_preparation": {"needed": True, "steps": ["PrepareSchema"], "reasons": ["\x1b[31mred\x1b[0m"]},
            "waves": [{"number": 1, "servers": ["ex\u202e01"], "modelled_minutes": 80}],
            "servers": {"ex\u202e01": {"state": "patch", "wave": 1, "live": True, "reasons": ["line\nbreak\x00"],
                                       "current": {"cu": "CU14"}, "target": {"cu": "CU14", "su": "Aug26SU"},
                                       "steps": [{"kind": "su", "name": "Aug26SU"}]}},
            "summary": {"patch": 1, "waves": 1}}
    text = "\n".join(render_plan_table(plan))
    assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    assert "ex[U+202E]01" in text and "line break" in text
