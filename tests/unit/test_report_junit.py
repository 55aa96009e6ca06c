"""report_junit.render_junit: valid XML, one suite per host, correct totals and outcomes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from report_samples import (
    CU_FAILURE,
    ECP_ATTACK_LINE,
    HOSTILE_SHOWN,
    PROXYLOGON_LINE,
    REFUSAL,
    SETUP_LOG,
    demo_before,
    demo_plan,
    hostile_remediation_report,
    refused_outcomes,
    remediation_report,
    sample_report,
    without_hunt,
    without_remediation,
)

from exchange_remediation.estate_report import build_report
from exchange_remediation.remediation_summary import summarise_remediation
from exchange_remediation.report_junit import render_junit, xml_text

# What XML 1.0 cannot carry, plus ESC and the RTL override that must not reach a CI log.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e\ufffe\uffff]")


def _parse(report: dict | None = None) -> ET.Element:
    return ET.fromstring(render_junit(report or sample_report()).encode("utf-8"))


def _case(root: ET.Element, suite: str, name: str) -> ET.Element:
    found = root.find(f"./testsuite[@name='{suite}']/testcase[@name='{name}']")
    assert found is not None, (suite, name)
    return found


def test_one_suite_per_host_named_after_inventory_host() -> None:
    root = _parse()
    assert root.tag == "testsuites"
    assert [suite.get("name") for suite in root] == ["ex13-broken", "ex16", "ex16-patched", "ex19"]
    names = [case.get("name") for case in root.find("./testsuite[@name='ex19']")]
    assert names[:3] == ["collect", "build-known", "supported"]
    assert names[-1] == "compromised"
    assert "CVE-2021-26855" in names and "CVE-2025-53786" in names


def test_counts_match_content() -> None:
    root = _parse()
    for element in [root, *root]:
        cases = list(element.iter("testcase"))
        assert int(element.get("tests")) == len(cases)
        assert int(element.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(element.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        assert int(element.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
    # ex16: 12 CVEs + 4 checks; failures: supported, 9 vulnerable, 1 unknown, compromised.
    ex16 = root.find("./testsuite[@name='ex16']")
    assert (ex16.get("tests"), ex16.get("failures"), ex16.get("errors")) == ("16", "12", "0")
    ex19 = root.find("./testsuite[@name='ex19']")
    assert (ex19.get("failures"), ex19.get("errors"), ex19.get("skipped")) == ("0", "0", "0")


def test_cve_outcomes() -> None:
    root = _parse()
    failure = _case(root, "ex16", "CVE-2021-26855").find("failure")
    assert failure is not None and failure.get("message") == "vulnerable, fixed by Mar21SU"
    mitigated = _case(root, "ex16", "CVE-2021-26857")
    assert mitigated.find("failure") is None
    assert mitigated.findtext("system-out").startswith("mitigated, update Mar21SU still missing")
    unknown = _case(root, "ex16", "CVE-2021-34470").find("failure")
    assert unknown is not None and unknown.get("message").startswith("unknown")
    assert _case(root, "ex16-patched", "CVE-2022-41040").find("failure") is None
    assert _case(root, "ex16", "supported").find("failure").get("message").startswith("out of support")


def test_compromised_yes_fails_and_names_the_serious_findings() -> None:
    failure = _case(_parse(), "ex16", "compromised").find("failure")
    assert failure.get("message") == ("compromised: 3 critical, 1 high (PL-26855-HTTPPROXY, PL-26858-OABGEN, "
                                      "PL-27065-ECPSERVER, PL-WEBSHELL-ACCESS)")
    text = failure.text
    assert text.startswith("- 3 critical and 1 high finding(s) that are not attempts\n")
    assert "logs cover 26.7% of the exposure window (minimum 90%)" in text
    # Every finding, worst first, with where, when, detail and its evidence indented.
    assert text.index("[critical] PL-26855-HTTPPROXY (CVE-2021-26855) ProxyLogon SSRF") < text.index(
        "[medium] PL-26855-BLOG")
    assert ("    C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\HttpProxy\\Ecp\\"
            "HttpProxy_2021030306-1.LOG:8 at 2021-03-03T06:49:46.210Z") in text
    assert "    detail: AnchorMailbox ServerInfo~a]@ex16.contoso.local:444/ecp/proxyLogon.ecp?# from" in text
    assert f"    evidence:\n      {PROXYLOGON_LINE}\n" in text
    # The web shell's markup in the ECP line is text once parsed, not elements.
    assert f"      {ECP_ATTACK_LINE}\n" in text
    assert "[high] PL-WEBSHELL-ACCESS (no CVE) Request to a planted page" in text


def test_compromised_unknown_fails_with_its_first_reason() -> None:
    root = _parse()
    failure = _case(root, "ex16-patched", "compromised").find("failure")
    assert failure.get("message") == ("unknown: Application: not fully read (a size cap was hit or a check "
                                      "could not run)")
    assert "- MSExchangeManagement: not in the evidence" in failure.text
    assert "findings: 2 attempts" in failure.text
    assert "logs cover 0% of the exposure window (minimum 90%)" in failure.text


def test_compromised_no_passes_with_the_coverage() -> None:
    case = _case(_parse(), "ex19", "compromised")
    assert case.find("failure") is None and case.find("skipped") is None
    assert case.findtext("system-out") == (
        "- every required source was present and read in full, and no finding counts\n"
        "findings: none\nlogs cover 100% of the exposure window (minimum 90%)")


def test_attempts_are_marked() -> None:
    text = _case(_parse(), "ex16-patched", "compromised").find("failure").text
    assert "[high] PNS-IIS-AUTODISCOVER-POWERSHELL (attempt) (CVE-2022-41040, CVE-2022-41082)" in text
    assert "[medium] PS-IIS-AUTODISCOVER (attempt)" in text
    assert text.count("    Attempt: logged when the server was not open to this campaign") == 2


def test_error_host_fails_and_is_never_clean() -> None:
    root = _parse()
    error = _case(root, "ex13-broken", "collect").find("error")
    assert error is not None
    assert error.get("message").startswith("not assessed — not clean: server.json is not valid JSON")
    assert _case(root, "ex13-broken", "build-known").find("failure") is not None
    assert _case(root, "ex13-broken", "supported").find("skipped") is not None
    compromised = _case(root, "ex13-broken", "compromised").find("failure")
    assert compromised.get("message").startswith("unknown: not assessed — not clean: server.json")
    assert "- no evidence to hunt: server.json is not valid JSON" in compromised.text
    assert _case(root, "ex13-broken", "CVE-2021-26855").find("failure") is not None


def test_hostile_text_survives_as_text() -> None:
    document = render_junit(sample_report())
    assert not _FORBIDDEN.search(document)
    assert "<script>" not in document and "<img" not in document
    text = _case(ET.fromstring(document.encode("utf-8")), "ex16-patched", "compromised").find("failure").text
    assert f"      {HOSTILE_SHOWN}\n" in text


@pytest.mark.parametrize(("hostile", "shown"), [
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ('"><img src=x onerror=alert(2)>', '"><img src=x onerror=alert(2)>'),
    ("\x1b[31mRED\x1b[0m", "[31mRED[0m"),
    ("before\x00after", "beforeafter"),
    ("x\u202excod.aspx", "x[U+202E]xcod.aspx"),
    ("]]></failure><failure message='x'>", "]]></failure><failure message='x'>"),
])
def test_each_kind_of_hostile_evidence_is_inert(hostile: str, shown: str) -> None:
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    finding["evidence"] = f"2021-03-03T06:49:46.210Z,{hostile},EX16\nsecond line\x0c{hostile}"
    finding["source"] = f"C:\\inetpub\\wwwroot\\aspnet_client\\{hostile}"
    finding["rule"] = f"PL-26855-HTTPPROXY{hostile}"
    document = render_junit(report)
    assert not _FORBIDDEN.search(document)
    case = _case(ET.fromstring(document.encode("utf-8")), "ex16", "compromised")
    assert len(case) == 1  # one failure element, nothing injected beside it
    failure = case.find("failure")
    assert f"      2021-03-03T06:49:46.210Z,{shown},EX16\n      second line{shown}\n" in failure.text
    assert f"C:\\inetpub\\wwwroot\\aspnet_client\\{shown}:8" in failure.text
    assert f"PL-26855-HTTPPROXY{shown}" in failure.get("message")


def test_hosts_without_a_hunt_still_render() -> None:
    root = _parse(without_hunt(sample_report()))
    for suite in root:
        failure = _case(root, suite.get("name"), "compromised").find("failure")
        assert failure is not None and failure.get("message").startswith("unknown: ")
    assert "- the hunt did not run for this host" in _case(root, "ex19", "compromised").find("failure").text
    assert "logs cover" not in _case(root, "ex19", "compromised").find("failure").text


def test_many_findings_are_listed_up_to_a_limit() -> None:
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    report["hosts"]["ex16"]["indicators"] = [dict(finding, line=n) for n in range(1, 61)]
    text = _case(_parse(report), "ex16", "compromised").find("failure").text
    assert text.count("[critical] PL-26855-HTTPPROXY") == 50
    assert text.endswith("… 10 more in report.json")


def test_xml_text_strips_what_xml_cannot_carry() -> None:
    assert xml_text("a\x00b\x1bc\ufffed\U0001f600") == "abcd\U0001f600"
    assert xml_text(None) == ""


def test_empty_report_is_valid_xml() -> None:
    root = ET.fromstring(render_junit({}).encode("utf-8"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("0", "0", "0")


# --- the remediation (a report written with a plan) -----------------------------------------


def _remediation(root: ET.Element, host: str) -> ET.Element:
    found = root.find(f"./testsuite[@name='remediation']/testcase[@name='{host}']")
    assert found is not None, host
    assert found.get("classname") == "remediation"
    return found


def test_a_remediation_suite_with_one_case_per_host() -> None:
    root = _parse(remediation_report())
    suites = [suite.get("name") for suite in root]
    assert suites[-1] == "remediation" and suites[:-1] == sorted(demo_before())
    suite = root.find("./testsuite[@name='remediation']")
    assert [case.get("name") for case in suite] == sorted(demo_before())
    counts = (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped"))
    assert counts == ("8", "1", "0", "3")
    for element in [root, *root]:
        cases = list(element.iter("testcase"))
        assert int(element.get("tests")) == len(cases)
        assert int(element.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(element.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)


def test_remediation_outcomes() -> None:
    root = _parse(remediation_report())
    failure = _remediation(root, "ex16-mitigated").find("failure")
    assert failure.get("message") == f"failed: {CU_FAILURE} (step cu)"
    assert failure.text == (f"state: failed, wave 3\nCU18 no SU (15.1.2106.2) → target CU23 Aug26SU (15.1.2507.72)\n"
                            f"reason: {CU_FAILURE}\nfailed step: cu\nsetup log: {SETUP_LOG}\nmaintenance mode exited")
    patched = _remediation(root, "ex16-legacy")
    assert patched.find("failure") is None and patched.find("skipped") is None
    assert patched.findtext("system-out") == ("state: patched, wave 2\n"
                                              "CU19 no SU (15.1.2176.2) → CU23 Aug26SU (15.1.2507.72)\n"
                                              "maintenance mode exited")
    assert _remediation(root, "ex19-dag2").findtext("system-out") == "state: up to date\nCU14 Aug26SU (15.2.1544.44)"
    assert _remediation(root, "ex10").find("skipped").get("message") == (
        "blocked: Exchange 2010 is out of support and has no automatic path: migrate")
    assert _remediation(root, "edge01").find("skipped").get("message") == (
        "skipped: rollout stopped after ex16-mitigated failed")


def test_refused_fails_and_so_does_a_server_left_in_maintenance() -> None:
    outcomes = refused_outcomes()
    outcomes["ex19-dag1"]["maintenance_exited"] = False
    root = _parse(remediation_report(outcomes))
    assert _remediation(root, "ex16-legacy").find("failure").get("message") == f"refused: {REFUSAL} (step precheck)"
    left = _remediation(root, "ex19-dag1").find("failure")
    assert left.get("message") == "patched but left in maintenance mode"
    assert left.text.endswith("LEFT IN MAINTENANCE MODE")
    assert _remediation(root, "ex16-mitigated").find("skipped") is not None


def test_planned_servers_are_skipped_until_they_are_patched() -> None:
    hosts = demo_before()
    root = _parse(build_report(hosts, "2026-11-29T10:00:00Z", {}, summarise_remediation(hosts, demo_plan())))
    assert _remediation(root, "ex19-dag1").find("skipped").get("message") == "planned"
    assert _remediation(root, "ex16-patched").find("skipped") is None


def test_hostile_reason_and_setup_log_stay_text() -> None:
    document = render_junit(hostile_remediation_report())
    assert not _FORBIDDEN.search(document)
    assert "<script>" not in document and "<img" not in document and "<b>" not in document
    case = _remediation(ET.fromstring(document.encode("utf-8")), "ex16-mitigated")
    assert len(case) == 1
    failure = case.find("failure")
    assert failure.get("message").startswith(
        'failed: setup said <script>alert(1)</script>"><img src=x onerror=alert(2)>[31mRED[0mNUL x[U+202E]xcod.aspx')
    assert failure.get("message").endswith("(step cu</code><b>[1m)")
    assert "setup log: C:\\ExchangeSetupLogs\\<script>alert(3)</script>]0;pwned[U+202E]gol.exe|`x`.log" in failure.text


def test_without_a_plan_there_is_no_remediation_suite() -> None:
    report = remediation_report()
    document = render_junit(without_remediation(report))
    assert document == render_junit(build_report(
        {name: {k: v for k, v in host.items() if k != "remediation"} for name, host in report["hosts"].items()},
        report["generated_at"], report["run"]))
    assert "remediation" not in document


# --- the nightly run: a policy testsuite ---------------------------------------------------------


def test_a_policy_suite_with_one_case_per_enforced_condition() -> None:
    from nightly_samples import nightly_report

    root = ET.fromstring(render_junit(nightly_report()).encode("utf-8"))
    suite = root.find("./testsuite[@name='policy']")
    assert suite is not None
    assert [case.get("name") for case in suite] == ["compromised", "vulnerable", "unknown",
                                                    "unpatched_after_window", "new_indicators"]
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "4", "1")
    compromised = _case(root, "policy", "compromised").find("failure")
    assert compromised.get("message") == "1 server compromised: ex16-legacy" and compromised.text == "ex16-legacy"
    assert _case(root, "policy", "new_indicators").find("failure").get("message") == (
        "1 server with new indicators: ex16-patched")
    skipped = _case(root, "policy", "unpatched_after_window").find("skipped")
    assert skipped.get("message") == "not evaluated: this run did not patch in a maintenance window"
    assert int(root.get("failures")) == sum(1 for case in root.iter("testcase") if case.find("failure") is not None)


def test_conditions_not_enforced_have_no_case_and_passing_ones_pass() -> None:
    from nightly_samples import demo_report

    from exchange_remediation.nightly_policy import evaluate_policy

    report = demo_report()
    report["hosts"]["ex16-legacy"]["verdict"]["compromised"] = "unknown"
    report["policy"] = evaluate_policy(report, ["compromised"])
    root = ET.fromstring(render_junit(report).encode("utf-8"))
    cases = list(root.find("./testsuite[@name='policy']"))
    assert [case.get("name") for case in cases] == ["compromised"]
    assert cases[0].find("failure") is None and cases[0].find("system-out").text == "no server compromised"


def test_hostile_host_names_in_the_policy_stay_text() -> None:
    from nightly_samples import HOSTILE_HOST, demo_report

    from exchange_remediation.nightly_policy import evaluate_policy

    report = demo_report()
    report["hosts"][HOSTILE_HOST] = report["hosts"].pop("ex16-legacy")
    report["policy"] = evaluate_policy(report, ["compromised"])
    document = render_junit(report)
    failure = _case(ET.fromstring(document.encode("utf-8")), "policy", "compromised").find("failure")
    assert failure.text == "ex19-<script>alert(1)</script>|`x`[31m"
    assert not _FORBIDDEN.search(document)


def test_without_a_policy_there_is_no_policy_suite() -> None:
    from nightly_samples import demo_report

    report = demo_report()
    assert 'name="policy"' not in render_junit(report)
