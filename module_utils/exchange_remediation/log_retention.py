"""How far back each server's logs reach, and a warning when that is less than required.

A hunt over 12 days of logs that finds nothing says nothing about day 13. Exchange prunes its
own logs (HttpProxy and ECP keep 30 days by default, less when their size cap is hit) and IIS
logs are often deleted by clean-up scripts, so a server whose retention is short is told apart
in the report even when its compromise verdict is already unknown for another reason.

The reach is measured from the hunt's logs_from (the youngest first record of the required,
timed sources: before it, at least one of them saw nothing) to the moment of collection (or the
last record read, when the collection time is unknown). Pure: stdlib only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .compromise_verdict import parse_time

WARNING_CODE = "log_retention_short"
_DAY_SECONDS = 86400


def _second(moment: dt.datetime) -> dt.datetime:
    # IIS logs have whole seconds, Exchange logs milliseconds: the same start is a tie.
    return moment.replace(microsecond=0)


def limiting_sources(sources: Mapping[str, Any], logs_from: dt.datetime) -> list[str]:
    """The present, timed sources whose first record is the youngest (they set how far back the
    hunt saw); ties are all listed, sorted by name."""
    firsts = {}
    for name, stats in sources.items():
        if not isinstance(stats, Mapping) or stats.get("present") is not True:
            continue
        first = parse_time(stats.get("first"))
        if first is not None:
            firsts[str(name)] = _second(first)
    if not firsts:
        return []
    youngest = max(firsts.values())
    # logs_from comes from the required sources; a younger optional source limits nothing there.
    limit = _second(logs_from) if _second(logs_from) in firsts.values() else youngest
    return sorted(name for name, first in firsts.items() if first == limit)


def host_retention(host: Mapping[str, Any], required_days: int) -> dict[str, Any] | None:
    """The hunt's ``retention`` object of one server, or None without a hunt or timed logs."""
    hunt = host.get("hunt")
    if not isinstance(hunt, Mapping):
        return None
    logs_from = parse_time(hunt.get("logs_from"))
    # Collection time, else the last record read: the logs may not reach the collection.
    end_text = host.get("collected_at") if parse_time(host.get("collected_at")) else hunt.get("logs_to")
    measured_to = parse_time(end_text)
    if logs_from is None or measured_to is None:
        return None
    days = round((measured_to - logs_from).total_seconds() / _DAY_SECONDS, 1)
    sources = hunt.get("sources") if isinstance(hunt.get("sources"), Mapping) else {}
    # Times as the report already writes them, so that a reader can search for them.
    return {"days": days, "required_days": required_days, "short": days < required_days,
            "logs_from": str(hunt["logs_from"]), "measured_to": str(end_text),
            "sources": limiting_sources(sources, logs_from)}


def retention_warning(retention: Mapping[str, Any]) -> dict[str, str]:
    """The host warning for a short retention (report.json ``warnings`` entry)."""
    shortest = ", ".join(retention["sources"]) or "unknown"
    message = (f"logs reach back only {retention['days']} days (to {retention['logs_from'][:10]}); the hunt could "
               f"not see anything before that (need {retention['required_days']} days; shortest: {shortest})")
    return {"code": WARNING_CODE, "message": message}


def apply_retention(report: Mapping[str, Any], required_days: int) -> dict[str, Any]:
    """A copy of report with each hunted server's ``hunt.retention`` and, when it is short, a
    warning. required_days 0 turns the check off: the report is returned unchanged."""
    if required_days < 0:
        raise ValueError(f"min_log_days must be 0 or more, got {required_days}")
    if required_days == 0 or not isinstance(report.get("hosts"), Mapping):
        return dict(report)
    hosts = {}
    for name, host in report["hosts"].items():
        retention = host_retention(host, required_days) if isinstance(host, Mapping) else None
        if retention is None:
            hosts[name] = host
            continue
        entry = {**host, "hunt": {**host["hunt"], "retention": retention}}
        if retention["short"]:
            warnings = host.get("warnings") if isinstance(host.get("warnings"), list) else []
            entry["warnings"] = [*warnings, retention_warning(retention)]
        hosts[name] = entry
    return {**report, "hosts": hosts}
