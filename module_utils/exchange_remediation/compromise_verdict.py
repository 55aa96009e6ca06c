"""Whether a server shows it was compromised: yes, no, or unknown — and never "no" without having looked.

"yes" needs one critical or high finding that is not an attempt against an already patched
server. "no" needs every required source present and fully read, and logs that cover nearly all
of each window in which the server was open to a campaign. Anything else is "unknown", with
the reasons, because a clean result from logs that could not see the attack is worse than none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

YES, NO, UNKNOWN = "yes", "no", "unknown"
SERIOUS = ("critical", "high")
# Streams without timestamps say nothing about how far back the logs reach.
_UNTIMED_STREAMS = ("WebFolders", "SystemFiles")


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def log_span(sources: Mapping[str, Mapping[str, Any]]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The period every required, timed source covers: from the youngest first line to the oldest last."""
    firsts, lasts = [], []
    for name, stats in sources.items():
        if not stats.get("required") or name in _UNTIMED_STREAMS:
            continue
        first, last = parse_time(stats.get("first")), parse_time(stats.get("last"))
        if first is None or last is None:
            return None, None
        firsts.append(first)
        lasts.append(last)
    if not firsts:
        return None, None
    return max(firsts), min(lasts)


def _family_of(attack: Any, exposure: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for window in exposure:
        if attack in (window.get("attacks") or [window.get("attack")]):
            return window
    return None


def is_attempt(finding: Mapping[str, Any], exposure: Sequence[Mapping[str, Any]]) -> bool:
    """A campaign's request logged when the server was no longer (or never) open to that campaign."""
    window = _family_of(finding.get("attack"), exposure)
    if window is None:
        return False
    if window.get("start") is None and window.get("end") is None:
        return True  # the campaign's CVEs do not apply to this product
    moment = parse_time(finding.get("time"))
    if moment is None:
        return False
    if not window.get("exposed"):
        return True
    end = parse_time(window.get("end"))
    return end is not None and moment >= end + dt.timedelta(days=1)


def _source_reasons(sources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    reasons = []
    for name, stats in sorted(sources.items()):
        if not stats.get("required"):
            continue
        if not stats.get("present"):
            reasons.append(f"{name}: not in the evidence")
        elif stats.get("capped"):
            reasons.append(f"{name}: not fully read (a size cap was hit or a check could not run)")
        elif stats.get("unreadable"):
            reasons.append(f"{name}: {stats['unreadable']} file(s) could not be read")
    return reasons


def judge(hunt: Mapping[str, Any] | None, exposure: list[dict[str, Any]], min_coverage: float,
          build_known: bool, collected_at: str | None = None) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """(compromised, indicators, hunt block for the report) for one host.

    exposure: the windows of the assessment (ExposureWindow.to_report); their covered_percent is
    filled in here from the sources the hunt read. A window ends with its last day, or at the
    moment of collection when that comes first.
    """
    if not hunt or hunt.get("status") != "done":
        status = hunt.get("status", "not_run") if hunt else "not_run"
        reason = (hunt or {}).get("error") or "the hunt did not run for this host"
        block = {"status": status, "error": (hunt or {}).get("error"), "sources": {}, "exposure": exposure,
                 "coverage_percent": None, "min_coverage_percent": min_coverage, "reasons": [reason],
                 "excluded": {}, "findings_total": 0, "findings_shown": 0, "rules": (hunt or {}).get("rules", 0),
                 "warnings": list((hunt or {}).get("warnings") or [])}
        return UNKNOWN, [], block
    sources = hunt.get("sources") or {}
    logs_from, logs_to = log_span(sources)
    windows = []
    for window in exposure:
        covered = _covered(window, logs_from, logs_to, parse_time(collected_at))
        windows.append({**window, "covered_percent": covered})
    indicators = []
    for finding in hunt.get("findings") or []:
        indicators.append({**finding, "attempt": is_attempt(finding, windows)})
    reasons = []
    serious = [f for f in indicators if f.get("severity") in SERIOUS and not f["attempt"]]
    coverage = min((w["covered_percent"] for w in windows if w.get("exposed")), default=100.0)
    if serious:
        verdict = YES
    else:
        if hunt.get("collection_error"):
            reasons.append(str(hunt["collection_error"]))
        reasons.extend(_source_reasons(sources))
        if not build_known:
            reasons.append("the build is unknown, so the exposure windows cannot be told")
        for window in windows:
            if window.get("exposed") and window["covered_percent"] < min_coverage:
                reasons.append(f"logs cover {_percent(window['covered_percent'])} of the {window['attack']} exposure "
                               f"window ({window['start']} to {window['end']}; minimum {_percent(min_coverage)})")
        if hunt.get("findings_dropped"):
            reasons.append(f"{hunt['findings_dropped']} findings beyond the per-rule limit were not kept")
        verdict = UNKNOWN if reasons else NO
    block = {
        "status": "done", "error": None, "rules": hunt.get("rules", 0), "sources": dict(sources),
        "exposure": windows, "coverage_percent": coverage, "min_coverage_percent": min_coverage,
        "logs_from": logs_from.isoformat().replace("+00:00", "Z") if logs_from else None,
        "logs_to": logs_to.isoformat().replace("+00:00", "Z") if logs_to else None,
        "reasons": reasons, "excluded": dict(hunt.get("excluded") or {}),
        "findings_total": hunt.get("findings_total", len(indicators)), "findings_shown": len(indicators),
        "warnings": list(hunt.get("warnings") or []),
    }
    return verdict, indicators, block


def _covered(window: Mapping[str, Any], logs_from: dt.datetime | None, logs_to: dt.datetime | None,
             collected: dt.datetime | None) -> float:
    if not window.get("exposed"):
        return 100.0
    start, end = parse_time(window.get("start")), parse_time(window.get("end"))
    if start is None or end is None or logs_from is None or logs_to is None:
        return 0.0
    end += dt.timedelta(days=1)
    if collected is not None and start < collected < end:
        end = collected
    overlap = (min(end, logs_to) - max(start, logs_from)).total_seconds()
    return round(max(0.0, overlap) * 100.0 / (end - start).total_seconds(), 1)


def _percent(value: float) -> str:
    return f"{value:g}%"
