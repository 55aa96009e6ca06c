"""tools/patch_bench.py in small: the modelled estate plans into four waves, and the large
estate generator gives DAGs of one CU each that the planner schedules at the lower bound."""

from __future__ import annotations

import datetime as dt

import patch_bench
import pytest

from exchange_remediation.knowledge_base import load_knowledge
from exchange_remediation.patch_knowledge import load_patch_knowledge
from exchange_remediation.patch_plan import PlanOptions, plan_estate
from exchange_remediation.server_assessment import AssessmentContext


@pytest.fixture(scope="module")
def context() -> AssessmentContext:
    base = load_knowledge(patch_bench.DATA)
    return AssessmentContext(base.catalog, base.table, base.march21, dt.date(2026, 11, 29))


def test_the_modelled_estate_patches_in_as_many_waves_as_its_largest_dag(context: AssessmentContext) -> None:
    servers = patch_bench.modelled_estate()
    assert len(servers) == 24
    plan = plan_estate(patch_bench.assess(servers, context), servers, load_patch_knowledge(patch_bench.DATA),
                       PlanOptions(), "2026-11-29T00:00:00Z")
    assert plan["summary"]["patch"] == 24
    assert plan["summary"]["waves"] == 4 == plan["summary"]["lower_bound"]
    assert plan["summary"]["modelled_window_minutes"] * 2 < plan["summary"]["serial_window_minutes"]
    for wave in plan["waves"]:
        dags = [plan["servers"][name]["dag"] for name in wave["servers"] if plan["servers"][name]["dag"]]
        assert len(dags) == len(set(dags)) == 4


def test_the_large_estate_has_dags_of_one_build_and_the_requested_size() -> None:
    servers = patch_bench.large_estate(600, seed=4)
    assert len(servers) == 600
    builds_by_dag: dict[str, set[str]] = {}
    for facts in servers.values():
        dag = facts["exchange"]["dag"]
        if dag:
            builds_by_dag.setdefault(dag, set()).add(facts["exchange"]["exsetup_version"])
    assert builds_by_dag and all(len(builds) == 1 for builds in builds_by_dag.values())
    assert all(2 <= sum(1 for f in servers.values() if f["exchange"]["dag"] == dag) <= 16 for dag in builds_by_dag)
