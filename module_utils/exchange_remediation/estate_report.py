"""Assemble report.json (format version 1, DESIGN.md) from per-host entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .remediation_summary import RemediationReport

REPORT_SCHEMA = 1
SEVERITIES = ("critical", "high", "medium", "low")


def summarise(hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """The assessment's estate counts (these keys keep their meaning; more may be added beside them)."""
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


def summarise_compromise(hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Counts of the hunt: hosts ruled clean, hosts hunted, findings by severity.

    indicators_<severity> counts findings that are not attempts; attempts (requests logged when
    the server was no longer open to that campaign) are counted apart, so that a patched estate
    scanned every day does not read as a pile of critical findings.
    """
    entries = list(hosts.values())
    counts = {
        "compromised_no": sum(1 for e in entries if e.get("verdict", {}).get("compromised") == "no"),
        "hunted": sum(1 for e in entries if isinstance(e.get("hunt"), Mapping) and e["hunt"].get("status") == "done"),
        "indicators": 0,
        **{f"indicators_{severity}": 0 for severity in SEVERITIES},
        "indicators_attempt": 0,
    }
    for entry in entries:
        for indicator in entry.get("indicators") or []:
            counts["indicators"] += 1
            if not isinstance(indicator, Mapping):
                continue
            if indicator.get("attempt") is True:
                counts["indicators_attempt"] += 1
            elif indicator.get("severity") in SEVERITIES:
                counts[f"indicators_{indicator['severity']}"] += 1
    return counts


def summarise_report(hosts: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """report.json's summary: the assessment's counts, then the hunt's."""
    return {**summarise(hosts), **summarise_compromise(hosts)}


def build_report(hosts: Mapping[str, Mapping[str, Any]], generated_at: str, run: Mapping[str, Any],
                 remediation: RemediationReport | None = None) -> dict[str, Any]:
    """report.json; with a remediation (a plan was given) every host gets its ``remediation``
    object and the report the estate's, and without one the report is exactly as before."""
    ordered = {name: dict(hosts[name]) for name in sorted(hosts)}
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "run": dict(run),
        "summary": summarise_report(ordered),
    }
    if remediation is not None:
        report["remediation"] = remediation.estate
        for name, entry in ordered.items():
            if name in remediation.hosts:
                entry["remediation"] = remediation.hosts[name]
    report["hosts"] = ordered
    return report
