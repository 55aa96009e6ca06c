"""The nightly run's policy: which findings fail the run (exit status 2 in CI).

A policy is a list of condition names (``fail_when``). Every known condition is evaluated and
reported, enforced or not, so that a reader sees what would have failed under a stricter
policy; only the enforced ones decide ``failed``. A condition that cannot be judged in this run
(no maintenance window, no previous report) is reported as not evaluated and never triggers:
failing a run for something it could not check would teach people to ignore the exit status.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

CONDITIONS = ("compromised", "vulnerable", "unknown", "unpatched_after_window", "new_indicators")
# Remediation states of a server that should have been patched in the window and was not.
UNPATCHED_STATES = ("planned", "failed", "refused", "skipped")
# Host names listed in one summary; the full list is in the condition's hosts.
_NAMES_SHOWN = 10

_NOT_IN_WINDOW = "not evaluated: this run did not patch in a maintenance window"
_NO_PREVIOUS = "not evaluated: no previous report to compare with"
_WHAT = {
    "compromised": "compromised",
    "vulnerable": "vulnerable",
    "unknown": "unknown",
    "unpatched_after_window": "left unpatched after the window",
    "new_indicators": "with new indicators",
}


class PolicyError(ValueError):
    """The policy (fail_when) cannot be used; the message says which entry and why."""


def _normalise(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def parse_fail_when(value: object) -> tuple[str, ...]:
    """The enforced conditions, normalised and deduplicated in the given order.

    Accepts a list of names or one comma-separated string; "Unpatched after-window" and
    "unpatched_after_window" are the same condition. An empty list never fails a run.
    """
    if isinstance(value, str):
        entries: list[object] = value.split(",") if value.strip() else []
    elif isinstance(value, (list, tuple)):
        entries = list(value)
    else:
        raise PolicyError(f"fail_when must be a list of condition names, got {type(value).__name__}")
    names: list[str] = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, str):
            raise PolicyError(f"fail_when entry {position} must be a condition name (a string), "
                              f"got {type(entry).__name__} {entry!r}")
        name = _normalise(entry)
        if not name:
            raise PolicyError(f"fail_when entry {position} is empty; valid conditions: {', '.join(CONDITIONS)}")
        if name not in CONDITIONS:
            close = difflib.get_close_matches(name, CONDITIONS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise PolicyError(f"fail_when entry {position}: unknown condition {entry.strip()!r}{hint}; "
                              f"valid conditions: {', '.join(CONDITIONS)}")
        if name not in names:
            names.append(name)
    return tuple(names)


def _hosts(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    hosts = report.get("hosts")
    if not isinstance(hosts, Mapping):
        return []
    return [(str(name), host) for name, host in sorted(hosts.items(), key=lambda item: str(item[0]))
            if isinstance(host, Mapping)]


def _field(host: Mapping[str, Any], outer: str, inner: str) -> Any:
    value = host.get(outer)
    return value.get(inner) if isinstance(value, Mapping) else None


def unknown_reasons(host: Mapping[str, Any]) -> list[str]:
    """Why a server's state cannot be told, in a few words each; empty when it can."""
    if host.get("status") != "ok":
        return ["not assessed"]
    reasons = []
    if not _field(host, "exchange", "build"):
        reasons.append("build unknown")
    cves = host.get("cves")
    unknown_cves = sum(1 for status in cves.values() if status == "unknown") if isinstance(cves, Mapping) else 0
    if unknown_cves:
        reasons.append(f"{unknown_cves} CVE{'s' if unknown_cves != 1 else ''} unknown")
    if _field(host, "verdict", "compromised") == "unknown":
        reasons.append("compromise unknown")
    return reasons


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def _servers(count: int) -> str:
    return f"{count} server{'s' if count != 1 else ''}"


def _condition(name: str, enforced: bool, evaluated: bool, hosts: list[str], detail: list[str] | None = None,
               not_evaluated: str = "") -> dict[str, Any]:
    if not evaluated:
        summary = not_evaluated
    elif not hosts:
        summary = f"no server {_WHAT[name]}"
    else:
        summary = f"{_servers(len(hosts))} {_WHAT[name]}: {_names(detail or hosts)}"
    return {"name": name, "enforced": enforced, "evaluated": evaluated, "triggered": evaluated and bool(hosts),
            "hosts": hosts if evaluated else [], "summary": summary}


def _new_indicator_hosts(report: Mapping[str, Any]) -> list[str] | None:
    drift = report.get("drift")
    if not isinstance(drift, Mapping) or not isinstance(drift.get("previous"), Mapping):
        return None
    # The per-host changes, not the new_indicators list: that list is capped.
    return sorted({str(change.get("host")) for change in drift.get("changes") or []
                   if isinstance(change, Mapping) and change.get("kind") == "new_indicators"})


def evaluate_policy(report: Mapping[str, Any], fail_when: Sequence[str]) -> dict[str, Any]:
    """The report's ``policy`` object: every known condition in CONDITIONS order, and whether
    an enforced one triggered. fail_when must come from parse_fail_when."""
    enforced = set(fail_when)
    hosts = _hosts(report)
    conditions = []
    compromised = [name for name, host in hosts if _field(host, "verdict", "compromised") == "yes"]
    conditions.append(_condition("compromised", "compromised" in enforced, True, compromised))
    vulnerable = [name for name, host in hosts if _field(host, "verdict", "vulnerable") is True]
    conditions.append(_condition("vulnerable", "vulnerable" in enforced, True, vulnerable))
    unknown = [(name, unknown_reasons(host)) for name, host in hosts]
    unknown = [(name, reasons) for name, reasons in unknown if reasons]
    conditions.append(_condition("unknown", "unknown" in enforced, True, [name for name, _ in unknown],
                                 [f"{name} ({', '.join(reasons)})" for name, reasons in unknown]))
    window = report.get("patch_window")
    in_window = isinstance(window, Mapping) and window.get("applied") is True
    unpatched = [(name, str(_field(host, "remediation", "state"))) for name, host in hosts
                 if _field(host, "remediation", "state") in UNPATCHED_STATES]
    conditions.append(_condition("unpatched_after_window", "unpatched_after_window" in enforced, in_window,
                                 [name for name, _ in unpatched], [f"{name} ({state})" for name, state in unpatched],
                                 _NOT_IN_WINDOW))
    new_hosts = _new_indicator_hosts(report)
    conditions.append(_condition("new_indicators", "new_indicators" in enforced, new_hosts is not None,
                                 new_hosts or [], not_evaluated=_NO_PREVIOUS))
    triggered = [c for c in conditions if c["enforced"] and c["triggered"]]
    return {"fail_when": list(fail_when),
            "failed": bool(triggered), "conditions": conditions, "summary": _summary(conditions, triggered)}


def _summary(conditions: list[dict[str, Any]], triggered: list[dict[str, Any]]) -> str:
    if triggered:
        parts = []
        for condition in triggered:
            names = condition["hosts"]
            parts.append(f"{condition['name']} ({names[0]})" if len(names) == 1
                         else f"{condition['name']} ({_servers(len(names))}: {_names(names)})")
        return "policy failed: " + "; ".join(parts)
    enforced = [c["name"] for c in conditions if c["enforced"]]
    if not enforced:
        return "policy passed: no condition is enforced"
    skipped = [c["name"] for c in conditions if c["enforced"] and not c["evaluated"]]
    text = f"policy passed: none of {', '.join(enforced)} triggered"
    return text + (f" ({', '.join(skipped)} not evaluated)" if skipped else "")
