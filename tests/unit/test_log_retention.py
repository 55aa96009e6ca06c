"""log_retention: how far back each server's logs reach, on the sample and demo reports."""

from __future__ import annotations

import pytest
from nightly_samples import demo_report
from report_samples import sample_report, without_hunt

from exchange_remediation.compromise_verdict import log_span
from exchange_remediation.log_retention import WARNING_CODE, apply_retention, host_retention, limiting_sources


def test_the_compromised_sample_server_reaches_back_16_days() -> None:
    # ex16: the Application log starts 2021-02-20, collected 2021-03-08 10:00.
    host = sample_report()["hosts"]["ex16"]
    assert host_retention(host, 30) == {"days": 16.4, "required_days": 30, "short": True,
                                        "logs_from": "2021-02-20T00:00:04Z", "measured_to": "2021-03-08T10:00:00Z",
                                        "sources": ["Application"]}


def test_a_short_retention_adds_a_warning_after_the_existing_ones() -> None:
    report = apply_retention(sample_report(), 30)
    ex16 = report["hosts"]["ex16"]
    assert [w["code"] for w in ex16["warnings"]] == ["product_out_of_support", WARNING_CODE]
    assert ex16["warnings"][-1]["message"] == (
        "logs reach back only 16.4 days (to 2021-02-20); the hunt could not see anything before that "
        "(need 30 days; shortest: Application)")
    assert ex16["hunt"]["retention"]["short"] is True
    # ex19 reaches back 30.4 days: enough, so a retention object and no warning.
    ex19 = report["hosts"]["ex19"]
    assert ex19["hunt"]["retention"]["days"] == 30.4 and ex19["hunt"]["retention"]["short"] is False
    assert ex19["warnings"] == []


def test_the_input_report_is_not_changed() -> None:
    original = sample_report()
    apply_retention(original, 30)
    assert original == sample_report()


def test_zero_days_turns_the_check_off() -> None:
    assert apply_retention(sample_report(), 0) == sample_report()


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="min_log_days must be 0 or more, got -1"):
        apply_retention(sample_report(), -1)


def test_no_hunt_or_no_timed_logs_means_no_retention() -> None:
    report = apply_retention(without_hunt(sample_report()), 30)
    assert all("retention" not in (host.get("hunt") or {}) for host in report["hosts"].values())
    # ex13-broken: the hunt did not run, no logs_from.
    assert "retention" not in (apply_retention(sample_report(), 30)["hosts"]["ex13-broken"].get("hunt") or {})


def test_logs_to_stands_in_when_the_collection_time_is_unknown() -> None:
    host = sample_report()["hosts"]["ex16"]
    host["collected_at"] = None
    retention = host_retention(host, 14)
    assert retention["measured_to"] == "2021-03-08T06:00:02Z" and retention["days"] == 16.2
    assert retention["short"] is False


def test_sources_tied_to_the_second_are_all_named() -> None:
    # IIS writes whole seconds, HttpProxy milliseconds: both started with the same request.
    host = sample_report()["hosts"]["ex16"]
    sources = host["hunt"]["sources"]
    sources["HttpProxy"]["first"] = "2021-02-25T09:07:48.147Z"
    sources["IIS"]["first"] = "2021-02-25T09:07:48Z"
    sources["Application"]["first"] = "2021-02-07T00:35:46.276Z"
    logs_from, _ = log_span(sources)
    host["hunt"]["logs_from"] = logs_from.isoformat().replace("+00:00", "Z")
    retention = host_retention(host, 30)
    assert retention["sources"] == ["HttpProxy", "IIS"] and retention["days"] == 11.0
    assert limiting_sources(sources, logs_from) == ["HttpProxy", "IIS"]


def test_the_demo_estate_at_30_days() -> None:
    report = apply_retention(demo_report(), 30)
    short = {name: host["hunt"]["retention"] for name, host in report["hosts"].items()
             if host["hunt"].get("retention", {}).get("short")}
    # The demo bundles hold about four weeks of logs; ex16-legacy's reach back to early February 2021.
    assert "ex16-legacy" not in short and "ex19-dag3" in short
    dag3 = short["ex19-dag3"]
    assert dag3["days"] == 27.1 and dag3["sources"] == ["MSExchangeManagement"]
    assert report["hosts"]["ex19-dag3"]["warnings"][-1]["message"].startswith(
        "logs reach back only 27.1 days (to 2026-10-30); the hunt could not see anything before that")
    legacy = report["hosts"]["ex16-legacy"]["hunt"]["retention"]
    assert legacy["days"] == 30.1 and legacy["sources"] == ["ECP"]
