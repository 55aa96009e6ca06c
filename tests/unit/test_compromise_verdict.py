"""The compromise verdict: yes on a serious finding in the window, no only after looking everywhere."""

from __future__ import annotations

import copy

import pytest

from exchange_remediation.compromise_verdict import NO, UNKNOWN, YES, is_attempt, judge, log_span, parse_time

REQUIRED = ("HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement")


def _sources(first: str = "2021-01-01T00:00:01.000Z", last: str = "2021-03-09T14:00:00.000Z") -> dict:
    sources = {name: {"stream": name, "present": True, "required": True, "files": 30, "lines": 1000,
                      "bytes": 100000, "first": first, "last": last, "warnings": [], "capped": False}
               for name in REQUIRED}
    sources["WebFolders"] = {"stream": "WebFolders", "present": True, "required": True, "files": 11, "lines": 0,
                             "bytes": 9000, "first": None, "last": None, "warnings": [], "capped": False}
    sources["IIS"] = {"stream": "IIS", "present": True, "required": False, "files": 30, "lines": 3800,
                      "bytes": 900000, "first": "2021-02-07T00:00:03Z", "last": last, "warnings": [], "capped": False}
    return sources


PROXYLOGON_OPEN = {"attack": "ProxyLogon", "attacks": ["ProxyLogon"], "cves": ["CVE-2021-26855"],
                   "exploitation_began": "2021-01-06", "exposed": True, "start": "2021-01-06", "end": "2021-03-09",
                   "end_basis": "open when collected (CVE-2021-26855 vulnerable)", "covered_percent": None}
PROXYSHELL_CLOSED = {"attack": "ProxyShell", "attacks": ["ProxyShell"], "cves": ["CVE-2021-34473"],
                     "exploitation_began": "2021-08-05", "exposed": False, "start": "2021-08-05", "end": "2021-03-05",
                     "end_basis": "fixed before exploitation began", "covered_percent": None}

SSRF_241 = {"rule": "PL-26855-HTTPPROXY", "cve": "CVE-2021-26855", "cves": ["CVE-2021-26855"],
            "severity": "critical", "attack": "ProxyLogon", "title": "ProxyLogon SSRF",
            "source": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\HttpProxy\\Ecp\\"
                      "HttpProxy_2021030306-1.LOG",
            "line": 14, "time": "2021-03-03T06:49:46.210Z", "detail": "status 241",
            "evidence": "2021-03-03T06:49:46.210Z,0b9e4c2d-…,ServerInfo~a]@ex01.contoso.local:444/ecp/proxyLogon.ecp?#"}


def _hunt(findings=(), sources=None, **extra) -> dict:
    return {"status": "done", "error": None, "rules": 60, "findings": [dict(f) for f in findings],
            "findings_total": len(findings), "findings_dropped": 0,
            "sources": sources if sources is not None else _sources(), "excluded": {}, "warnings": [], **extra}


def test_serious_finding_inside_the_window_is_a_compromise():
    verdict, indicators, block = judge(_hunt([SSRF_241]), [dict(PROXYLOGON_OPEN)], 90.0, True)
    assert verdict == YES
    assert indicators[0]["attempt"] is False
    assert indicators[0]["evidence"] == SSRF_241["evidence"]
    assert block["status"] == "done" and block["findings_shown"] == 1


def test_clean_server_with_full_coverage_is_no():
    verdict, indicators, block = judge(_hunt(), [dict(PROXYLOGON_OPEN), dict(PROXYSHELL_CLOSED)], 90.0, True,
                                       "2021-03-09T14:27:05Z")
    assert (verdict, indicators, block["reasons"]) == (NO, [], [])
    assert block["coverage_percent"] == 100.0
    assert block["exposure"][1]["covered_percent"] == 100.0


def test_logs_younger_than_the_window_make_it_unknown():
    sources = _sources(first="2021-03-01T00:00:00Z")
    verdict, _, block = judge(_hunt(sources=sources), [dict(PROXYLOGON_OPEN)], 90.0, True, "2021-03-09T14:27:05Z")
    assert verdict == UNKNOWN
    # 8.6 of the 62.6 days from 2021-01-06 to the collection on 2021-03-09 14:27.
    assert block["exposure"][0]["covered_percent"] == pytest.approx(13.7, abs=0.1)
    assert "logs cover 13.7%" in block["reasons"][0] and "ProxyLogon exposure window" in block["reasons"][0]


@pytest.mark.parametrize("change, reason", [
    (lambda s: s["ECP"].update(present=False), "ECP: not in the evidence"),
    (lambda s: s["WebFolders"].update(capped=True), "WebFolders: not fully read"),
    (lambda s: s["Application"].update(unreadable=2), "Application: 2 file(s) could not be read"),
    (lambda s: s.pop("MSExchangeManagement"), None),
])
def test_a_required_source_missing_or_partly_read_is_never_no(change, reason):
    sources = copy.deepcopy(_sources())
    change(sources)
    verdict, _, block = judge(_hunt(sources=sources), [dict(PROXYLOGON_OPEN)], 90.0, True)
    if reason is None:
        # A stream the hunt did not even report still leaves the verdict open: coverage is computed
        # from the remaining sources, but the engine always reports every required stream.
        assert verdict in (NO, UNKNOWN)
    else:
        assert verdict == UNKNOWN
        assert reason in " ".join(block["reasons"])


def test_optional_source_missing_does_not_matter():
    sources = _sources()
    sources["IIS"]["present"] = False
    assert judge(_hunt(sources=sources), [dict(PROXYLOGON_OPEN)], 90.0, True)[0] == NO


def test_attempt_against_a_patched_server_is_not_a_compromise():
    closed = {**PROXYLOGON_OPEN, "end": "2021-03-05", "end_basis": "Mar21SU or later (KB5000871) installed 2021-03-05"}
    late = {**SSRF_241, "time": "2021-03-08T11:02:17.004Z"}
    verdict, indicators, _ = judge(_hunt([late]), [closed], 90.0, True)
    assert indicators[0]["attempt"] is True
    assert verdict == NO
    on_the_day = {**SSRF_241, "time": "2021-03-05T23:59:00Z"}
    assert judge(_hunt([on_the_day]), [closed], 90.0, True)[0] == YES


def test_findings_of_a_campaign_that_never_applied_are_attempts():
    not_applicable = {**PROXYLOGON_OPEN, "exposed": False, "start": None, "end": None,
                      "end_basis": "not applicable to this product"}
    assert is_attempt(SSRF_241, [not_applicable])


def test_webshell_on_disk_is_a_compromise_whatever_the_window():
    shell = {"rule": "WEBSHELL-CONTENT", "cve": None, "cves": [], "severity": "critical", "attack": "Webshell",
             "source": r"C:\inetpub\wwwroot\aspnet_client\system_web\4BETNm9k.aspx", "line": None, "time": None,
             "detail": "JScript China Chopper", "evidence": "<script language=\"JScript\" runat=\"server\">"}
    closed = {**PROXYLOGON_OPEN, "exposed": False}
    assert judge(_hunt([shell]), [closed], 90.0, True)[0] == YES


def test_low_and_medium_findings_alone_do_not_make_yes():
    probe = {**SSRF_241, "rule": "PL-26855-PROBE", "severity": "low"}
    blog = {**SSRF_241, "rule": "PL-26855-BLOG", "severity": "medium"}
    verdict, indicators, _ = judge(_hunt([probe, blog]), [dict(PROXYLOGON_OPEN)], 90.0, True)
    assert verdict == NO and len(indicators) == 2


def test_hunt_not_run_or_failed_is_unknown():
    assert judge(None, [dict(PROXYLOGON_OPEN)], 90.0, True)[0] == UNKNOWN
    verdict, _, block = judge({"status": "error", "error": "evidence folder /x not found"}, [], 90.0, True)
    assert verdict == UNKNOWN and block["reasons"] == ["evidence folder /x not found"]


def test_error_host_cannot_be_no_but_can_be_yes():
    assert judge(_hunt(), [], 90.0, False)[0] == UNKNOWN
    assert judge(_hunt([SSRF_241]), [], 90.0, False)[0] == YES


def test_dropped_findings_leave_the_verdict_open():
    probe = {**SSRF_241, "severity": "low"}
    verdict, _, block = judge(_hunt([probe], findings_dropped=5), [dict(PROXYLOGON_OPEN)], 90.0, True)
    assert verdict == UNKNOWN and "5 findings" in block["reasons"][0]


def test_log_span_is_what_every_required_timed_source_covers():
    sources = _sources()
    sources["ECP"]["first"] = "2021-02-01T09:00:00Z"
    sources["HttpProxy"]["last"] = "2021-03-08T00:00:00Z"
    start, end = log_span(sources)
    assert (start, end) == (parse_time("2021-02-01T09:00:00Z"), parse_time("2021-03-08T00:00:00Z"))
    sources["OABGenerator"]["first"] = None
    assert log_span(sources) == (None, None)


def test_failed_live_collection_is_a_reason_even_when_the_rest_looks_clean():
    hunt = _hunt(collection_error="live hunt collection failed: host unreachable: timed out")
    verdict, _, block = judge(hunt, [dict(PROXYLOGON_OPEN)], 90.0, True, "2021-03-09T14:27:05Z")
    assert verdict == UNKNOWN
    assert block["reasons"] == ["live hunt collection failed: host unreachable: timed out"]
