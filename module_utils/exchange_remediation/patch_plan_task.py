"""What the exchange_patch_plan task does, given validated arguments.

Shared by library/exchange_patch_plan.py and the action plugin of the same name. It reads the
run's assessment and every host's server.json on the controller, plans the estate with the pure
planner, writes plan.json and plan.md, and hands the playbook the order in which to patch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .estate_assessment import read_assessment
from .evidence_bundle import read_bundle_facts
from .patch_knowledge import load_patch_knowledge
from .patch_plan import PlanOptions, plan_estate
from .plan_markdown import plan_markdown
from .plan_table import render_plan_table

PLAN_ARGUMENTS: dict[str, Any] = {
    "assessment_file": {"type": "path", "required": True},
    "data_dir": {"type": "path", "required": True},
    "output_dir": {"type": "path", "required": True},
    "generated_at": {"type": "str", "required": True},
    "hosts": {"type": "list", "elements": "str"},
    "max_per_wave": {"type": "int"},
    "max_per_site": {"type": "int"},
    "upgrade_to_se": {"type": "bool", "default": False},
    "diagnostic_data": {"type": "str", "choices": ["OFF", "ON"], "default": "OFF"},
    "domain_controller": {"type": "str"},
    "extended_protection_opt_out": {"type": "str", "choices": ["", "DoNotEnableEP", "DoNotEnableEP_FEEWS"],
                                    "default": ""},
    "media_sha256": {"type": "dict", "default": {}},
}


class PlanInputError(ValueError):
    """The plan cannot be made from these inputs; the message names the input."""


def _server_facts(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    evidence_dir = entry.get("evidence_dir")
    if not isinstance(evidence_dir, str) or not evidence_dir:
        return None
    return read_bundle_facts(evidence_dir).server


def _apply_order(plan: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """Live servers to patch, wave after wave, and the size of each wave for the play's serial.

    Offline evidence bundles are planned like any server but never applied, so a wave made only
    of them disappears from the rollout instead of running an empty batch.
    """
    servers = plan["servers"]
    order: list[str] = []
    batches: list[int] = []
    for wave in plan["waves"]:
        live = [name for name in wave["servers"] if servers[name].get("live")]
        if live:
            order.extend(live)
            batches.append(len(live))
    return order, batches


def _ad_prep_hosts(plan: Mapping[str, Any], order: list[str]) -> list[str]:
    """The one live server that prepares AD: the first to be patched that carries the target media."""
    ad = plan.get("ad_preparation") or {}
    media = ad.get("media")
    if not ad.get("needed") or not media:
        return []
    for name in order:
        if any(item.get("id") == media for item in plan["servers"][name].get("media", [])):
            return [name]
    return []


def _write(path: str, text: str) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def run_patch_plan(params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        assessment = read_assessment(params["assessment_file"])
    except (OSError, ValueError) as exc:
        raise PlanInputError(f"cannot read the assessment {params['assessment_file']}: {exc}") from exc
    wanted = params.get("hosts")
    if wanted:
        unknown = sorted(set(wanted) - set(assessment))
        if unknown:
            raise PlanInputError(f"hosts: {', '.join(unknown)} not in the assessment {params['assessment_file']}")
    servers = {name: _server_facts(entry) for name, entry in assessment.items()}
    try:
        options = PlanOptions(
            max_per_wave=params.get("max_per_wave"),
            max_per_site=params.get("max_per_site"),
            upgrade_to_se=bool(params.get("upgrade_to_se")),
            diagnostic_data=params.get("diagnostic_data") or "OFF",
            domain_controller=params.get("domain_controller") or None,
            extended_protection_opt_out=params.get("extended_protection_opt_out") or None,
            media_sha256=dict(params.get("media_sha256") or {}),
            hosts=tuple(wanted) if wanted else None,
        )
        knowledge = load_patch_knowledge(params["data_dir"])
        plan = plan_estate(assessment, servers, knowledge, options, params["generated_at"])
    except ValueError as exc:
        raise PlanInputError(str(exc)) from exc
    output_dir = params["output_dir"]
    plan_file = os.path.join(output_dir, "plan.json")
    markdown_file = os.path.join(output_dir, "plan.md")
    try:
        os.makedirs(output_dir, exist_ok=True)
        _write(plan_file, json.dumps(plan, indent=2, sort_keys=False) + "\n")
        _write(markdown_file, plan_markdown(plan))
    except OSError as exc:
        raise PlanInputError(f"cannot write the plan to {output_dir}: {exc.strerror or exc}") from exc
    order, batches = _apply_order(plan)
    compact = {name: {"state": entry["state"], "wave": entry.get("wave"), "live": entry.get("live"),
                      "reasons": entry.get("reasons", [])}
               for name, entry in plan["servers"].items()}
    # The plan is written on the controller, which is output of the run, not a change to a server.
    return {"changed": False, "plan_file": plan_file, "markdown_file": markdown_file,
            "summary": plan["summary"], "ad_preparation": plan["ad_preparation"],
            "waves": [wave["servers"] for wave in plan["waves"]], "servers": compact,
            "apply_hosts": order, "apply_batches": batches, "ad_prep_hosts": _ad_prep_hosts(plan, order),
            "table": render_plan_table(plan)}
