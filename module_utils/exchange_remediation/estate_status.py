"""One word per server for the dashboard: the worst thing that is true of it.

compromised > vulnerable > unknown > mitigated > patched. A manager reads the estate as these
five numbers; every other writer keeps its detailed columns. The order is the urgency: a
compromised server needs an incident response whatever its patch level, a vulnerable one needs
a patch, an unknown one needs its evidence collected again (never clean by default), a
mitigated one still waits for its update.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATUSES = ("compromised", "vulnerable", "unknown", "mitigated", "patched")
# CVE statuses report.json knows; anything else was written by something we do not understand.
_KNOWN_CVE_STATUSES = ("vulnerable", "mitigated", "patched", "not_applicable")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def server_status(host: Mapping[str, Any]) -> str:
    """The server's dashboard status, one of STATUSES.

    Reads the report defensively (any key may be missing or of the wrong type): whatever cannot
    be read as a known-good fact makes the server unknown rather than patched.
    """
    host = _mapping(host)
    verdict = _mapping(host.get("verdict"))
    if verdict.get("compromised") == "yes":
        return "compromised"
    if verdict.get("vulnerable") is True:
        return "vulnerable"
    exchange = _mapping(host.get("exchange"))
    cves = host.get("cves")
    statuses = list(cves.values()) if isinstance(cves, Mapping) else []
    unreadable = any(status not in _KNOWN_CVE_STATUSES for status in statuses)
    if host.get("status") != "ok" or not exchange.get("build") or unreadable:
        return "unknown"
    if "mitigated" in statuses:
        return "mitigated"
    return "patched"


def status_counts(report: Mapping[str, Any]) -> dict[str, int]:
    """Servers per status, every status present (zero included), in STATUSES order."""
    counts = dict.fromkeys(STATUSES, 0)
    hosts = _mapping(_mapping(report).get("hosts"))
    for host in hosts.values():
        counts[server_status(_mapping(host))] += 1
    return counts
