"""report_table: the fixed-width summary table and the helpers the other writers share."""

from __future__ import annotations

import re

import pytest
from report_samples import (
    HOSTILE_EVIDENCE,
    demo_before,
    demo_plan,
    hostile_remediation_report,
    refused_outcomes,
    remediation_report,
    sample_report,
    without_hunt,
    without_remediation,
)

from exchange_remediation.estate_report import build_report, summarise, summarise_report
from exchange_remediation.remediation_summary import summarise_remediation
from exchange_remediation.report_table import (
    EVIDENCE_LIMIT,
    change_text,
    clean_block,
    clean_text,
    compromise_reasons,
    display_width,
    estate_counts,
    evidence_text,
    findings_text,
    hunt_status,
    indicators_of,
    minutes_text,
    patch_cell,
    remediation_counts,
    render_summary_table,
    truncate,
    version_text,
)

# ESC, NUL, BEL and every other C0/C1 control: none may reach a terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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


def _table(output: str) -> list[str]:
    lines = output.splitlines()
    return lines[: lines.index("")]


def test_table_is_aligned_and_sorted() -> None:
    output = render_summary_table(sample_report())
    table = _table(output)
    assert table[0].split(" | ")[:3] == ["host        ", "status", "product             "]
    _assert_aligned(table)
    assert [line.split(" | ")[0].strip() for line in table[2:]] == ["ex13-broken", "ex16", "ex16-patched", "ex19"]


def test_row_content() -> None:
    table = _table(render_summary_table(sample_report()))
    ex16 = [cell.strip() for cell in table[3].split(" | ")]
    assert ex16[:10] == ["ex16", "ok", "Exchange Server 2016", "CU19", "none", "15.1.2176.2", "no",
                         "9 (+1 unknown)", "yes", "3 crit 1 high 1 med"]
    broken = [cell.strip() for cell in table[2].split(" | ")]
    assert broken[1] == "error" and broken[8] == "unknown" and broken[9] == "not hunted"
    assert broken[10].startswith("not assessed — not clean: server.json is not va")
    patched = [cell.strip() for cell in table[4].split(" | ")]
    assert patched[8:10] == ["unknown", "2 attempts"]
    clean = [cell.strip() for cell in table[5].split(" | ")]
    assert clean[8:10] == ["no", "none"]


def test_long_cells_are_truncated() -> None:
    table = _table(render_summary_table(sample_report()))
    next_steps = [line.split(" | ")[-1] for line in table[2:]]
    assert all(display_width(cell) <= 48 for cell in next_steps)
    assert next_steps[1].endswith("…")  # ex16's plan is longer than the column
    assert next_steps[1].startswith("Isolate and investigate")


def test_serious_findings_are_listed_under_the_table() -> None:
    lines = render_summary_table(sample_report()).splitlines()
    start = lines.index("Critical and high findings (attempts left out; evidence in report.html):")
    block = lines[start + 1: lines.index("", start)]
    assert block[0] == "ex16 (compromised: yes)"
    assert block[1].startswith("  critical PL-26855-HTTPPROXY 2021-03-03T06:49:46.210Z — AnchorMailbox ServerInfo~a]@")
    assert block[2] == ("    at C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\HttpProxy\\Ecp\\"
                        "HttpProxy_2021030306-1.LOG:8")
    assert block[-1] == "  … 1 more critical/high finding(s) in the reports"
    # ex16-patched's findings are attempts: they do not belong in this list.
    assert not any("ex16-patched" in line or "PNS-IIS" in line for line in block)


def test_totals_line() -> None:
    lines = render_summary_table(sample_report()).splitlines()
    assert lines[-1] == ("Totals: 4 hosts: 3 ok, 1 error; 1 vulnerable; compromised: 1 yes, 1 no, 2 unknown; "
                         "findings: 3 critical, 1 high, 1 medium, 0 low, 2 attempt(s); 1 out of support")


def test_estate_counts_match_report_summary() -> None:
    report = sample_report()
    assert estate_counts(report) == report["summary"]
    assert summarise_report(report["hosts"]) == report["summary"]
    # The assessment's own keys keep their meaning; the hunt's are added beside them.
    assert summarise(report["hosts"]).items() <= report["summary"].items()


def test_hostile_evidence_never_reaches_the_terminal() -> None:
    report = sample_report()
    finding = report["hosts"]["ex16"]["indicators"][0]
    # Everything of a finding that comes from the server: the detail, the path, even the rule id.
    finding["detail"] = HOSTILE_EVIDENCE[HOSTILE_EVIDENCE.index("Mozilla"):]
    finding["source"] = "C:\\inetpub\\wwwroot\\aspnet_client\\x\u202excod.aspx\x1b]0;pwned\x07"
    finding["rule"] = "PL-26855-HTTPPROXY\x1b[2J"
    output = render_summary_table(report)
    assert not _CONTROL.search(output)
    assert "\u202e" not in output
    assert "x[U+202E]xcod.aspx]0;pwned" in output
    # Plain text in a terminal: markup is shown as written, the colour code without its ESC.
    assert 'Mozilla/5.0+<script>alert(1)</script>"><img+src=x+onerror=alert(2)>[31mRED[0mNUL+x[U+202E]' in output
    _assert_aligned(_table(output))


def test_control_characters_removed_and_wide_names_aligned() -> None:
    report = sample_report()
    report["hosts"]["東京-ex01\x1b[31m\x07"] = report["hosts"].pop("ex19")
    report["hosts"]["ex16"]["exchange"]["cu"] = "CU19\r\nFAKE | ROW"
    output = render_summary_table(report)
    assert "\x1b" not in output and "\x07" not in output and "\r" not in output
    table = _table(output)
    assert len(table) == 2 + 4  # header, separator, 4 rows
    _assert_aligned(table)
    assert table[-1].startswith("東京-ex01[31m ")


def test_reports_without_a_hunt_still_tabulate() -> None:
    output = render_summary_table(without_hunt(sample_report()))
    table = _table(output)
    _assert_aligned(table)
    assert all(line.split(" | ")[9].strip() == "not hunted" for line in table[2:])
    assert "Critical and high findings" not in output
    assert output.splitlines()[-1].startswith("Totals: 4 hosts: 3 ok, 1 error; 1 vulnerable; compromised: 0 yes, 0 no")


@pytest.mark.parametrize(("hunt", "indicators", "expected"), [
    (None, [], "not hunted"),
    ({"status": "not_run", "error": "no evidence"}, [], "not hunted"),
    ({"status": "error", "error": "boom"}, [], "hunt failed"),
    ({"status": "surprise"}, [], "hunt failed"),
    ({"status": "done"}, [], "none"),
    ({"status": "done"}, [{"severity": "low"}, {"severity": "low", "attempt": True}], "1 low; 1 attempt"),
    (None, [{"severity": "critical"}, {"severity": "bogus"}, None], "1 critical, 2 unknown"),
])
def test_findings_text(hunt: dict | None, indicators: list, expected: str) -> None:
    host: dict = {"status": "ok", "indicators": indicators}
    if hunt is not None:
        host["hunt"] = hunt
    assert findings_text(host) == expected


def test_hunt_status_and_reasons() -> None:
    hosts = sample_report()["hosts"]
    assert [hunt_status(hosts[name]) for name in ("ex13-broken", "ex16", "ex19")] == ["not_run", "done", "done"]
    assert hunt_status({"hunt": None}) == "absent"
    assert compromise_reasons(hosts["ex16"]) == ["3 critical and 1 high finding(s) that are not attempts"]
    assert compromise_reasons(hosts["ex19"]) == [
        "every required source was present and read in full, and no finding counts"]
    broken = compromise_reasons(hosts["ex13-broken"])
    assert broken[0].startswith("not assessed — not clean: server.json is not valid JSON")
    assert broken[1].startswith("no evidence to hunt: server.json")
    assert compromise_reasons({"status": "ok", "verdict": {"compromised": "unknown"}}) == [
        "the hunt did not run for this host"]
    assert compromise_reasons({"status": "ok", "verdict": {"compromised": "unknown"},
                               "hunt": {"status": "error", "error": "bad\x1b[1m"}}) == ["the hunt failed: bad[1m"]


def test_attempts_sort_after_real_findings() -> None:
    host = {"indicators": [
        {"rule": "A", "severity": "critical", "attempt": True},
        {"rule": "B", "severity": "low"},
        {"rule": "C", "severity": "high", "time": "2021-03-03T06:00:00Z"},
        {"rule": "D", "severity": "high", "time": "2021-03-02T06:00:00Z"},
    ]}
    assert [i["rule"] for i in indicators_of(host)] == ["D", "C", "B", "A"]


def test_clean_text_and_truncate() -> None:
    assert clean_text("x\u202exps.aspx") == "x[U+202E]xps.aspx"
    assert clean_text("a\tb\nc\x00d") == "a b cd"
    assert clean_text(None) == "—" and clean_text("", "-") == "-"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abcd", 4) == "abcd"
    assert truncate("東京東京", 5) == "東京…"
    assert display_width("東京a") == 5


def test_clean_block_keeps_lines_and_drops_controls() -> None:
    assert clean_block("a\r\nb\rc\nd\te") == "a\nb\nc\nd\te"
    assert clean_block("\x1b[31mred\x1b[0m\x00\x07") == "[31mred[0m"
    assert clean_block("x\u202excod.aspx\u2028next") == "x[U+202E]xcod.aspx\nnext"
    assert clean_block("\ud800") == "\ufffd"
    assert clean_block(None) == "" and clean_block("plain") == "plain"


def test_evidence_is_cut_at_the_limit() -> None:
    text = evidence_text({"evidence": "A" * (EVIDENCE_LIMIT + 500)})
    assert text.startswith("A" * EVIDENCE_LIMIT + "\n")
    assert text.endswith("… cut: 500 more characters in report.json")
    assert evidence_text({"evidence": None}) == "" and evidence_text({}) == ""


# --- the remediation (a report written with a plan) -----------------------------------------


def _patch_cells(output: str) -> dict[str, str]:
    table = _table(output)
    column = [cell.strip() for cell in table[0].split(" | ")].index("Patch")
    return {line.split(" | ")[0].strip(): line.split(" | ")[column].strip() for line in table[2:]}


def test_patch_column_only_with_a_plan() -> None:
    output = render_summary_table(remediation_report())
    table = _table(output)
    _assert_aligned(table)
    titles = [cell.strip() for cell in table[0].split(" | ")]
    assert titles[5:7] == ["build", "Patch"]
    assert _patch_cells(output) == {
        "edge01": "skipped", "ex-damaged": "blocked", "ex10": "blocked", "ex16-legacy": "CU19→CU23 Aug26SU",
        "ex16-mitigated": "failed: cu", "ex16-patched": "up to date", "ex19-dag1": "CU14 Nov24SUv2→Aug26SU",
        "ex19-dag2": "up to date"}
    assert "Patch" not in render_summary_table(sample_report())


def test_remediation_lines_under_the_table() -> None:
    lines = render_summary_table(remediation_report()).splitlines()
    start = lines.index("Remediation: 1 failed, 1 skipped, 2 blocked, 2 patched, 2 up to date; "
                        "modelled window 650 min (10 h 50)")
    assert lines[start + 1] == "Rollout stopped: ex16-mitigated failed; the servers of later waves were skipped"
    assert lines[start + 2] == ("  ex16-mitigated failed: failed step: cu; setup log: "
                                "C:\\ExchangeSetupLogs\\ExchangeSetup.log; Exchange setup exited with code 1: "
                                "the CU23 Mailbox role step failed (see the setup log)")
    assert lines[-1].startswith("Totals: 8 hosts")
    refused = render_summary_table(remediation_report(refused_outcomes())).splitlines()
    assert "Rollout stopped: ex16-legacy was refused; the servers of later waves were skipped" in refused
    assert ("  ex16-legacy refused: failed step: precheck; pre-checks failed: a reboot is pending "
            "(PendingFileRenameOperations)") in refused


def test_planned_servers_show_their_wave() -> None:
    hosts = demo_before()
    output = render_summary_table(build_report(hosts, "2026-11-29T10:00:00Z", {},
                                               summarise_remediation(hosts, demo_plan())))
    cells = _patch_cells(output)
    assert (cells["ex19-dag1"], cells["ex16-legacy"], cells["edge01"]) == ("planned w1", "planned w2", "planned w4")
    assert "Remediation: 2 blocked, 4 planned, 2 up to date; modelled window 650 min (10 h 50)" in output
    assert "Rollout stopped" not in output


def test_hostile_remediation_text_never_reaches_the_terminal() -> None:
    output = render_summary_table(hostile_remediation_report())
    assert not _CONTROL.search(output)
    assert "\u202e" not in output
    _assert_aligned(_table(output))
    assert _patch_cells(output)["ex16-mitigated"] == "failed: cu</code><b>[1m"
    problem = next(line for line in output.splitlines() if line.startswith("  ex16-mitigated failed"))
    assert "setup log: C:\\ExchangeSetupLogs\\<script>alert(3)</script>]0;pwned[U+202E]gol.exe|`x`.log" in problem


def test_without_a_plan_the_table_is_the_assessment_table() -> None:
    report = remediation_report()
    output = render_summary_table(without_remediation(report))
    assert output == render_summary_table(build_report(
        {name: {k: v for k, v in host.items() if k != "remediation"} for name, host in report["hosts"].items()},
        report["generated_at"], report["run"]))
    assert "Remediation" not in output and "Patch" not in output


def test_remediation_helpers_tolerate_malformed_entries() -> None:
    assert version_text(None) == "unknown"
    assert version_text({"build": "15.1.2176.2", "cu": "CU19", "su": None}) == "CU19 no SU (15.1.2176.2)"
    assert version_text({"cu": "CU19"}) == "CU19 SU unknown (build unknown)"
    assert change_text({}) == "unknown"
    assert change_text({"state": "patched", "before": {"build": "15.1.2176.2", "cu": "CU19"},
                        "after": {"build": "15.1.2507.55", "cu": "CU23", "su": "Apr25HU"},
                        "target": {"build": "15.1.2507.72", "cu": "CU23", "su": "Aug26SU"}}) == (
        "CU19 no SU (15.1.2176.2) → CU23 Apr25HU (15.1.2507.55) (target CU23 Aug26SU (15.1.2507.72))")
    assert patch_cell({"state": "weird"}) == "unknown"
    assert patch_cell({"state": "patched", "after": None}) == "patched"
    assert patch_cell({"state": "failed"}) == "failed"
    assert patch_cell({"state": "planned", "wave": True}) == "planned"
    assert remediation_counts({"hosts": {"a": {"remediation": {"state": "x"}}, "b": {}}})["unknown"] == 1
    assert (minutes_text(45), minutes_text(None), minutes_text(True)) == ("45 min", "—", "—")


# --- the nightly run: retention, drift and the policy under the table ---------------------------


def test_the_nightly_lines_under_the_table() -> None:
    from nightly_samples import nightly_report

    lines = render_summary_table(nightly_report()).splitlines()
    retention = lines.index("Logs too short to rule out older attacks (the hunt saw nothing before they begin):")
    assert lines[retention + 1].startswith("  edge01: 29.9 of 30 days, from 2026-10-27 (shortest: ")
    assert "  ex19-dag3: 27.1 of 30 days, from 2026-10-30 (shortest: MSExchangeManagement)" in lines
    drift = lines.index("Drift since 2026-11-28T02:00:00Z: 2 servers changed, 1 gone, 1 new indicator")
    assert lines[drift + 1:drift + 3] == ["  gone: ex13", "  ex16-patched: 1 new indicator (PS-HTTPPROXY-AUTODISCOVER)"]
    assert ("  ex19-dag1: build 15.2.1544.14 -> 15.2.1544.44 (CU14 Nov24SUv2 -> CU14 Aug26SU)"
            in lines[drift:])
    assert lines[-2].startswith("Totals: 11 hosts")
    assert lines[-1].startswith("Policy failed: compromised (ex16-legacy); vulnerable (2 servers: ")


def test_a_policy_that_passed_and_no_previous_report() -> None:
    from nightly_samples import demo_report

    from exchange_remediation.report_files import NightlyOptions, extend_report

    report = extend_report(demo_report(), NightlyOptions(fail_when=("new_indicators",), previous=None))
    assert render_summary_table(report).splitlines()[-1] == (
        "Policy passed: none of new_indicators triggered (new_indicators not evaluated)")
    from exchange_remediation.report_drift import compare_reports

    report["drift"] = compare_reports(report, None)
    assert "Drift: no previous report: drift not checked" in render_summary_table(report).splitlines()


def test_hostile_drift_text_never_reaches_the_terminal() -> None:
    from nightly_samples import HOSTILE_HOST, demo_report

    from exchange_remediation.report_drift import compare_reports

    previous = demo_report()
    current = demo_report()
    current["hosts"][HOSTILE_HOST] = current["hosts"].pop("ex13")
    current["drift"] = compare_reports(current, previous)
    output = render_summary_table(current)
    assert "  added: ex19-<script>alert(1)</script>|`x`[31m" in output.splitlines()
    assert "\x1b" not in output


def test_without_nightly_keys_the_table_is_unchanged() -> None:
    from nightly_samples import demo_report

    from exchange_remediation.report_files import NightlyOptions, extend_report

    report = demo_report()
    assert render_summary_table(extend_report(demo_report(), NightlyOptions())) == render_summary_table(report)
    assert "Policy" not in render_summary_table(report) and "Drift" not in render_summary_table(report)
