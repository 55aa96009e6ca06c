"""report_html.render_html: self-contained, escaped, and complete."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_samples import (
    AUTODISCOVER_LINE,
    CU_FAILURE,
    ECP_ATTACK_LINE,
    HOSTILE_EVIDENCE,
    HOSTILE_SHOWN,
    PROXYLOGON_LINE,
    REFUSAL,
    SETUP_LOG,
    WEBSHELL,
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
from exchange_remediation.report_html import render_html

VOID = {"meta", "br", "link", "img", "hr", "input"}


class _Collector(HTMLParser):
    """Records tags, attributes and decoded text, the text of every <pre>, and checks that
    elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.pres: list[str] = []
        self.mismatches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(name, value or "") for name, value in attrs]
        if tag == "pre":
            self.pres.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.mismatches.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "pre" in self.stack:
            self.pres[-1] += data


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


def _section(page: str, index: int) -> str:
    start = page.index(f'id="host-{index}"')
    end = page.find('id="host-', start + 1)
    return page[start:end if end > 0 else len(page)]


def _hostile_report() -> dict:
    """ex16's first finding carries the hostile text everywhere a server's text can appear."""
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    finding["evidence"] = HOSTILE_EVIDENCE
    finding["detail"] = HOSTILE_EVIDENCE
    finding["source"] = "C:\\inetpub\\wwwroot\\aspnet_client\\x\u202excod.aspx"
    finding["title"] = '"><img src=x onerror=alert(3)>'
    return report


def test_untrusted_markup_is_escaped() -> None:
    page = render_html(sample_report())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "EX16-PATCHED&lt;b&gt;|`x`" in page
    parsed = _parse(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags
    # The browser shows the attacker's text literally, minus the control characters.
    assert HOSTILE_SHOWN in "".join(parsed.text)


@pytest.mark.parametrize(("hostile", "shown"), [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('"><img src=x onerror=alert(2)>', "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
    ("\x1b[31mRED\x1b[0m", "[31mRED[0m"),
    ("before\x00after", "beforeafter"),
    ("x\u202excod.aspx", "x[U+202E]xcod.aspx"),
])
def test_each_kind_of_hostile_evidence_is_inert(hostile: str, shown: str) -> None:
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    finding["evidence"] = f"2021-03-03T06:49:46.210Z,{hostile},EX16"
    finding["source"] = f"C:\\inetpub\\wwwroot\\aspnet_client\\{hostile}"
    page = render_html(report)
    assert f"<code>2021-03-03T06:49:46.210Z,{shown},EX16</code>" in page
    assert f"Source: C:\\inetpub\\wwwroot\\aspnet_client\\{shown}, line 8" in page
    parsed = _parse(page)
    assert parsed.mismatches == []
    assert not {"script", "img"} & set(parsed.tags)
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", page)


def test_hostile_text_in_every_field_of_a_finding() -> None:
    page = render_html(_hostile_report())
    parsed = _parse(page)
    assert parsed.mismatches == [] and parsed.stack == []
    assert not {"script", "img"} & set(parsed.tags)
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", page)
    assert HOSTILE_SHOWN in parsed.pres
    assert "x[U+202E]xcod.aspx" in page


def test_multi_line_evidence_keeps_its_lines_inside_the_block() -> None:
    report = sample_report()
    shell = '<%@ Page Language="Jscript"%>\r\n<%eval(Request.Item["x"],"unsafe");%>\n</pre></code><b>out</b>'
    report["hosts"]["ex16"]["indicators"][0]["evidence"] = shell
    parsed = _parse(render_html(report))
    assert parsed.mismatches == []
    assert "b" not in parsed.tags
    assert shell.replace("\r\n", "\n") in parsed.pres


def test_document_structure_is_balanced() -> None:
    parsed = _parse(render_html(sample_report()))
    assert parsed.mismatches == []
    assert parsed.stack == []
    assert parsed.tags[:2] == ["html", "head"]


def test_no_external_assets_or_script() -> None:
    page = render_html(sample_report())
    parsed = _parse(page)
    assert not {"link", "script", "img", "iframe", "object", "embed"} & set(parsed.tags)
    for name, value in parsed.attrs:
        assert name not in ("src", "srcset"), name
        if name == "href":
            assert value.startswith("#"), value
    assert not re.search(r"url\(|@import", page)


def test_control_characters_removed() -> None:
    page = render_html(sample_report())
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page)


def test_estate_summary_counts() -> None:
    page = render_html(sample_report())
    summary = page[page.index('id="summary"'):page.index('id="servers"')]
    numbers = re.findall(r'<td class="num[^"]*">(\d+)</td>', summary)
    # hosts, ok, error, vulnerable, compromised, compromise unknown, ruled out, out of support,
    # critical, high, medium, low findings, attempts
    assert numbers == ["4", "3", "1", "1", "1", "2", "1", "1", "3", "1", "1", "0", "2"]
    assert "<th>Compromise ruled out</th>" in summary and "<th>Attempts</th>" in summary


def test_servers_table_and_sections_in_host_order() -> None:
    page = render_html(sample_report())
    servers = page[page.index('id="servers"'):page.index('class="host"')]
    rows = re.findall(r'<a href="#host-(\d)">([^<]+)</a>', servers)
    assert rows == [("1", "ex13-broken"), ("2", "ex16"), ("3", "ex16-patched"), ("4", "ex19")]
    for index in range(1, 5):
        assert f'<section class="host" id="host-{index}">' in page
    assert "<td>15.1.2176.2</td>" in servers and "<td>CU19</td>" in servers
    assert "9 (+1 unknown)" in servers  # ex16: nine vulnerable CVEs, one unknown
    assert '<td class="c-yes">yes</td><td>3 critical, 1 high, 1 medium</td>' in servers
    assert '<td class="c-unknown">unknown</td><td>2 attempts</td>' in servers
    assert '<td class="c-no">no</td><td>none</td>' in servers


def test_error_host_is_not_clean() -> None:
    page = render_html(sample_report())
    section = _section(page, 1)
    assert "Not assessed — not clean." in section
    assert "server.json is not valid JSON: Expecting &#x27;,&#x27; delimiter" in section
    assert 'class="badge c-unknown">unknown<' in section
    assert 'class="badge v-unknown">unknown<' in section
    assert "<li>no evidence to hunt: server.json is not valid JSON" in section
    assert "hunt not run" in section
    assert "<p>none — the host was not assessed.</p>" in section


def test_compromised_host_shows_every_finding_with_its_evidence() -> None:
    page = render_html(sample_report())
    section = _section(page, 2)
    parsed = _parse(section)
    assert 'class="badge c-yes">yes<' in section
    assert "<li>3 critical and 1 high finding(s) that are not attempts</li>" in section
    assert "<h4>Indicators of compromise (5)</h4>" in section
    # Worst first, each with rule, title, campaign, CVEs, time, source and line, detail, evidence.
    rules = re.findall(r"\d\. <strong>([A-Z0-9-]+)</strong>", section)
    assert rules == ["PL-26855-HTTPPROXY", "PL-27065-ECPSERVER", "PL-26858-OABGEN", "PL-WEBSHELL-ACCESS",
                     "PL-26855-BLOG"]
    assert ('<span class="title">ProxyLogon SSRF to a back-end path (HttpProxy)</span>'
            "<br>ProxyLogon · CVE-2021-26855 · 2021-03-03T06:49:46.210Z") in section
    assert ("Source: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\HttpProxy\\Ecp\\"
            "HttpProxy_2021030306-1.LOG, line 8") in section
    assert "Detail: AnchorMailbox ServerInfo~a]@ex16.contoso.local:444/ecp/proxyLogon.ecp?# from 203.0" in section
    assert "Webshell · no CVE · 2021-03-05T03:06:27Z" in section
    for line in (PROXYLOGON_LINE, ECP_ATTACK_LINE, AUTODISCOVER_LINE):
        assert line in parsed.pres
    # The web shell's markup in the ECP log line is evidence: shown, never live.
    assert '&lt;script language=&quot;&quot;JScript&quot;&quot; runat=&quot;&quot;server&quot;&quot;&gt;' in section
    assert WEBSHELL in section
    assert '<td>CVE-2021-26855</td><td class="st-vulnerable">vulnerable</td>' in section
    assert '<td>CVE-2021-26857</td><td class="st-mitigated">mitigated</td>' in section
    assert '<p class="st-patched">Patched (' in section
    assert "product_out_of_support" in section
    assert "Isolate and investigate" in section
    assert section.rindex("st-vulnerable") < section.index("st-patched")


def test_compromise_section_shows_coverage_exposure_and_sources() -> None:
    page = render_html(sample_report())
    section = _section(page, 2)
    assert "<p>Logs cover 26.7% of the exposure window (minimum 90%).</p>" in section
    assert ("<tr><td>ProxyLogon</td><td>CVE-2021-26855, CVE-2021-26857, CVE-2021-26858, CVE-2021-27065</td>"
            "<td>2021-01-06</td><td>2021-03-08</td><td>open when collected (CVE-2021-26855 vulnerable)</td>"
            "<td>logs cover 26.7% of the exposure window</td></tr>") in section
    assert "<td>—</td><td>—</td><td>open when collected (CVE-2021-31207 vulnerable)</td><td>not exposed</td>" in section
    assert ('<tr><td>HttpProxy</td><td>yes</td><td>yes</td><td class="num">412</td><td class="num">126000</td>'
            "<td>2021-02-07T09:00:01.000Z</td><td>2021-03-08T09:59:58.000Z</td><td></td><td>no</td></tr>") in section
    assert "C:\\Windows\\Temp\\xx.bat: first 64 KiB of 1.2 MiB copied" in section
    assert "dropped as known false positives: PL-26855-HTTPPROXY 3, PL-26858-OABGEN 12" in section
    # Required sources come first.
    assert section.index("<td>WebFolders</td>") < section.index("<td>IIS</td>")


def test_unknown_host_shows_reasons_capped_and_missing_sources() -> None:
    section = _section(render_html(sample_report()), 3)
    assert 'class="badge c-unknown">unknown<' in section
    for reason in ("Application: not fully read (a size cap was hit or a check could not run)",
                   "MSExchangeManagement: not in the evidence",
                   "logs cover 0% of the ProxyNotShell exposure window (2022-08-01 to 2022-11-10; minimum 90%)"):
        assert f"<li>{reason}</li>" in section
    assert "<p>Logs cover 0% of the exposure window (minimum 90%).</p>" in section
    assert '<tr><td>MSExchangeManagement</td><td>yes</td><td class="c-unknown">no</td>' in section
    assert ('<td>Application.evtx: 250000 of 1840311 events kept (cap hit)</td><td class="c-unknown">yes</td>'
            in section)


def test_attempts_are_marked() -> None:
    section = _section(render_html(sample_report()), 3)
    blocks = re.findall(r'<div class="indicator[^"]*">.*?</div>', section)
    assert len(blocks) == 2
    for block in blocks:
        assert block.startswith('<div class="indicator sev-')
        assert ' attempt">' in block[:45]
        assert '<span class="badge attempt">attempt</span>' in block
        assert "Attempt: logged when the server was not open to this campaign" in block
    real = _section(render_html(sample_report()), 2)
    assert "badge attempt" not in real


def test_clean_host_and_hosts_without_a_hunt_still_render() -> None:
    section = _section(render_html(sample_report()), 4)
    assert 'class="badge c-no">no<' in section
    assert "<li>every required source was present and read in full, and no finding counts</li>" in section
    assert "<p>Logs cover 100% of the exposure window (minimum 90%).</p>" in section
    assert "<p>none found.</p>" in section

    page = render_html(without_hunt(sample_report()))
    parsed = _parse(page)
    assert parsed.mismatches == [] and parsed.stack == []
    clean = _section(page, 4)
    assert "<li>the hunt did not run for this host</li>" in clean
    assert '<p class="meta">no hunt in this report</p>' in clean
    assert "Logs cover" not in clean and "Sources read" not in clean
    assert "<p>none found.</p>" in clean

    report = sample_report()
    report["hosts"]["ex19"]["hunt"] = {"status": "not_run", "exposure": []}
    report["hosts"]["ex19"]["verdict"]["compromised"] = "unknown"
    section = _section(render_html(report), 4)
    assert "<p>none — the hunt did not run.</p>" in section
    assert "log coverage of the exposure window unknown" in section.lower()


def test_many_findings_are_capped_on_the_page() -> None:
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    report["hosts"]["ex16"]["indicators"] = [dict(finding, line=n) for n in range(1, 603)]
    section = _section(render_html(report), 2)
    assert section.count('<div class="indicator') == 500
    assert "<p>102 more finding(s) in report.json.</p>" in section


def test_tolerates_minimal_and_malformed_reports() -> None:
    minimal = {"schema": 1, "generated_at": "2021-03-08T10:00:00Z", "hosts": {"ex01": {
        "status": "ok", "exchange": {}, "cves": {}, "indicators": [],
        "verdict": {"vulnerable": False, "compromised": "no"}}}}
    page = render_html(minimal)
    assert '<a href="#host-1">ex01</a>' in page
    assert "No CVE was evaluated." in page
    broken = {"hosts": {"ex02": {"status": "weird", "exchange": "x", "cves": {"CVE-2021-26855": "fixed"},
                                 "indicators": [None, {"line": True, "evidence": 42, "cves": "x"}],
                                 "hunt": {"status": 7, "sources": {"HttpProxy": None}, "exposure": [None],
                                          "excluded": {"R": "x"}, "reasons": "x", "coverage_percent": "50"},
                                 "verdict": {"compromised": "no"}}}}
    page = render_html(broken)
    # An unknown status is "not assessed", and then "no" is not believed.
    assert "Not assessed — not clean." in page and 'class="badge c-unknown"' in page
    assert '<td class="st-unknown">unknown</td>' in page
    assert _parse(page).mismatches == []
    assert "<h1>Exchange assessment</h1>" in render_html({"hosts": []})


# --- the remediation (a report written with a plan) -----------------------------------------
# Hosts of the remediation run in page order: edge01 1, ex-damaged 2, ex10 3, ex16-legacy 4,
# ex16-mitigated 5, ex16-patched 6, ex19-dag1 7, ex19-dag2 8.


def _remediation_section(page: str) -> str:
    return page[page.index('<section id="remediation">'):page.index('<section id="summary">')]


def test_remediation_section_comes_first_with_counts_and_the_stop() -> None:
    page = render_html(remediation_report())
    parsed = _parse(page)
    assert parsed.mismatches == [] and parsed.stack == []
    assert page.index('id="remediation"') < page.index('id="summary"') < page.index('id="servers"')
    section = _remediation_section(page)
    assert "<h2>Remediation</h2>" in section
    assert '<p class="meta">Plan generated at 2026-11-29T10:00:00Z</p>' in section
    assert ('<p class="banner"><strong>Rollout stopped: ex16-mitigated failed; the servers of later waves were '
            "skipped.</strong></p>") in section
    counts = section[:section.index("<h3>Waves</h3>")]
    # patched, failed, refused, skipped, up to date, planned, blocked, not planned
    assert re.findall(r'<td class="num[^"]*">(\d+)</td>', counts) == ["2", "1", "0", "1", "2", "0", "2", "0"]
    assert '<td class="num rs-failed">1</td>' in counts and '<td class="num ">0</td>' in counts
    assert "<th>Modelled window</th>" in counts and '<td class="num ">650 min (10 h 50)</td>' in counts
    # The state colours are only on a page that shows a remediation.
    assert ".rs-failed" in page and ".rs-failed" not in render_html(sample_report())


def test_waves_table_links_each_server_with_its_state() -> None:
    section = _remediation_section(render_html(remediation_report()))
    waves = section[section.index("<h3>Waves</h3>"):section.index("<h3>Active Directory preparation</h3>")]
    assert "<tr><th>Wave</th><th>Servers</th><th>Modelled minutes</th></tr>" in waves
    assert ('<tr><td class="num">1</td><td><a href="#host-7">ex19-dag1</a> '
            '<span class="badge rs-patched">patched</span></td><td class="num">90</td></tr>') in waves
    assert ('<tr><td class="num">3</td><td><a href="#host-5">ex16-mitigated</a> '
            '<span class="badge rs-failed">failed</span></td><td class="num">250</td></tr>') in waves
    assert '<a href="#host-1">edge01</a> <span class="badge rs-skipped">skipped</span>' in waves


def test_ad_preparation_and_servers_before_and_after() -> None:
    section = _remediation_section(render_html(remediation_report()))
    assert ("<dt>Needed</dt><dd>yes</dd><dt>Steps</dt><dd>PrepareSchema, PrepareAD, PrepareAllDomains</dd>"
            "<dt>Target</dt><dd>Exchange Server 2016 CU23</dd>") in section
    assert "<dt>License switch</dt><dd>/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF</dd>" in section
    assert "<li>2016 CU23 needs schema 15334, MESO 13243 and organisation 16223;" in section
    rows = section[section.index("<h3>Servers</h3>"):]
    assert ('<tr><td><a href="#host-4">ex16-legacy</a></td><td><span class="badge rs-patched">patched</span></td>'
            '<td class="num">2</td><td>CU19 no SU (15.1.2176.2) → CU23 Aug26SU (15.1.2507.72)</td><td></td></tr>'
            ) in rows
    assert "<td>CU14 Nov24SUv2 (15.2.1544.14) → CU14 Aug26SU (15.2.1544.44)</td>" in rows
    assert (f"<td>CU18 no SU (15.1.2106.2) → target CU23 Aug26SU (15.1.2507.72)</td><td>{CU_FAILURE}; "
            f"failed step: <code>cu</code>; setup log: <code>{SETUP_LOG}</code></td>") in rows
    assert '<span class="badge rs-blocked">blocked</span></td><td class="num">—</td>' in rows
    assert "<td>Exchange 2010 is out of support and has no automatic path: migrate</td>" in rows


def test_each_host_section_shows_its_remediation() -> None:
    page = render_html(remediation_report())
    legacy = _section(page, 4)
    assert ('<h3>Remediation</h3><p><span class="badge rs-patched">patched</span> · wave 2</p>'
            '<dl class="facts"><dt>Before → after</dt><dd>CU19 no SU (15.1.2176.2) → CU23 Aug26SU (15.1.2507.72)</dd>'
            ) in legacy
    assert "<dt>Maintenance mode exited</dt><dd>yes</dd>" in legacy
    assert ("<dt>Steps</dt><dd>prerequisite IIS URL Rewrite Module 2.1, CU23 (15.1.2507.6, KB5011155), "
            "Aug26SU (15.1.2507.72, KB5121576)</dd>") in legacy
    # What was done comes before what to do next.
    assert legacy.index("<h3>Remediation</h3>") < legacy.index("<h3>Next step</h3>")
    failed = _section(page, 5)
    assert '<span class="badge rs-failed">failed</span> · wave 3' in failed
    assert f"<dt>Reason</dt><dd>{CU_FAILURE}</dd>" in failed
    assert "<dt>Failed step</dt><dd>cu</dd>" in failed
    assert f"<dt>Setup log</dt><dd><code>{SETUP_LOG}</code></dd>" in failed
    up_to_date = _section(page, 6)
    assert '<span class="badge rs-up_to_date">up to date</span></p>' in up_to_date
    assert "<dt>Before → after</dt><dd>CU23 Aug26SU (15.1.2507.72)</dd>" in up_to_date


def test_a_refused_server_and_a_server_left_in_maintenance() -> None:
    outcomes = refused_outcomes()
    outcomes["ex19-dag1"]["maintenance_exited"] = False
    page = render_html(remediation_report(outcomes))
    assert "Rollout stopped: ex16-legacy was refused;" in page
    assert f"<dt>Reason</dt><dd>{REFUSAL}</dd>" in _section(page, 4)
    assert "<strong>left in maintenance mode</strong>" in _remediation_section(page)
    assert "<dt>Maintenance mode exited</dt><dd>no</dd>" in _section(page, 7)


def test_a_plan_without_outcomes_shows_the_waves_to_come() -> None:
    hosts = demo_before()
    page = render_html(build_report(hosts, "2026-11-29T10:00:00Z", {}, summarise_remediation(hosts, demo_plan())))
    section = _remediation_section(page)
    assert "banner" not in section
    assert '<a href="#host-7">ex19-dag1</a> <span class="badge rs-planned">planned</span>' in section
    assert "<td>CU19 no SU (15.1.2176.2) → target CU23 Aug26SU (15.1.2507.72)</td>" in section


def test_hostile_reason_and_setup_log_are_inert() -> None:
    page = render_html(hostile_remediation_report())
    parsed = _parse(page)
    assert parsed.mismatches == [] and parsed.stack == []
    assert not {"script", "img", "b"} & set(parsed.tags)
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", page)
    text = "".join(parsed.text)
    assert ('setup said <script>alert(1)</script>"><img src=x onerror=alert(2)>[31mRED[0mNUL x[U+202E]xcod.aspx'
            in text)
    assert "C:\\ExchangeSetupLogs\\<script>alert(3)</script>]0;pwned[U+202E]gol.exe|`x`.log" in text
    assert "failed step: cu</code><b>[1m" in text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page


def test_without_a_plan_the_page_is_the_assessment_page() -> None:
    report = remediation_report()
    page = render_html(without_remediation(report))
    assert page == render_html(build_report(
        {name: {k: v for k, v in host.items() if k != "remediation"} for name, host in report["hosts"].items()},
        report["generated_at"], report["run"]))
    assert "Remediation" not in page and "rs-" not in page
