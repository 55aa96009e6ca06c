"""estate_status: one word per server, worst first, never clean by default."""

from __future__ import annotations

from typing import Any

import pytest
from report_samples import remediation_report, sample_report

from exchange_remediation.estate_status import STATUSES, server_status, status_counts


def _host(status: str = "ok", build: str | None = "15.1.2507.72", vulnerable: object = False,
          compromised: object = "no", **cves: str) -> dict[str, Any]:
    return {"status": status, "exchange": {"build": build}, "cves": dict(cves),
            "verdict": {"vulnerable": vulnerable, "compromised": compromised}}


@pytest.mark.parametrize(("host", "expected"), [
    # Compromise wins over everything: an incident comes before a patch.
    (_host(vulnerable=True, compromised="yes", CVE_2021_26855="vulnerable"), "compromised"),
    (_host(status="error", build=None, vulnerable=None, compromised="yes"), "compromised"),
    (_host(vulnerable=True, compromised="unknown", CVE_2021_26855="vulnerable"), "vulnerable"),
    (_host(vulnerable=True, compromised="no", CVE_2021_26855="unknown"), "vulnerable"),
    # Not assessed, build unknown, or one CVE unknown: unknown, never patched.
    (_host(status="error", build=None, vulnerable=None, compromised="unknown"), "unknown"),
    (_host(status="error", vulnerable=False, compromised="no"), "unknown"),
    (_host(build=None), "unknown"),
    (_host(build=""), "unknown"),
    (_host(CVE_2023_36434="unknown", CVE_2021_26855="patched"), "unknown"),
    (_host(CVE_2021_26855="fixed"), "unknown"),  # a status this reader does not know
    (_host(CVE_2021_26855="unknown", CVE_2021_26857="mitigated"), "unknown"),
    (_host(CVE_2021_26857="mitigated", CVE_2021_26855="patched"), "mitigated"),
    (_host(CVE_2021_26855="patched", CVE_2021_26857="not_applicable"), "patched"),
    (_host(), "patched"),
])
def test_server_status_precedence(host: dict[str, Any], expected: str) -> None:
    assert server_status(host) == expected


@pytest.mark.parametrize("host", [{}, {"status": "ok"}, {"status": "ok", "exchange": "x", "cves": [], "verdict": 3},
                                  {"status": "ok", "exchange": {"build": "15.1.2507.72"}, "cves": "patched"}])
def test_malformed_hosts_are_unknown_or_read_safely(host: dict[str, Any]) -> None:
    # An ok host with a build but unreadable CVEs has no CVE that says otherwise.
    expected = "patched" if host.get("cves") == "patched" else "unknown"
    assert server_status(host) == expected


def test_sample_report_counts_in_fixed_order() -> None:
    report = sample_report()
    statuses = {name: server_status(host) for name, host in report["hosts"].items()}
    assert statuses == {"ex16": "compromised", "ex19": "patched", "ex13-broken": "unknown",
                        "ex16-patched": "unknown"}  # CVE-2023-36434 unknown
    counts = status_counts(report)
    assert list(counts) == list(STATUSES) == ["compromised", "vulnerable", "unknown", "mitigated", "patched"]
    assert counts == {"compromised": 1, "vulnerable": 0, "unknown": 2, "mitigated": 0, "patched": 1}
    assert sum(counts.values()) == len(report["hosts"])


def test_counts_of_the_remediated_demo_estate() -> None:
    report = remediation_report()
    counts = status_counts(report)
    assert sum(counts.values()) == len(report["hosts"]) == 8
    # After the rollout: ex16-mitigated's CU failed (still vulnerable), ex-damaged was never read.
    assert counts == {"compromised": 0, "vulnerable": 1, "unknown": 1, "mitigated": 0, "patched": 6}
    assert server_status(report["hosts"]["ex16-mitigated"]) == "vulnerable"
    assert server_status(report["hosts"]["ex-damaged"]) == "unknown"


@pytest.mark.parametrize("report", [{}, {"hosts": None}, {"hosts": []}, {"hosts": {"x": None}}])
def test_counts_tolerate_malformed_reports(report: dict[str, Any]) -> None:
    counts = status_counts(report)
    assert list(counts) == list(STATUSES)
    assert counts["unknown"] == (1 if report.get("hosts") == {"x": None} else 0)
    assert sum(counts.values()) == counts["unknown"]
