"""The remediation as report.json shows it: per server what the plan meant to do, what the apply
play did, and the build before and after; for the estate the waves, the AD preparation, the
counts and whether the rollout stopped.

Inputs are the contracts of the remediation run (remediate-spec): plan.json (schema 1), the
outcome file each server got (outcomes/<host>.json), the assessment taken before patching and
the one taken after. Pure: no I/O; report_files reads the files and hands their contents here.

A server's state comes from its outcome when it has one (patched, failed, refused, skipped,
up_to_date), else from the plan (patch -> planned, blocked, up_to_date), else not_planned.
An outcome file that cannot be used is never read as a result: the server is shown as skipped
with the reason, so nobody mistakes it for patched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from .build_number import parse_file_version

STATES = ("patched", "failed", "refused", "skipped", "up_to_date", "planned", "blocked", "not_planned")
OUTCOME_STATES = ("patched", "failed", "refused", "skipped", "up_to_date")
_PLAN_STATES = {"patch": "planned", "blocked": "blocked", "up_to_date": "up_to_date"}
# A failed or refused server stops the rollout (remediate.yml): the servers of later waves are skipped.
_STOPPING = ("failed", "refused")
_LAST = float("inf")  # wave of a server without one: after every numbered wave
PLAN_SCHEMA = 1


class PlanError(ValueError):
    """plan.json does not have the shape of schema 1; the message names the offending key."""


@dataclass(frozen=True)
class UnreadableOutcome:
    """An outcome file that could not be read or parsed (problem says why)."""

    problem: str


@dataclass(frozen=True)
class RemediationReport:
    """hosts: inventory name -> the host's ``remediation`` object; estate: the top-level one."""

    hosts: dict[str, dict[str, Any]]
    estate: dict[str, Any]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _count_or_none(value: object) -> int | None:
    return value if _is_int(value) and value >= 0 else None


def _string_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def check_plan(plan: object) -> dict[str, Any]:
    """Return plan when it has the shape this module reads, else raise PlanError."""
    if not isinstance(plan, dict):
        raise PlanError("the plan is not a JSON object")
    if plan.get("schema") != PLAN_SCHEMA:
        raise PlanError(f"plan schema {plan.get('schema')!r} is not supported (expected {PLAN_SCHEMA})")
    servers = plan.get("servers")
    if not isinstance(servers, dict):
        raise PlanError("servers is missing or not an object")
    for name, server in servers.items():
        if not isinstance(server, dict):
            raise PlanError(f"servers.{name} is not an object")
        if server.get("state") not in _PLAN_STATES:
            raise PlanError(f"servers.{name}.state {server.get('state')!r} is not one of "
                            f"{', '.join(_PLAN_STATES)}")
        for key in ("current", "target"):
            if server.get(key) is not None and not isinstance(server.get(key), dict):
                raise PlanError(f"servers.{name}.{key} is not an object")
        if server.get("steps") is not None and not isinstance(server.get("steps"), list):
            raise PlanError(f"servers.{name}.steps is not a list")
        if server.get("reasons") is not None and not _string_list(server.get("reasons")):
            raise PlanError(f"servers.{name}.reasons is not a list of strings")
        if server.get("wave") is not None and not (_is_int(server["wave"]) and server["wave"] >= 1):
            raise PlanError(f"servers.{name}.wave {server.get('wave')!r} is not a wave number")
    waves = plan.get("waves")
    if not isinstance(waves, list):
        raise PlanError("waves is missing or not a list")
    for index, wave in enumerate(waves):
        if not isinstance(wave, dict) or not _is_int(wave.get("number")):
            raise PlanError(f"waves[{index}] has no wave number")
        if not _string_list(wave.get("servers")):
            raise PlanError(f"waves[{index}].servers is not a list of host names")
    ad_preparation = plan.get("ad_preparation")
    if ad_preparation is not None:
        if not isinstance(ad_preparation, dict):
            raise PlanError("ad_preparation is not an object")
        if not isinstance(ad_preparation.get("needed", False), bool):
            raise PlanError("ad_preparation.needed is not true or false")
        for key in ("steps", "reasons"):
            if ad_preparation.get(key) is not None and not _string_list(ad_preparation[key]):
                raise PlanError(f"ad_preparation.{key} is not a list of strings")
    if plan.get("summary") is not None and not isinstance(plan.get("summary"), dict):
        raise PlanError("summary is not an object")
    return plan


_OUTCOME_FIELDS: dict[str, tuple[type, ...]] = {
    "reason": (str,), "failed_step": (str,), "setup_log": (str,), "maintenance_exited": (bool,),
    "build_before": (str,), "build_after": (str,),
}


def outcome_problem(name: str, outcome: object) -> str | None:
    """Why an outcome file's content cannot be used for host name (None when it can)."""
    if isinstance(outcome, UnreadableOutcome):
        return outcome.problem
    if not isinstance(outcome, Mapping):
        return "not a JSON object"
    if outcome.get("state") not in OUTCOME_STATES:
        return f"state {outcome.get('state')!r} is not one of {', '.join(OUTCOME_STATES)}"
    host = outcome.get("host")
    if host is not None and host != name:
        # A file copied or renamed by hand would otherwise credit one server with another's result.
        return f"it is the outcome of {host!r}, not of {name!r}"
    for key, types in _OUTCOME_FIELDS.items():
        value = outcome.get(key)
        if value is not None and not isinstance(value, types):
            return f"{key} is {type(value).__name__}, expected {types[0].__name__} or null"
    wave = outcome.get("wave")
    if wave is not None and not (_is_int(wave) and wave >= 1):
        return f"wave {wave!r} is not a wave number"
    return None


def _build_text(value: object) -> str | None:
    """Normalised build ("15.01.2176.002" -> "15.1.2176.2"); None when it is not a build."""
    build = parse_file_version(value).build if isinstance(value, str) else None
    return str(build) if build is not None else None


def _version(source: Mapping[str, Any]) -> dict[str, str | None]:
    return {"build": _build_text(source.get("build")), "cu": _text(source.get("cu")), "su": _text(source.get("su"))}


def _exchange(entry: object) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        return {}
    exchange = entry.get("exchange")
    return dict(exchange) if isinstance(exchange, Mapping) else {}


def _before(name: str, before: Mapping[str, Any] | None, server: Mapping[str, Any],
            current: Mapping[str, Any]) -> dict[str, str | None]:
    """The build before remediation: the assessment taken before it, else the plan's record of
    the server (the plan was made from that assessment), else the report's own assessment.
    Without a before file the report's assessment may already be the one taken after patching,
    so the plan's record comes first."""
    candidates = []
    if before is not None:
        candidates.append(_exchange(before.get(name)))
    if isinstance(server.get("current"), Mapping):
        candidates.append(dict(server["current"]))
    candidates.append(_exchange(current))
    versions = [_version(candidate) for candidate in candidates]
    return next((version for version in versions if version["build"]), versions[0])


def _after(state: str, outcome: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any] | None:
    """The re-assessed build of a patched server; the build the apply play read back when the
    re-assessment has none (the server could not be collected again)."""
    if state != "patched":
        return None
    after = _version(_exchange(current))
    if after["build"] is None and outcome is not None:
        after = {"build": _build_text(outcome.get("build_after")), "cu": None, "su": None}
    return after


def _target(server: Mapping[str, Any]) -> dict[str, str | None] | None:
    target = server.get("target")
    if not isinstance(target, Mapping):
        return None
    return {"cu": _text(target.get("cu")), "su": _text(target.get("su")), "build": _build_text(target.get("build"))}


def step_text(step: object) -> str | None:
    """One plan step in a few words: "CU23 (15.1.2507.6, KB5011155)", "prerequisite .NET Framework 4.8"."""
    if not isinstance(step, Mapping):
        return None
    kind = _text(step.get("kind")) or "step"
    name = _text(step.get("name")) or _text(step.get("id")) or "?"
    details = [text for text in (_text(step.get("build")), _text(step.get("kb"))) if text]
    suffix = f" ({', '.join(details)})" if details else ""
    if kind in ("cu", "su"):
        return f"{name}{suffix}"
    return f"{kind.replace('_', ' ')} {name}{suffix}"


def _plan_reason(server: Mapping[str, Any]) -> str | None:
    # The planner writes some reasons as sentences; "; " after their full stop would read ".;".
    reasons = [reason.strip().rstrip(".") for reason in server.get("reasons") or [] if isinstance(reason, str)]
    return "; ".join(reason for reason in reasons if reason) or None


def _host_remediation(name: str, current: Mapping[str, Any], plan: Mapping[str, Any],
                      before: Mapping[str, Any] | None, raw_outcome: object) -> tuple[dict[str, Any], bool]:
    """The host's remediation object, and whether its state came from a usable outcome file."""
    servers = plan["servers"]
    server = servers.get(name) if isinstance(servers.get(name), Mapping) else {}
    outcome: Mapping[str, Any] | None = None
    if raw_outcome is not None:
        problem = outcome_problem(name, raw_outcome)
        if problem is None:
            outcome = cast(Mapping[str, Any], raw_outcome)
            state, reason = str(outcome["state"]), _text(outcome.get("reason"))
        else:
            state, reason = "skipped", f"outcome file unreadable: {problem}"
    elif server:
        state, reason = _PLAN_STATES[server["state"]], _plan_reason(server)
    else:
        state, reason = "not_planned", "not in the plan"
    wave = outcome.get("wave") if outcome is not None else None
    if wave is None:
        wave = server.get("wave")
    steps = [text for text in (step_text(step) for step in server.get("steps") or []) if text]
    entry = {
        "state": state,
        "reason": reason,
        "wave": wave,
        "before": _before(name, before, server, current),
        "after": _after(state, outcome, current),
        "target": _target(server),
        "failed_step": _text(outcome.get("failed_step")) if outcome is not None else None,
        "setup_log": _text(outcome.get("setup_log")) if outcome is not None else None,
        "maintenance_exited": outcome.get("maintenance_exited") if outcome is not None else None,
        "steps": steps,
    }
    return entry, outcome is not None


def _wave_key(entry: Mapping[str, Any]) -> float:
    return entry["wave"] if _is_int(entry["wave"]) else _LAST


def _stopped_by(hosts: Mapping[str, dict[str, Any]], from_outcome: set[str]) -> str | None:
    """The server whose failure (or refusal) stopped the rollout: the first one in wave order,
    when a server of a later wave was then skipped. A failure in the last wave stops nothing."""
    stoppers = sorted((_wave_key(entry), _STOPPING.index(entry["state"]), name)
                      for name, entry in hosts.items() if name in from_outcome and entry["state"] in _STOPPING)
    if not stoppers:
        return None
    wave, _, name = stoppers[0]
    skipped_later = any(entry["state"] == "skipped" and _wave_key(entry) > wave
                        for other, entry in hosts.items() if other in from_outcome)
    return name if skipped_later else None


def _waves(plan: Mapping[str, Any]) -> tuple[list[list[str]], list[int | None]]:
    ordered = sorted(plan["waves"], key=lambda wave: wave["number"])
    return ([list(wave["servers"]) for wave in ordered],
            [_count_or_none(wave.get("modelled_minutes")) for wave in ordered])


def summarise_remediation(current: Mapping[str, Mapping[str, Any]], plan: Mapping[str, Any],
                          before: Mapping[str, Mapping[str, Any]] | None = None,
                          outcomes: Mapping[str, object] | None = None) -> RemediationReport:
    """Build every report host's remediation object and the estate's.

    current: the report's assessment entries (taken after patching when there was patching);
    plan: plan.json (checked with check_plan); before: the assessment taken before patching, or
    None; outcomes: host -> parsed outcome file (a mapping) or UnreadableOutcome. Outcomes of
    hosts that are not in the report are not counted: the counts match the rows shown.
    """
    plan = check_plan(plan)
    hosts: dict[str, dict[str, Any]] = {}
    from_outcome: set[str] = set()
    for name in sorted(current):
        entry, read = _host_remediation(name, current[name], plan, before, (outcomes or {}).get(name))
        hosts[name] = entry
        if read:
            from_outcome.add(name)
    plan_summary = plan.get("summary") or {}
    counts: dict[str, int | None] = {state: sum(1 for entry in hosts.values() if entry["state"] == state)
                                     for state in STATES}
    counts["modelled_window_minutes"] = _count_or_none(plan_summary.get("modelled_window_minutes"))
    counts["serial_window_minutes"] = _count_or_none(plan_summary.get("serial_window_minutes"))
    waves, wave_minutes = _waves(plan)
    stopped_by = _stopped_by(hosts, from_outcome)
    ad_preparation = plan.get("ad_preparation")
    estate = {
        "waves": waves,
        "wave_minutes": wave_minutes,
        "ad_preparation": copy.deepcopy(dict(ad_preparation)) if isinstance(ad_preparation, Mapping) else None,
        "summary": counts,
        "rollout_stopped": stopped_by is not None,
        "stopped_by": stopped_by,
        "plan_generated_at": _text(plan.get("generated_at")),
    }
    return RemediationReport(hosts, estate)
