"""report_table: the fixed-width summary table and the helpers the other writers share."""

from __future__ import annotations

from report_samples import sample_report

from exchange_remediation.report_table import (
    clean_text,
    display_width,
    estate_counts,
    render_summary_table,
    truncate,
)


def _column_starts(separator: str) -> list[int]:
    """Display columns where each cell starts, read from the '---+---' line."""
    starts = [0]
    for index, char in enumerate(separator):
        if char == "+":
            starts.append(index + 2)
    return starts


def _cells_at(line: str, starts: list[int]) -> list[str]:
    """Cut line at display columns (not code points), so wide characters count double."""
    cells: list[str] = []
    column = 0
    current = ""
    boundaries = starts[1:]
    for char in line:
        if boundaries and column >= boundaries[0]:
            cells.append(current)
            current = ""
            boundaries.pop(0)
        current += char
        column += display_width(char)
    cells.append(current)
    return cells


def _assert_aligned(lines: list[str]) -> None:
    starts = _column_starts(lines[1])
    for line in [lines[0], *lines[2:]]:
        cells = _cells_at(line, starts)
        assert len(cells) == len(starts), line
        # Every cell but the last ends with the " | " separator exactly at the boundary.
        assert all(cell.endswith(" | ") for cell in cells[:-1]), cells


def test_table_is_aligned_and_sorted() -> None:
    output = render_summary_table(sample_report())
    lines = output.splitlines()
    assert lines[0].startswith("host ")
    assert lines[0].split(" | ")[:3] == ["host       ", "status", "product             "]
    table = lines[: lines.index("")]
    _assert_aligned(table)
    assert [line.split(" | ")[0].strip() for line in table[2:]] == ["edge01", "ex13-broken", "ex16", "ex19"]


def test_row_content() -> None:
    lines = render_summary_table(sample_report()).splitlines()
    ex16 = [cell.strip() for cell in lines[4].split(" | ")]
    assert ex16[:9] == ["ex16", "ok", "Exchange Server 2016", "CU19", "none", "15.1.2176.2", "no",
                        "9 (+1 unknown)", "yes"]
    broken = [cell.strip() for cell in lines[3].split(" | ")]
    assert broken[1] == "error" and broken[8] == "unknown"
    assert broken[9].startswith("not assessed — not clean: server.json is not valid JSON")


def test_long_cells_are_truncated() -> None:
    lines = render_summary_table(sample_report()).splitlines()
    next_steps = [line.split(" | ")[-1] for line in lines[2:6]]
    assert all(display_width(cell) <= 60 for cell in next_steps)
    assert next_steps[2].endswith("…")  # ex16's plan is longer than the column
    assert next_steps[2].startswith("Isolate and investigate")


def test_totals_line() -> None:
    lines = render_summary_table(sample_report()).splitlines()
    assert lines[-1] == ("Totals: 4 hosts: 3 ok, 1 error; 1 vulnerable; compromised: 1 yes, 2 unknown; "
                         "1 out of support")


def test_estate_counts_match_report_summary() -> None:
    report = sample_report()
    assert estate_counts(report) == report["summary"]


def test_control_characters_removed_and_wide_names_aligned() -> None:
    report = sample_report()
    report["hosts"]["東京-ex01\x1b[31m\x07"] = report["hosts"].pop("ex19")
    report["hosts"]["ex16"]["exchange"]["cu"] = "CU19\r\nFAKE | ROW"
    output = render_summary_table(report)
    assert "\x1b" not in output and "\x07" not in output and "\r" not in output
    lines = output.splitlines()
    assert len(lines) == 2 + 4 + 2  # header, separator, 4 rows, blank, totals
    _assert_aligned(lines[:6])
    assert lines[-3].startswith("東京-ex01[31m ")


def test_clean_text_and_truncate() -> None:
    assert clean_text("x\u202exps.aspx") == "x[U+202E]xps.aspx"
    assert clean_text("a\tb\nc\x00d") == "a b cd"
    assert clean_text(None) == "—" and clean_text("", "-") == "-"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abcd", 4) == "abcd"
    assert truncate("東京東京", 5) == "東京…"
    assert display_width("東京a") == 5
