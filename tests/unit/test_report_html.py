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
from exchange_remediation.estate_status import status_counts
from exchange_remediation.remediation_summary import summarise_remediation
from exchange_remediation.report_html import (
    page_names,
    render_html,
    render_server_page,
    render_server_pages,
    safe_page_name,
)

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
            # In-page anchors, or a server's own page that report_files writes beside report.html.
            assert value.startswith("#") or re.fullmatch(r"servers/[a-z0-9._-]+\.html", value), value
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
    assert "<td>15.1.2176.2</td>" in servers
    assert ('<td>Exchange Server 2016 CU19 · SU none <span class="flag">out of support</span></td>'
            in servers)
    # Each row shows the server's one-word status and links to its own page.
    assert '<td><span class="badge ds ds-compromised">compromised</span></td>' in servers
    assert '<td><span class="badge ds ds-unknown">unknown</span></td>' in servers
    assert '<td><a href="servers/ex16-patched.html">page</a></td>' in servers
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


# --- the dashboard: totals, policy, drift, retention, timeline, server pages -------------------


IIS_LOG_2021 = "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex210305.log"


def _policy(failed: bool = True) -> dict:
    """The policy object of a nightly run over the sample estate (shape: nightly spec §1)."""
    conditions = [
        {"name": "compromised", "enforced": True, "evaluated": True, "triggered": failed,
         "hosts": ["ex16"] if failed else [], "summary": "1 server compromised: ex16" if failed else "none"},
        {"name": "vulnerable", "enforced": True, "evaluated": True, "triggered": False, "hosts": [],
         "summary": "none"},
        {"name": "unknown", "enforced": False, "evaluated": True, "triggered": True,
         "hosts": ["ex13-broken", "ex16-patched"],
         "summary": "2 servers unknown: ex13-broken (not assessed), ex16-patched (CVE-2023-36434 unknown)"},
        {"name": "unpatched_after_window", "enforced": True, "evaluated": False, "triggered": False, "hosts": [],
         "summary": "not evaluated: this run did not patch in a maintenance window"},
        {"name": "new_indicators", "enforced": False, "evaluated": False, "triggered": False, "hosts": [],
         "summary": "not evaluated: no previous report"},
    ]
    return {"fail_when": ["compromised", "vulnerable", "unpatched_after_window"], "failed": failed,
            "conditions": conditions,
            "summary": "policy failed: compromised (ex16)" if failed else "policy passed"}


def _drift() -> dict:
    """What changed since the night before (shape: nightly spec §1)."""
    return {
        "previous": {"path": "/srv/exchange/reports/acme/20250609T093000Z/report.json",
                     "generated_at": "2025-06-09T09:30:00Z"},
        "hosts_added": ["ex16-patched"], "hosts_gone": ["ex10"],
        "changes": [
            {"host": "ex19", "kind": "build", "before": "15.2.1748.24", "after": "15.2.1748.26",
             "summary": "build 15.2.1748.24 -> 15.2.1748.26 (CU15 Apr25HU -> CU15 May25HU)"},
            {"host": "ex16", "kind": "cves_opened", "before": [], "after": ["CVE-2021-24085", "CVE-2022-41082"],
             "summary": "2 CVEs now vulnerable: CVE-2021-24085, CVE-2022-41082"},
            {"host": "ex16", "kind": "compromised", "before": "unknown", "after": "yes",
             "summary": "compromised unknown -> yes <script>alert(4)</script>"},
        ],
        "new_indicators": [
            {"host": "ex16", "rule": "PL-WEBSHELL-ACCESS", "severity": "high", "source": IIS_LOG_2021, "line": 12,
             "time": "2021-03-05T03:06:27Z"},
        ],
        "new_indicators_total": 3,
        "summary": "2 servers changed, 1 added, 1 gone, 3 new indicators",
    }


def _retention(short: bool = True) -> dict:
    # ex16's logs: Application starts last (2021-02-20), collected 2021-03-08T10:00Z -> 16.4 days.
    return {"days": 16.4 if short else 36.4, "required_days": 30, "short": short,
            "logs_from": "2021-02-20T00:00:04Z" if short else "2021-01-31T00:00:04Z",
            "measured_to": "2021-03-08T10:00:00Z", "sources": ["Application"]}


def _between(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end, page.index(start))]


def test_header_tiles_count_servers_per_status() -> None:
    report = sample_report()
    page = render_html(report)
    tiles = _between(page, '<section id="totals"', "</section>")
    numbers = dict(re.findall(r'<span class="num" id="count-([a-z]+)">(\d+)</span>', tiles))
    assert numbers == {"total": "4", **{status: str(n) for status, n in status_counts(report).items()}}
    assert numbers == {"total": "4", "compromised": "1", "vulnerable": "0", "unknown": "2", "mitigated": "0",
                       "patched": "1"}
    assert page.index('id="totals"') < page.index('id="summary"') < page.index('id="timeline"')
    assert page.index('id="timeline"') < page.index('id="servers"')


def test_status_chart_and_who_is_behind_each_bar() -> None:
    page = render_html(sample_report())
    summary = _between(page, 'id="summary"', 'id="timeline"')
    chart = _between(summary, '<svg class="status-chart"', "</svg>")
    assert re.findall(r'class="bar-label">(\w+)</text>.*?class="bar-count">(\d+)</text>', chart) == [
        ("Compromised", "1"), ("Vulnerable", "0"), ("Unknown", "2"), ("Mitigated", "0"), ("Patched", "1")]
    who = _between(summary, '<dl class="who">', "</dl>")
    assert ('<dt><span class="badge ds ds-unknown">Unknown</span></dt><dd><a href="#host-1">ex13-broken</a>, '
            '<a href="#host-3">ex16-patched</a></dd>') in who
    assert "Vulnerable</span>" not in who  # an empty status lists nobody


def test_policy_banner_failed_and_passed() -> None:
    report = sample_report()
    assert 'id="policy"' not in render_html(report)
    report["policy"] = _policy()
    page = render_html(report)
    banner = _between(page, '<section id="policy"', "</section>")
    assert 'class="policy policy-failed"' in banner
    assert "<h2>Policy failed</h2><p>policy failed: compromised (ex16)</p>" in banner
    assert ('<li class="cond-triggered"><strong>compromised</strong>: FAILED — 1 server compromised: ex16</li>'
            in banner)
    assert '<li class=""><strong>vulnerable</strong>: passed — none</li>' in banner
    assert "<strong>unknown</strong>: not enforced — 2 servers unknown" in banner
    assert ("<strong>unpatched_after_window</strong>: not evaluated — not evaluated: this run did not patch "
            "in a maintenance window") in banner
    # The verdict is the first thing under the totals.
    assert page.index('id="totals"') < page.index('id="policy"') < page.index('id="summary"')
    report["policy"] = _policy(failed=False)
    banner = _between(render_html(report), '<section id="policy"', "</section>")
    assert 'class="policy policy-passed"' in banner and "<h2>Policy passed</h2>" in banner
    assert "FAILED" not in banner


def test_drift_section() -> None:
    report = sample_report()
    assert 'id="drift"' not in render_html(report)
    report["drift"] = _drift()
    page = render_html(report)
    parsed = _parse(page)
    assert parsed.mismatches == [] and "script" not in parsed.tags
    drift = _between(page, '<section id="drift">', "</section>")
    assert ('<p class="meta">Compared with /srv/exchange/reports/acme/20250609T093000Z/report.json '
            "(generated at 2025-06-09T09:30:00Z)</p>") in drift
    assert "<p><strong>2 servers changed, 1 added, 1 gone, 3 new indicators</strong></p>" in drift
    assert '<p>Servers added: <a href="#host-3">ex16-patched</a></p>' in drift
    assert "<p>Servers gone: ex10</p>" in drift  # gone: no section to link to
    assert ('<tr><td><a href="#host-4">ex19</a></td><td>build</td><td>15.2.1748.24</td><td>15.2.1748.26</td>'
            "<td>build 15.2.1748.24 -&gt; 15.2.1748.26 (CU15 Apr25HU -&gt; CU15 May25HU)</td></tr>") in drift
    assert "<td>cves opened</td><td>none</td><td>CVE-2021-24085, CVE-2022-41082</td>" in drift
    assert "compromised unknown -&gt; yes &lt;script&gt;alert(4)&lt;/script&gt;" in drift
    assert "<h3>New indicators (3)</h3>" in drift
    assert (f'<td>PL-WEBSHELL-ACCESS</td><td class="sev-high">high</td><td>{IIS_LOG_2021}, line 12</td>'
            "<td>2021-03-05T03:06:27Z</td>") in drift
    assert "<p>2 more new indicator(s) in report.json.</p>" in drift
    report["drift"] = {"previous": None, "hosts_added": [], "hosts_gone": [], "changes": [], "new_indicators": [],
                       "new_indicators_total": 0, "summary": "no previous report: drift not checked"}
    drift = _between(render_html(report), '<section id="drift">', "</section>")
    assert '<p class="meta">No previous report: drift not checked.</p>' in drift
    assert "<table>" not in drift


def test_short_log_retention_is_flagged() -> None:
    report = sample_report()
    report["hosts"]["ex16"]["hunt"]["retention"] = _retention()
    report["hosts"]["ex19"]["hunt"]["retention"] = dict(_retention(short=False), sources=["ECP", "HttpProxy"])
    page = render_html(report)
    section = _section(page, 2)
    assert ('<p class="retention retention-short">Logs reach back <strong>16.4 days</strong> (required: 30 days), '
            "from 2021-02-20T00:00:04Z to 2021-03-08T10:00:00Z; shortest: Application — <strong>too short: "
            "the hunt could not see anything older</strong>.</p>") in section
    assert "shortest: ECP, HttpProxy — long enough.</p>" in _section(page, 4)
    servers = _between(page, 'id="servers"', 'class="host"')
    ex16_row = _between(servers, '<a href="#host-2">', "</tr>")
    assert '<span class="flag">short logs</span>' in ex16_row
    assert "short logs" not in _between(servers, '<a href="#host-4">', "</tr>")
    assert "Logs reach back" not in render_html(sample_report())


def test_timeline_section_of_the_sample_estate() -> None:
    page = render_html(sample_report())
    timeline = _between(page, '<section id="timeline">', "</section>")
    assert ("<li><strong>ex16</strong> exploited from 2021-03-03 06:49 UTC to 2021-03-05 03:06 UTC (44 h 17 min): "
            "4 critical/high hit(s)</li>") in timeline
    # 2021 on ex16 and 2025 on ex16-patched: two panels and a break between them.
    assert re.findall(r'class="panel-head">([^<]+)<', timeline) == ["03 Mar 2021 – 05 Mar 2021", "01 Jun 2025"]
    assert '<polyline class="axis-break"' in timeline
    assert len(re.findall(r'class="hit sev-\w+ attempt"', timeline)) >= 1
    assert '<a href="#host-2"><text' in timeline  # a row's label leads to the server's section
    assert 'class="no-hits"' not in page


def test_no_hits_says_so_in_words() -> None:
    report = sample_report()
    for host in report["hosts"].values():
        host["indicators"] = []
    timeline = _between(render_html(report), '<section id="timeline">', "</section>")
    assert ('<p class="no-hits">No indicator hits: the hunt found nothing in the logs and files it read.</p>'
            in timeline)
    assert "<svg" not in timeline
    timeline = _between(render_html(without_hunt(sample_report())), '<section id="timeline">', "</section>")
    assert "No indicator hits — but no hunt ran, so this does not mean no compromise." in timeline


def test_print_css_keeps_colours_breaks_pages_and_hides_navigation() -> None:
    page = render_html(sample_report())
    css = page[page.index("<style>"):page.index("</style>")]
    printed = css[css.index("@media print"):]
    assert "print-color-adjust: exact" in printed and "-webkit-print-color-adjust: exact" in printed
    assert "section.host { break-before: page; }" in printed
    assert "nav, .nav { display: none !important; }" in printed
    assert '<nav class="sections"><a href="#totals">Totals</a><a href="#summary">Summary</a>' in page


@pytest.mark.parametrize(("host", "name"), [
    ("ex16-legacy", "ex16-legacy"),
    ("ex19-dag1.contoso.local", "ex19-dag1.contoso.local"),
    ("ex_01", "ex_01"),
])
def test_safe_page_name_keeps_safe_names(host: str, name: str) -> None:
    assert safe_page_name(host) == name


@pytest.mark.parametrize("host", ["EX01", "ex 01", "ex/../../etc/passwd", "ex<script>", "Ünïcode-ex", "", ".hidden",
                                  "..", "con", "CON", "nul.contoso.local", "x" * 300, "ex\u202excod"])
def test_safe_page_name_cleans_the_rest(host: str) -> None:
    name = safe_page_name(host)
    assert re.fullmatch(r"[a-z0-9._-]+-[0-9a-f]{10}", name), name
    assert not name.startswith(".") and len(name) <= 111
    assert name.split(".")[0] not in ("con", "nul")
    assert safe_page_name(host) == name  # deterministic


def test_page_names_never_collide() -> None:
    hosts = ["EX01", "ex01", "Ex01", "ex 01", "ex_01", "ex?01", "ex*01", "ex01-" + safe_page_name("EX01")[-10:],
             "CON", "con", "con_", "a" * 120, "a" * 121]
    report = {"hosts": {host: {"status": "ok"} for host in hosts}}
    names = page_names(report)
    assert len(set(names.values())) == len(hosts)
    assert names["ex01"] == "ex01" and names["ex_01"] == "ex_01"
    assert names["EX01"].startswith("ex01-") and names["ex 01"].startswith("ex_01-")


def test_server_page_is_standalone_and_links_back() -> None:
    report = sample_report()
    report["hosts"]["ex16"]["hunt"]["retention"] = _retention()
    page = render_server_page(report, "ex16")
    parsed = _parse(page)
    assert parsed.mismatches == [] and parsed.stack == []
    assert parsed.tags[:2] == ["html", "head"]
    assert '<body class="server-page"><nav class="back"><a href="../report.html">← Estate report</a></nav>' in page
    assert '<h1>ex16 <span class="badge ds ds-compromised">compromised</span></h1>' in page
    # The same section as in report.html, evidence and all.
    start, end = '<section class="host" id="host-2">', "</section>"
    assert _between(page, start, end) == _between(render_html(report), start, end)
    assert PROXYLOGON_LINE in parsed.pres
    timeline = _between(page, '<section id="timeline">', "</section>")
    assert re.findall(r'data-host="([^"]+)"', timeline) == ["ex16"]
    for name, value in parsed.attrs:
        if name == "href":
            assert value == "../report.html" or value.startswith("#"), value
    assert "servers/" not in page
    # A server without hits says so; one that is not in the report is an error.
    assert 'class="no-hits">No indicator hits: the hunt found nothing' in render_server_page(report, "ex19")
    assert "no hunt ran" in render_server_page(report, "ex13-broken")
    with pytest.raises(KeyError, match="ex99"):
        render_server_page(report, "ex99")


def test_hostile_inventory_name_everywhere() -> None:
    report = sample_report()
    hostile = 'ex<script>alert(1)</script>"><img src=x onerror=alert(2)>\u202e'
    report["hosts"][hostile] = report["hosts"].pop("ex16")
    report["hosts"][hostile]["indicators"][0]["rule"] = "<script>alert(5)</script>"
    report["hosts"][hostile]["indicators"][0]["detail"] = "<script>alert(6)</script>"
    report["drift"] = dict(_drift(), hosts_added=[hostile])
    report["policy"] = dict(_policy(), summary=f"policy failed: compromised ({hostile})")
    for page in (render_html(report), render_server_page(report, hostile)):
        parsed = _parse(page)
        assert parsed.mismatches == [] and parsed.stack == []
        assert not {"script", "img"} & set(parsed.tags)
        assert not [name for name, _ in parsed.attrs if name.startswith("on")]
        assert "<script" not in page.lower()
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", page)
        assert "ex&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;[U+202E]" in page
    assert f'href="servers/{safe_page_name(hostile)}.html"' in render_html(report)


def test_server_page_of_a_malformed_report() -> None:
    broken = {"hosts": {"ex02": {"status": "weird", "exchange": "x", "indicators": [None, {"time": "not a time"}],
                                 "hunt": {"status": 7, "exposure": [None, {"exposed": True, "start": "x"}]},
                                 "verdict": {"compromised": "no"}}}}
    page = render_server_page(broken, "ex02")
    parsed = _parse(page)
    assert parsed.mismatches == [] and parsed.stack == []
    assert '<h1>ex02 <span class="badge ds ds-unknown">unknown</span></h1>' in page
    assert "Not assessed — not clean." in page
    # One finding without a readable time: no chart, and the text says where the findings are.
    assert ('<p class="no-hits">No indicator hits with a readable time: the findings are listed per server '
            "below.</p>") in page


def test_every_server_page_at_once_equals_each_page_alone():
    report = sample_report()
    pages = render_server_pages(report)
    assert sorted(pages) == sorted(report["hosts"])
    for name, page in pages.items():
        assert page == render_server_page(report, name)
