"""Jinja filters: the decisions of roles exchange_patch and exchange_maintenance.

Thin adapters over module_utils/exchange_remediation/patch_checks.py, so the roles' PowerShell
only reads and every judgement (may this server be touched, is it in maintenance, did the
update take) is made in tested Python on the controller.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ansible.errors import AnsibleFilterError

# The pure core lives in ../module_utils; Ansible only makes it importable inside modules.
_CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from exchange_remediation import patch_checks, wave_window  # noqa: E402


def exchange_patch_precheck(facts: Mapping[str, Any], server_plan: Mapping[str, Any], thresholds: Mapping[str, Any],
                            prerequisite_arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{decision: patch|up_to_date|refused, build, pending_steps, checks, failures}."""
    return patch_checks.evaluate_precheck(facts, server_plan, thresholds, prerequisite_arguments).as_dict()


def exchange_precheck_failures(facts: Mapping[str, Any], server_plan: Mapping[str, Any], thresholds: Mapping[str, Any],
                               prerequisite_arguments: Mapping[str, Any] | None = None) -> list[str]:
    return patch_checks.precheck_failures(facts, server_plan, thresholds, prerequisite_arguments)


def exchange_patch_postcheck(facts: Mapping[str, Any], server_plan: Mapping[str, Any], recorded_start_modes: Any,
                             thresholds: Mapping[str, Any] | None = None,
                             in_maintenance: bool = True) -> list[dict[str, Any]]:
    """The post-checks as outcome ``checks`` entries."""
    return [
        check.as_dict()
        for check in patch_checks.evaluate_postcheck(facts, server_plan, recorded_start_modes, thresholds,
                                                     in_maintenance)
    ]


def exchange_postcheck_failures(facts: Mapping[str, Any], server_plan: Mapping[str, Any], recorded_start_modes: Any,
                                thresholds: Mapping[str, Any] | None = None,
                                in_maintenance: bool = True) -> list[str]:
    return patch_checks.postcheck_failures(facts, server_plan, recorded_start_modes, thresholds, in_maintenance)


def exchange_patch_step_failures(facts: Mapping[str, Any], step: Mapping[str, Any]) -> list[str]:
    return patch_checks.step_failures(facts, step)


def exchange_patch_automatic_services(services: Any) -> list[dict[str, str]]:
    return patch_checks.automatic_services(services)


def exchange_maintenance_problems(state: Mapping[str, Any], mode: str, expect_empty_queues: bool = True) -> list[str]:
    return patch_checks.maintenance_problems(state, mode, expect_empty_queues)


def exchange_maintenance_exit_problems(state: Mapping[str, Any], mode: str,
                                       original_policy: str | None = None) -> list[str]:
    return patch_checks.maintenance_exit_problems(state, mode, original_policy)


def exchange_patch_outcome_record(host: str, server_plan: Mapping[str, Any], precheck: Mapping[str, Any] | None,
                                  progress: Mapping[str, Any]) -> dict[str, Any]:
    """outcomes/<host>.json for this server (remediate-spec.md)."""
    return patch_checks.patch_outcome(host, server_plan, precheck, progress)


def exchange_patch_wave_skip_reason(closes_at: str, wave: int | None, minutes: int | None, now: str = "") -> str:
    """Empty when the wave fits before the maintenance window closes, else why it must not start."""
    if not closes_at:
        return ""
    moment = wave_window.parse_instant(now) if now else datetime.now(UTC)
    try:
        return wave_window.wave_skip_reason(closes_at, wave, minutes, moment)
    except wave_window.WaveWindowError as exc:
        raise AnsibleFilterError(f"exchange_patch_window_closes_at: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "exchange_patch_wave_skip_reason": exchange_patch_wave_skip_reason,
            "exchange_patch_precheck": exchange_patch_precheck,
            "exchange_precheck_failures": exchange_precheck_failures,
            "exchange_patch_postcheck": exchange_patch_postcheck,
            "exchange_postcheck_failures": exchange_postcheck_failures,
            "exchange_patch_step_failures": exchange_patch_step_failures,
            "exchange_patch_automatic_services": exchange_patch_automatic_services,
            "exchange_maintenance_problems": exchange_maintenance_problems,
            "exchange_maintenance_exit_problems": exchange_maintenance_exit_problems,
            "exchange_patch_outcome_record": exchange_patch_outcome_record,
        }
