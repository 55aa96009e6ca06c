"""What changed since the previous run: the report's ``drift`` object.

A nightly run compares its report with the one before it, so that a reader sees tonight's news
(a server that lost its SU, a CVE newly open, a finding not seen yesterday) instead of the same
long list every morning. Only the two reports are compared: nothing is re-read from evidence.

An indicator is "new" when the previous report of the same server had no indicator with the
same rule, source (case-insensitive: Windows paths), line and time. Servers that are only in
one report are listed as added or gone; their findings are judged by the report itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

MAX_NEW_INDICATORS = 200  # listed in the report; new_indicators_total is the real count
_NO_PREVIOUS = "no previous report: drift not checked"


class PreviousReportError(ValueError):
    """The previous report cannot be compared with; the message names the file and says why."""


def read_previous_report(path: str) -> dict[str, Any]:
    """The previous report.json (format version 1), or PreviousReportError "previous report PATH: why"."""
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except OSError as exc:
        raise PreviousReportError(f"previous report {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise PreviousReportError(f"previous report {path}: not JSON ({exc})") from exc
    problem = _report_problem(report)
    if problem:
        raise PreviousReportError(f"previous report {path}: {problem}")
    return report


def _report_problem(report: object) -> str | None:
    if not isinstance(report, dict):
        return f"not a report.json (a JSON {type(report).__name__}, not an object)"
    if "schema" not in report or "hosts" not in report:
        return "not a report.json (no schema or hosts)"
    if report["schema"] != 1:
        return f"report schema {report['schema']!r} is not supported (only 1)"
    hosts = report["hosts"]
    if not isinstance(hosts, dict) or not all(isinstance(host, dict) for host in hosts.values()):
        return "not a report.json (hosts is not an object of host objects)"
    return None


def _get(host: Mapping[str, Any], outer: str, inner: str) -> Any:
    value = host.get(outer)
    return value.get(inner) if isinstance(value, Mapping) else None


def _version(host: Mapping[str, Any]) -> str:
    cu, su = _get(host, "exchange", "cu"), _get(host, "exchange", "su")
    if not cu:
        return "unknown"
    return f"{cu} {su or 'no SU'}"


def _vulnerable_cves(host: Mapping[str, Any]) -> list[str]:
    cves = host.get("cves")
    if not isinstance(cves, Mapping):
        return []
    return sorted(str(cve) for cve, status in cves.items() if status == "vulnerable")


def indicator_key(indicator: Mapping[str, Any]) -> tuple[str, str, Any, Any]:
    """Identity of a finding across runs: the same rule on the same record of the same log."""
    return (str(indicator.get("rule")), str(indicator.get("source") or "").lower(), indicator.get("line"),
            indicator.get("time"))


def _indicators(host: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    indicators = host.get("indicators")
    return [i for i in indicators if isinstance(i, Mapping)] if isinstance(indicators, list) else []


def _change(name: str, kind: str, before: Any, after: Any, summary: str) -> dict[str, Any]:
    return {"host": name, "kind": kind, "before": before, "after": after, "summary": summary}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def host_changes(name: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[list[dict[str, Any]],
                                                                                         list[Mapping[str, Any]]]:
    """(changes, new indicators) of one server present in both reports."""
    changes = []
    build_before, build_after = _get(before, "exchange", "build"), _get(after, "exchange", "build")
    if build_before != build_after:
        changes.append(_change(name, "build", build_before, build_after,
                               f"build {build_before or 'unknown'} -> {build_after or 'unknown'} "
                               f"({_version(before)} -> {_version(after)})"))
    if before.get("status") != after.get("status"):
        changes.append(_change(name, "status", before.get("status"), after.get("status"),
                               f"status {before.get('status')} -> {after.get('status')}"))
    vulnerable_before, vulnerable_after = _get(before, "verdict", "vulnerable"), _get(after, "verdict", "vulnerable")
    if vulnerable_before != vulnerable_after:
        text = {True: "now vulnerable", False: "no longer vulnerable"}.get(vulnerable_after, "vulnerable unknown")
        changes.append(_change(name, "vulnerable", vulnerable_before, vulnerable_after, text))
    compromised_before, compromised_after = _get(before, "verdict", "compromised"), _get(after, "verdict",
                                                                                           "compromised")
    if compromised_before != compromised_after:
        changes.append(_change(name, "compromised", compromised_before, compromised_after,
                               f"compromised {compromised_before or 'unknown'} -> {compromised_after or 'unknown'}"))
    open_before, open_after = _vulnerable_cves(before), _vulnerable_cves(after)
    opened = [cve for cve in open_after if cve not in open_before]
    closed = [cve for cve in open_before if cve not in open_after]
    if opened:
        changes.append(_change(name, "cves_opened", open_before, open_after,
                               f"{_plural(len(opened), 'CVE')} newly vulnerable: {', '.join(opened)}"))
    if closed:
        changes.append(_change(name, "cves_closed", open_before, open_after,
                               f"{_plural(len(closed), 'CVE')} no longer vulnerable: {', '.join(closed)}"))
    seen = {indicator_key(indicator) for indicator in _indicators(before)}
    new = [indicator for indicator in _indicators(after) if indicator_key(indicator) not in seen]
    if new:
        rules = sorted({str(indicator.get("rule")) for indicator in new})
        changes.append(_change(name, "new_indicators", len(_indicators(before)), len(_indicators(after)),
                               f"{_plural(len(new), 'new indicator')} ({', '.join(rules)})"))
    state_before, state_after = _get(before, "remediation", "state"), _get(after, "remediation", "state")
    # Only runs that both patched say something about remediation: an assessment has no state.
    if state_before and state_after and state_before != state_after:
        changes.append(_change(name, "remediation", state_before, state_after,
                               f"remediation {state_before} -> {state_after}"))
    return changes, new


def _new_indicator_entry(name: str, indicator: Mapping[str, Any]) -> dict[str, Any]:
    return {"host": name, "rule": indicator.get("rule"), "severity": indicator.get("severity"),
            "source": indicator.get("source"), "line": indicator.get("line"), "time": indicator.get("time")}


def compare_reports(current: Mapping[str, Any], previous: Mapping[str, Any] | None,
                    previous_path: str | None = None) -> dict[str, Any]:
    """The ``drift`` object of current against previous (None: drift was asked for but there is
    no previous report, which is said rather than shown as "no change")."""
    if previous is None:
        return {"previous": None, "hosts_added": [], "hosts_gone": [], "changes": [], "new_indicators": [],
                "new_indicators_total": 0, "summary": _NO_PREVIOUS}
    now = current.get("hosts") if isinstance(current.get("hosts"), Mapping) else {}
    then = previous.get("hosts") if isinstance(previous.get("hosts"), Mapping) else {}
    changes: list[dict[str, Any]] = []
    new_indicators: list[dict[str, Any]] = []
    total = 0
    for name in sorted(set(now) & set(then)):
        host_now, host_then = now[name], then[name]
        if not isinstance(host_now, Mapping) or not isinstance(host_then, Mapping):
            continue
        host_changed, new = host_changes(name, host_then, host_now)
        changes += host_changed
        total += len(new)
        room = MAX_NEW_INDICATORS - len(new_indicators)
        new_indicators += [_new_indicator_entry(name, indicator) for indicator in new[:max(room, 0)]]
    added, gone = sorted(set(now) - set(then)), sorted(set(then) - set(now))
    path = os.path.abspath(previous_path) if previous_path else None
    return {
        "previous": {"path": path, "generated_at": previous.get("generated_at")},
        "hosts_added": added, "hosts_gone": gone, "changes": changes,
        "new_indicators": new_indicators, "new_indicators_total": total,
        "summary": _summary(len({change["host"] for change in changes}), len(added), len(gone), total),
    }


def _summary(changed: int, added: int, gone: int, new: int) -> str:
    parts = []
    if changed:
        parts.append(f"{_plural(changed, 'server')} changed")
    if added:
        parts.append(f"{added} added")
    if gone:
        parts.append(f"{gone} gone")
    if new:
        parts.append(_plural(new, "new indicator"))
    return ", ".join(parts) or "no change since the previous report"
