"""report_junit.render_junit: valid XML, one suite per host, correct totals and outcomes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from report_samples import HOSTILE_DETAIL, sample_report

from exchange_remediation.report_junit import render_junit, xml_text


def _parse() -> ET.Element:
    return ET.fromstring(render_junit(sample_report()).encode("utf-8"))


def _case(root: ET.Element, suite: str, name: str) -> ET.Element:
    found = root.find(f"./testsuite[@name='{suite}']/testcase[@name='{name}']")
    assert found is not None, (suite, name)
    return found


def test_one_suite_per_host_named_after_inventory_host() -> None:
    root = _parse()
    assert root.tag == "testsuites"
    assert [suite.get("name") for suite in root] == ["edge01", "ex13-broken", "ex16", "ex19"]
    names = [case.get("name") for case in root.find("./testsuite[@name='ex19']")]
    assert names[:3] == ["collect", "build-known", "supported"]
    assert names[-1] == "compromised"
    assert "CVE-2021-26855" in names and "CVE-2025-53786" in names


def test_counts_match_content() -> None:
    root = _parse()
    for element in [root, *root]:
        cases = element.iter("testcase")
        cases = list(cases)
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
    assert _case(root, "edge01", "CVE-2021-1730").find("failure") is None
    assert _case(root, "ex16", "supported").find("failure").get("message").startswith("out of support")


def test_compromised_check() -> None:
    root = _parse()
    compromised = _case(root, "ex16", "compromised").find("failure")
    assert compromised.get("message") == "compromised: 4 indicator(s)"
    assert "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\x.aspx" in compromised.text
    assert "ServerInfo~a]@ex16.contoso.local:444/autodiscover/autodiscover.xml?#" in compromised.text
    assert _case(root, "edge01", "compromised").find("failure").get("message").startswith("unknown")
    assert _case(root, "ex19", "compromised").find("failure") is None


def test_error_host_fails_and_is_never_clean() -> None:
    root = _parse()
    error = _case(root, "ex13-broken", "collect").find("error")
    assert error is not None
    assert error.get("message").startswith("not assessed — not clean: server.json is not valid JSON")
    assert _case(root, "ex13-broken", "build-known").find("failure") is not None
    assert _case(root, "ex13-broken", "supported").find("skipped") is not None
    assert _case(root, "ex13-broken", "compromised").find("failure") is not None
    assert _case(root, "ex13-broken", "CVE-2021-26855").find("failure") is not None


def test_hostile_text_survives_as_text() -> None:
    document = render_junit(sample_report())
    assert "\x07" not in document
    assert "<script>" not in document
    text = _case(ET.fromstring(document.encode("utf-8")), "edge01", "compromised").find("failure").text
    assert HOSTILE_DETAIL.replace("\x07", "") in text


def test_xml_text_strips_what_xml_cannot_carry() -> None:
    assert xml_text("a\x00b\x1bc\ufffed\U0001f600") == "abcd\U0001f600"
    assert xml_text(None) == ""


def test_empty_report_is_valid_xml() -> None:
    root = ET.fromstring(render_junit({}).encode("utf-8"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("0", "0", "0")
