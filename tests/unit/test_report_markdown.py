"""report_markdown.render_markdown: tables cannot be broken and evidence blocks cannot be left by
untrusted text. Checked with a real CommonMark parser (markdown-it-py) besides the text itself."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token
from report_samples import (
    AUTODISCOVER_LINE,
    CU_FAILURE,
    ECP_ATTACK_LINE,
    HOSTILE_EVIDENCE,
    HOSTILE_SHOWN,
    PROXYLOGON_LINE,
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
from exchange_remediation.report_markdown import code_block, escape_md, render_markdown
from exchange_remediation.report_table import clean_block

# CommonMark plus GFM tables (the "gfm-like" preset also needs linkify-it, which is not installed).
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _unescaped(line: str, char: str) -> int:
    """How many times char occurs in line without a backslash escape in front of it."""
    count = 0
    index = 0
    while index < len(line):
        if line[index] == "\\":
            index += 2
            continue
        if line[index] == char:
            count += 1
        index += 1
    return count


def _outside_fences(markdown: str) -> list[str]:
    """The lines that are not inside a fenced code block (our fences are backtick runs + "text")."""
    lines: list[str] = []
    fence = ""
    for line in markdown.splitlines():
        if fence:
            if line == fence:
                fence = ""
            continue
        if line.startswith("```") and line.endswith("text"):
            fence = line[: -len("text")]
            continue
        lines.append(line)
    assert not fence, "unclosed fence"
    return lines


def _tables(markdown: str) -> list[list[str]]:
    """Blocks of consecutive lines that start with a pipe."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in _outside_fences(markdown):
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _tokens(markdown: str) -> list[Token]:
    flat: list[Token] = []
    for token in PARSER.parse(markdown):
        flat.append(token)
        flat += token.children or []
    return flat


def _fences(markdown: str) -> list[str]:
    return [token.content for token in _tokens(markdown) if token.type == "fence"]


def _headings(markdown: str) -> list[str]:
    tokens = PARSER.parse(markdown)
    return [tokens[index + 1].content for index, token in enumerate(tokens) if token.type == "heading_open"]


def _assert_inert(markdown: str) -> None:
    """No HTML, link or image survives parsing, whatever the text held."""
    kinds = {token.type for token in _tokens(markdown)}
    assert not kinds & {"html_block", "html_inline", "image", "link_open"}, kinds


def _hostile_report() -> dict:
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    finding["evidence"] = HOSTILE_EVIDENCE
    finding["detail"] = HOSTILE_EVIDENCE
    finding["source"] = "C:\\inetpub\\wwwroot\\aspnet_client\\x\u202excod.aspx"
    finding["title"] = '"><img src=x onerror=alert(3)> | `x` [y](http://evil.example)'
    return report


def test_every_table_row_has_the_same_number_of_cells() -> None:
    tables = _tables(render_markdown(sample_report()))
    # summary, servers; ex13-broken: CVEs; ex16: CVEs, exposure, sources; ex16-patched: CVEs,
    # exposure, sources; ex19: exposure, sources (its CVEs are all patched: one line, no table).
    assert len(tables) == 11
    for table in tables:
        counts = {_unescaped(row, "|") for row in table}
        assert len(counts) == 1, table
        assert len(table) >= 3  # header, alignment, at least one row


def test_hostile_text_is_inert() -> None:
    markdown = render_markdown(sample_report())
    for char in "<>`[]":
        assert all(_unescaped(line, char) == 0 for line in _outside_fences(markdown)), char
    assert "\x07" not in markdown and "\x1b" not in markdown and "\x00" not in markdown
    assert "\u202e" not in markdown
    assert "EX16\\-PATCHED" not in markdown and "EX16-PATCHED\\<b\\>\\|\\`x\\`" in markdown
    assert "\\[see\\](http://evil.example/x)" in markdown
    _assert_inert(markdown)
    assert HOSTILE_SHOWN + "\n" in _fences(markdown)


@pytest.mark.parametrize(("hostile", "shown"), [
    ("<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"),
    ('"><img src=x onerror=alert(2)>', '"\\>\\<img src=x onerror=alert(2)\\>'),
    ("\x1b[31mRED\x1b[0m", "\\[31mRED\\[0m"),
    ("before\x00after", "beforeafter"),
    ("x\u202excod.aspx", "x[U+202E]xcod.aspx".replace("[", "\\[").replace("]", "\\]")),
])
def test_each_kind_of_hostile_evidence_is_inert(hostile: str, shown: str) -> None:
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    finding["evidence"] = f"2021-03-03T06:49:46.210Z,{hostile},EX16"
    finding["source"] = f"C:\\inetpub\\wwwroot\\aspnet_client\\{hostile}"
    markdown = render_markdown(report)
    _assert_inert(markdown)
    assert f"- Source: C:\\\\inetpub\\\\wwwroot\\\\aspnet\\_client\\\\{shown}, line 8" in markdown
    assert f"2021-03-03T06:49:46.210Z,{clean_block(hostile)},EX16\n" in _fences(markdown)
    assert not any(char in markdown for char in "\x00\x1b\u202e")


def test_hostile_text_in_every_field_of_a_finding() -> None:
    markdown = render_markdown(_hostile_report())
    _assert_inert(markdown)
    assert len(_headings(markdown)) == len(_headings(render_markdown(sample_report())))
    for char in "<>`[]":
        assert all(_unescaped(line, char) == 0 for line in _outside_fences(markdown)), char
    section = markdown[markdown.index("## ex16\n"):markdown.index("## ex16-patched")]
    # The evidence is shown as written inside its fence; the same text as a detail is escaped.
    assert HOSTILE_SHOWN + "\n" in _fences(section)
    assert "- Detail: " + escape_md(HOSTILE_EVIDENCE) in section
    assert "\\<script\\>alert(1)\\</script\\>\"\\>\\<img+src=x+onerror=alert(2)\\>" in section
    for table in _tables(markdown):
        assert len({_unescaped(row, "|") for row in table}) == 1


@pytest.mark.parametrize("evidence", [
    "```\n# not a heading\n```",
    "````\n<script>alert(1)</script>\n`````",
    "line 1\n```text\n[x](http://evil.example)\n```\n<img src=x onerror=alert(1)>",
    "    ```\n~~~\n```",
    "`" * 40,
])
def test_evidence_cannot_break_out_of_its_fence(evidence: str) -> None:
    report = sample_report()
    report["hosts"]["ex16"]["indicators"][0]["evidence"] = evidence
    markdown = render_markdown(report)
    _assert_inert(markdown)
    assert evidence + "\n" in _fences(markdown)
    # The rest of the document is unchanged: the same headings follow, the same tables.
    assert _headings(markdown) == _headings(render_markdown(sample_report()))
    assert len(_tables(markdown)) == len(_tables(render_markdown(sample_report())))


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_code_block_holds_any_text(text: str) -> None:
    cleaned = clean_block(text)
    fences = _fences("\n".join(code_block(cleaned)) + "\n\nafter\n")
    assert fences == [cleaned + "\n"]


def test_servers_table_content() -> None:
    markdown = render_markdown(sample_report())
    servers = _tables(markdown)[1]
    assert servers[0].startswith("| Host | Status |") and "| Compromised | Findings | Next step |" in servers[0]
    assert [row.split(" | ")[0] for row in servers[2:]] == ["| ex13-broken", "| ex16", "| ex16-patched", "| ex19"]
    ex16 = servers[3]
    expected = ("| Exchange Server 2016 | CU19 | none | 15.1.2176.2 | no | no | 9 (+1 unknown) | yes | yes "
                "| 3 critical, 1 high, 1 medium |")
    assert expected in ex16
    assert "| unknown | 2 attempts |" in servers[4]
    assert "| no | none |" in servers[5]
    broken = servers[2]
    assert "**not assessed — not clean**: server.json is not valid JSON" in broken
    assert "| unknown | not hunted |" in broken


def test_summary_table_counts() -> None:
    summary = _tables(render_markdown(sample_report()))[0]
    assert "Compromise ruled out" in summary[0] and "Critical findings" in summary[0]
    assert summary[2] == "| 4 | 3 | 1 | 1 | 1 | 2 | 1 | 1 | 3 | 1 | 1 | 0 | 2 |"


def test_error_host_section() -> None:
    markdown = render_markdown(sample_report())
    section = markdown[markdown.index("## ex13-broken"):markdown.index("## ex16\n")]
    assert "**Not assessed — not clean.** Reason: server.json is not valid JSON" in section
    assert "Compromised: **unknown** · Findings: not hunted" in section
    assert "- no evidence to hunt: server.json is not valid JSON" in section
    assert "Hunt not run · error: no evidence to hunt" in section
    assert "None — the host was not assessed." in section


def test_compromised_host_section_lists_every_finding() -> None:
    markdown = render_markdown(sample_report())
    section = markdown[markdown.index("## ex16\n"):markdown.index("## ex16-patched")]
    assert "Compromised: **yes** · Findings: 3 critical, 1 high, 1 medium" in section
    assert "- 3 critical and 1 high finding(s) that are not attempts" in section
    assert "### Indicators of compromise (5)" in section
    assert "#### 1. critical · PL-26855-HTTPPROXY — ProxyLogon SSRF to a back-end path (HttpProxy)" in section
    assert "#### 4. high · PL-WEBSHELL-ACCESS — Request to a planted page" in section
    assert "#### 5. medium · PL-26855-BLOG" in section
    assert "- Campaign: ProxyLogon · CVE-2021-26855" in section
    assert "- Time: 2021-03-03T06:49:46.210Z" in section
    assert ("- Source: C:\\\\Program Files\\\\Microsoft\\\\Exchange Server\\\\V15\\\\Logging\\\\HttpProxy\\\\Ecp\\\\"
            "HttpProxy\\_2021030306-1.LOG, line 8") in section
    assert "- Detail: AnchorMailbox ServerInfo\\~a\\]@ex16.contoso.local:444/ecp/proxyLogon.ecp?\\# from" in section
    fences = _fences(section)
    for line in (PROXYLOGON_LINE, ECP_ATTACK_LINE, AUTODISCOVER_LINE):
        assert line + "\n" in fences
    assert "| CVE-2021-26855 | **vulnerable** | Mar21SU |" in section
    assert "| CVE-2021-26857 | mitigated | Mar21SU |" in section
    assert "- DAG: DAG01" in section


def test_coverage_exposure_and_sources() -> None:
    markdown = render_markdown(sample_report())
    section = markdown[markdown.index("## ex16\n"):markdown.index("## ex16-patched")]
    assert "Logs cover 26.7% of the exposure window (minimum 90%)." in section
    assert ("| ProxyLogon | CVE-2021-26855, CVE-2021-26857, CVE-2021-26858, CVE-2021-27065 | 2021-01-06 | "
            "2021-03-08 | open when collected (CVE-2021-26855 vulnerable) | logs cover 26.7% of the exposure window |"
            ) in section
    assert ("| HttpProxy | yes | yes | 412 | 126000 | 2021-02-07T09:00:01.000Z | 2021-03-08T09:59:58.000Z |  | no |"
            in section)
    assert ("Hunt done · 41 rules · dropped as known false positives: PL-26855-HTTPPROXY 3, PL-26858-OABGEN 12"
            in section)
    patched = markdown[markdown.index("## ex16-patched"):markdown.index("## ex19")]
    assert "- MSExchangeManagement: not in the evidence" in patched
    assert "| MSExchangeManagement | yes | no | 0 | 0 |" in patched
    assert "| Application.evtx: 250000 of 1840311 events kept (cap hit) | yes |" in patched


def test_attempts_are_marked() -> None:
    markdown = render_markdown(sample_report())
    patched = markdown[markdown.index("## ex16-patched"):markdown.index("## ex19")]
    assert "#### 1. high · PNS-IIS-AUTODISCOVER-POWERSHELL — ProxyNotShell autodiscover request to PowerShell " \
           "(IIS) (attempt)" in patched
    assert patched.count("- **Attempt: logged when the server was not open to this campaign; not counted as a "
                         "compromise**") == 2
    ex16 = markdown[markdown.index("## ex16\n"):markdown.index("## ex16-patched")]
    assert "(attempt)" not in ex16 and "Attempt:" not in ex16


def test_hosts_without_a_hunt_still_render() -> None:
    markdown = render_markdown(without_hunt(sample_report()))
    _assert_inert(markdown)
    clean = markdown[markdown.index("## ex19"):]
    assert "Compromised: **unknown** · Findings: not hunted" in clean
    assert "- the hunt did not run for this host" in clean
    assert "None found." in clean and "Logs cover" not in clean
    report = sample_report()
    report["hosts"]["ex19"]["hunt"] = {"status": "not_run"}
    report["hosts"]["ex19"]["verdict"]["compromised"] = "unknown"
    clean = render_markdown(report)
    clean = clean[clean.index("## ex19"):]
    assert "None — the hunt did not run." in clean
    assert "Log coverage of the exposure window unknown" in clean


@pytest.mark.parametrize(("raw", "expected"), [
    ("a|b", "a\\|b"),
    ("`code`", "\\`code\\`"),
    ("[x](y)", "\\[x\\](y)"),
    ("<img src=x>", "\\<img src=x\\>"),
    ("*bold* _it_ ~s~", "\\*bold\\* \\_it\\_ \\~s\\~"),
    ("&amp; $x$ # !", "\\&amp; \\$x\\$ \\# \\!"),
    ("back\\slash", "back\\\\slash"),
    ("two\nlines\r\tand\x07bell", "two lines  andbell"),
    (None, "—"),
])
def test_escape_md(raw: object, expected: str) -> None:
    assert escape_md(raw) == expected


def test_code_block_fence_is_longer_than_any_backtick_run() -> None:
    assert code_block("plain") == ["```text", "plain", "```"]
    assert code_block("a ```` b\nc") == ["`````text", "a ```` b", "c", "`````"]


def test_tolerates_minimal_report() -> None:
    markdown = render_markdown({"hosts": {"ex01": {"status": "ok"}}})
    assert "## ex01" in markdown
    assert "No CVE was evaluated." in markdown
    assert "Findings: not hunted" in markdown


# --- the remediation (a report written with a plan) -----------------------------------------


def _part(markdown: str, start: str, end: str) -> str:
    return markdown[markdown.index(start):markdown.index(end, markdown.index(start))]


def test_remediation_comes_first_with_counts_waves_and_ad_preparation() -> None:
    markdown = render_markdown(remediation_report())
    _assert_inert(markdown)
    headings = _headings(markdown)
    assert headings[:6] == ["Exchange assessment", "Remediation", "Waves", "Active Directory preparation",
                            "Remediation by server", "Estate summary"]
    section = _part(markdown, "## Remediation\n", "## Estate summary")
    assert "**Rollout stopped: ex16-mitigated failed; the servers of later waves were skipped.**" in section
    counts, waves, servers = _tables(section)
    assert counts[0] == ("| Patched | Failed | Refused | Skipped | Up to date | Planned | Blocked | Not planned "
                         "| Modelled window | One server at a time |")
    assert counts[2] == "| 2 | 1 | 0 | 1 | 2 | 0 | 2 | 0 | 650 min (10 h 50) | 650 min (10 h 50) |"
    assert waves[2:] == ["| 1 | ex19-dag1 (patched) | 90 |", "| 2 | ex16-legacy (patched) | 250 |",
                         "| 3 | ex16-mitigated (failed) | 250 |", "| 4 | edge01 (skipped) | 60 |"]
    assert "- Steps: PrepareSchema, PrepareAD, PrepareAllDomains" in section
    assert "- License switch: /IAcceptExchangeServerLicenseTerms\\_DiagnosticDataOFF" in section
    assert "  - 2016 CU23 needs schema 15334, MESO 13243 and organisation 16223;" in section
    assert "| ex16-legacy | patched | 2 | CU19 no SU (15.1.2176.2) → CU23 Aug26SU (15.1.2507.72) |  |" in servers
    assert ("| ex16-mitigated | failed | 3 | CU18 no SU (15.1.2106.2) → target CU23 Aug26SU (15.1.2507.72) | "
            f"{escape_md(CU_FAILURE)}; failed step: cu; setup log: C:\\\\ExchangeSetupLogs\\\\ExchangeSetup.log |"
            ) in servers
    assert "| ex10 | blocked | — | SP3 RU32 no SU (14.3.513.0) |" in "\n".join(servers)
    for table in _tables(markdown):
        assert len({_unescaped(row, "|") for row in table}) == 1, table


def test_each_host_section_shows_its_remediation() -> None:
    markdown = render_markdown(remediation_report())
    legacy = _part(markdown, "## ex16-legacy\n", "## ex16-mitigated\n")
    assert ("### Remediation\n\nState: **patched** · Wave: 2\n\n"
            "- Before → after: CU19 no SU (15.1.2176.2) → CU23 Aug26SU (15.1.2507.72)\n") in legacy
    assert "- Maintenance mode exited: yes" in legacy
    assert "- Steps: prerequisite IIS URL Rewrite Module 2.1, CU23 (15.1.2507.6, KB5011155)," in legacy
    # After the server's facts, before what to do next.
    assert legacy.index("- Build: 15.1.2507.72") < legacy.index("### Remediation") < legacy.index("### Next step")
    failed = _part(markdown, "## ex16-mitigated\n", "## ex16-patched\n")
    assert "State: **failed** · Wave: 3" in failed
    assert f"- Reason: {escape_md(CU_FAILURE)}" in failed
    assert "- Failed step: cu" in failed
    assert "- Setup log: C:\\\\ExchangeSetupLogs\\\\ExchangeSetup.log" in failed


def test_refused_planned_and_left_in_maintenance() -> None:
    outcomes = refused_outcomes()
    outcomes["ex19-dag1"]["maintenance_exited"] = False
    markdown = render_markdown(remediation_report(outcomes))
    assert "**Rollout stopped: ex16-legacy was refused; the servers of later waves were skipped.**" in markdown
    assert "**left in maintenance mode**" in markdown
    assert "- Maintenance mode exited: no" in markdown
    hosts = demo_before()
    remediation = summarise_remediation(hosts, demo_plan())
    planned = render_markdown(build_report(hosts, "2026-11-29T10:00:00Z", {}, remediation))
    assert "Rollout stopped" not in planned
    assert "| 1 | ex19-dag1 (planned) | 90 |" in planned
    assert "State: **planned** · Wave: 1" in planned


def test_hostile_reason_and_setup_log_are_inert() -> None:
    markdown = render_markdown(hostile_remediation_report())
    _assert_inert(markdown)
    for char in "<>`[]":
        assert all(_unescaped(line, char) == 0 for line in _outside_fences(markdown)), char
    assert not any(char in markdown for char in "\x00\x1b\x07\u202e")
    for table in _tables(markdown):
        assert len({_unescaped(row, "|") for row in table}) == 1, table
    assert _headings(markdown) == _headings(render_markdown(remediation_report()))
    assert ("- Setup log: C:\\\\ExchangeSetupLogs\\\\\\<script\\>alert(3)\\</script\\>\\]0;pwned"
            "\\[U+202E\\]gol.exe\\|\\`x\\`.log") in markdown
    assert "setup said \\<script\\>alert(1)\\</script\\>" in markdown


def test_without_a_plan_the_summary_is_the_assessment_summary() -> None:
    report = remediation_report()
    markdown = render_markdown(without_remediation(report))
    assert markdown == render_markdown(build_report(
        {name: {k: v for k, v in host.items() if k != "remediation"} for name, host in report["hosts"].items()},
        report["generated_at"], report["run"]))
    assert "Remediation" not in markdown


# --- the nightly run: policy and drift sections ---------------------------------------------------


def test_policy_and_drift_come_first() -> None:
    from nightly_samples import PREVIOUS_PATH, nightly_report

    markdown = render_markdown(nightly_report())
    assert markdown.index("## Policy") < markdown.index("## Changes since the previous report") < markdown.index(
        "## Estate summary")
    assert "**Policy failed: compromised (ex16-legacy); vulnerable (2 servers: ex16-legacy, ex16-mitigated);" in (
        markdown)
    assert "| compromised | yes | **triggered** | 1 server compromised: ex16-legacy |" in markdown
    assert ("| unpatched\\_after\\_window | yes | not evaluated | not evaluated: this run did not patch in a "
            "maintenance window |") in markdown
    assert f"Compared with the report of 2026-11-28T02:00:00Z ({PREVIOUS_PATH})." in markdown
    assert "**2 servers changed, 1 gone, 1 new indicator**" in markdown
    assert "- Servers gone: ex13" in markdown
    assert ("| ex19-dag1 | build | build 15.2.1544.14 -\\> 15.2.1544.44 (CU14 Nov24SUv2 -\\> CU14 Aug26SU) |"
            in markdown)
    assert "### New indicators (1)" in markdown
    assert ("| ex16-patched | medium | PS-HTTPPROXY-AUTODISCOVER | 2026-11-29T03:41:12.514Z | C:\\\\Program Files"
            in markdown)
    # The retention warning is one of the host's warnings.
    assert ("- **log\\_retention\\_short**: logs reach back only 27.1 days (to 2026-10-30); the hunt could not see "
            "anything before that (need 30 days; shortest: MSExchangeManagement)") in markdown


def test_hostile_host_names_in_the_drift_are_inert() -> None:
    from nightly_samples import HOSTILE_HOST, demo_report

    from exchange_remediation.report_drift import compare_reports

    previous = demo_report()
    current = demo_report()
    current["hosts"][HOSTILE_HOST] = current["hosts"].pop("ex19-dag1")
    current["drift"] = compare_reports(current, previous, "/srv/reports/<b>x</b>/report.json")
    markdown = render_markdown(current)
    assert "- Servers added: ex19-\\<script\\>alert(1)\\</script\\>\\|\\`x\\`\\[31m" in markdown
    assert "(/srv/reports/\\<b\\>x\\</b\\>/report.json)" in markdown
    assert "\x1b" not in markdown


def test_without_nightly_keys_the_summary_is_unchanged() -> None:
    from nightly_samples import demo_report

    from exchange_remediation.report_files import NightlyOptions, extend_report

    report = demo_report()
    assert render_markdown(extend_report(demo_report(), NightlyOptions())) == render_markdown(report)
    assert "## Policy" not in render_markdown(report)
