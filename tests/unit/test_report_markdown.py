"""report_markdown.render_markdown: tables cannot be broken by untrusted text."""

from __future__ import annotations

import pytest
from report_samples import sample_report

from exchange_remediation.report_markdown import escape_md, render_markdown


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


def _tables(markdown: str) -> list[list[str]]:
    """Blocks of consecutive lines that start with a pipe."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def test_every_table_row_has_the_same_number_of_cells() -> None:
    tables = _tables(render_markdown(sample_report()))
    # summary, servers, then per host: CVEs needing attention (3 hosts; the patched host has a
    # one-line summary instead) + indicators (ex16, edge01)
    assert len(tables) == 7
    for table in tables:
        counts = {_unescaped(row, "|") for row in table}
        assert len(counts) == 1, table
        assert len(table) >= 3  # header, alignment, at least one row


def test_hostile_text_is_inert() -> None:
    markdown = render_markdown(sample_report())
    for char in "<>`[]":
        assert all(_unescaped(line, char) == 0 for line in markdown.splitlines()), char
    assert "\\<script\\>alert(1)\\</script\\>\\| pipe \\]\\]\\> \\`tick\\`" in markdown
    assert "\x07" not in markdown
    assert "EDGE01\\<b\\>\\|\\`x\\`" in markdown
    assert "\\[see\\](http://evil.example/x)" in markdown


def test_servers_table_content() -> None:
    markdown = render_markdown(sample_report())
    servers = _tables(markdown)[1]
    assert [row.split(" | ")[0] for row in servers[2:]] == ["| edge01", "| ex13-broken", "| ex16", "| ex19"]
    ex16 = servers[4]
    expected = "| Exchange Server 2016 | CU19 | none | 15.1.2176.2 | no | no | 9 (+1 unknown) | yes | yes |"
    assert expected in ex16
    broken = servers[3]
    assert "**not assessed — not clean**: server.json is not valid JSON" in broken


def test_error_host_section() -> None:
    markdown = render_markdown(sample_report())
    section = markdown[markdown.index("## ex13-broken"):markdown.index("## ex16")]
    assert "**Not assessed — not clean.** Reason: server.json is not valid JSON" in section
    assert "Compromised: unknown" in section
    assert "None — the host was not assessed." in section


def test_compromised_host_section_lists_evidence() -> None:
    markdown = render_markdown(sample_report())
    section = markdown[markdown.index("## ex16"):markdown.index("## ex19")]
    assert "ServerInfo\\~a\\]@ex16.contoso.local:444/autodiscover/autodiscover.xml?\\#" in section
    assert "C:\\\\inetpub\\\\wwwroot\\\\aspnet\\_client\\\\system\\_web\\\\x.aspx" in section
    assert "| CVE-2021-26855 | **vulnerable** | Mar21SU |" in section
    assert "| CVE-2021-26857 | mitigated | Mar21SU |" in section
    assert "### Indicators of compromise (4)" in section
    assert "- DAG: DAG01" in section


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


def test_tolerates_minimal_report() -> None:
    markdown = render_markdown({"hosts": {"ex01": {"status": "ok"}}})
    assert "## ex01" in markdown
    assert "No CVE was evaluated." in markdown
