"""Assemble report.json (format version 1, DESIGN.md) from per-host entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPORT_SCHEMA = 1


def summarise(hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    entries = list(hosts.values())
    return {
        "hosts": len(entries),
        "ok": sum(1 for e in entries if e.get("status") == "ok"),
        "error": sum(1 for e in entries if e.get("status") != "ok"),
        "vulnerable": sum(1 for e in entries if e.get("verdict", {}).get("vulnerable") is True),
        "compromised": sum(1 for e in entries if e.get("verdict", {}).get("compromised") == "yes"),
        "compromised_unknown": sum(1 for e in entries if e.get("verdict", {}).get("compromised") == "unknown"),
        "unsupported": sum(1 for e in entries if e.get("exchange", {}).get("supported") is False),
    }


def build_report(hosts: Mapping[str, Mapping[str, Any]], generated_at: str, run: Mapping[str, Any]) -> dict[str, Any]:
    ordered = {name: dict(hosts[name]) for name in sorted(hosts)}
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "run": dict(run),
        "summary": summarise(ordered),
        "hosts": ordered,
    }
