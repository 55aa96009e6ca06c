"""report_svg: the status chart and the timeline (clusters, broken axis, ticks, marks, windows)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from report_samples import sample_report

from exchange_remediation.report_svg import (
    CLUSTER_GAP,
    MAX_ROWS,
    Hit,
    TimelineRow,
    axis_ticks,
    clusters,
    duration_text,
    parse_time,
    status_chart,
    timeline_hidden,
    timeline_rows,
    timeline_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def _t(text: str) -> datetime:
    parsed = parse_time(text)
    assert parsed is not None
    return parsed


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _marks(root: ET.Element) -> list[ET.Element]:
    return [node for node in root.iter() if "hit" in (node.get("class") or "").split()]


def _view_width(root: ET.Element) -> float:
    return float(root.get("viewBox", "0 0 0 0").split()[2])


def _mark_x(node: ET.Element) -> float:
    if node.tag == f"{SVG}circle":
        return float(node.get("cx", "nan"))
    xs = [float(point.split(",")[0]) for point in (node.get("points") or "").split()]
    return sum(xs) / len(xs)


# --- the 2021 ProxyLogon burst on ex16-legacy and the 2026 ProxyShell scans on ex16-patched ---
LEGACY_HITS = [
    Hit(_t("2021-03-03T06:49:30.481Z"), "high", False, "PL-26855-STATIC-PATHS"),
    Hit(_t("2021-03-03T06:49:46.210Z"), "critical", False, "PL-26855-HTTPPROXY"),
    Hit(_t("2021-03-03T06:52:19.904Z"), "critical", False, "PL-26858-OABGEN"),
    Hit(_t("2021-03-04T02:31:18Z"), "high", False, "WEBSHELL-CLIENT-ANTSWORD"),
    Hit(_t("2021-03-05T03:06:27Z"), "low", False, "CONTEXT-ATTACKER-IP-IIS"),
]
PATCHED_HITS = [
    Hit(_t("2026-11-12T03:17:44Z"), "high", True, "PNS-IIS-AUTODISCOVER-POWERSHELL"),
    Hit(_t("2026-11-18T22:41:09Z"), "medium", True, "PS-IIS-AUTODISCOVER"),
]


def _rows() -> list[TimelineRow]:
    legacy = TimelineRow("ex16-legacy", "host-5", list(LEGACY_HITS),
                         [(_t("2021-01-06"), _t("2021-03-10"), "ProxyLogon")])
    patched = TimelineRow("ex16-patched", "host-7", list(PATCHED_HITS),
                          [(_t("2021-01-06"), _t("2026-02-19"), "ProxyLogon")])
    quiet = TimelineRow("ex19-dag1", "host-8", [], [(_t("2022-03-15"), _t("2024-11-29"), "ProxyShell")])
    return [legacy, patched, quiet]


def test_parse_time_accepts_the_report_formats() -> None:
    assert parse_time("2021-03-03T06:49:46.210Z") == datetime(2021, 3, 3, 6, 49, 46, 210000, tzinfo=UTC)
    assert parse_time("2021-03-05 03:06:27") == datetime(2021, 3, 5, 3, 6, 27, tzinfo=UTC)
    assert parse_time("2021-03-05T04:06:27+01:00") == datetime(2021, 3, 5, 3, 6, 27, tzinfo=UTC)
    assert parse_time("2021-01-06") == datetime(2021, 1, 6, tzinfo=UTC)
    for bad in (None, "", "yesterday", 42, "2021-13-45"):
        assert parse_time(bad) is None


def test_clusters_split_at_long_gaps_and_merge_the_smallest_first() -> None:
    times = [hit.time for hit in LEGACY_HITS + PATCHED_HITS]
    spans = clusters(times)
    assert spans == [(LEGACY_HITS[0].time, LEGACY_HITS[-1].time), (PATCHED_HITS[0].time, PATCHED_HITS[-1].time)]
    assert clusters([]) == []
    one = _t("2021-03-03T06:49:46Z")
    assert clusters([one]) == [(one, one)]
    # Five bursts, gaps of 20, 400, 30 and 900 days: four panels keep the three largest gaps.
    start = _t("2021-01-01")
    offsets = [0, 20, 420, 450, 1350]
    bursts = [start + timedelta(days=days) for days in offsets]
    spans = clusters(bursts, max_panels=3)
    assert spans == [(bursts[0], bursts[1]), (bursts[2], bursts[3]), (bursts[4], bursts[4])]
    assert len(clusters(bursts)) == 4
    assert clusters([start, start + CLUSTER_GAP]) == [(start, start + CLUSTER_GAP)]


def test_axis_ticks_are_round_and_labelled_readably() -> None:
    ticks = axis_ticks(_t("2021-03-03T06:30:00Z"), _t("2021-03-03T07:30:00Z"), 6)
    assert [label for _, label, _ in ticks] == ["06:40", "06:50", "07:00", "07:10", "07:20", "07:30"]
    assert {context for _, _, context in ticks} == {"03 Mar 2021"}
    days = axis_ticks(_t("2021-03-02T21:00:00Z"), _t("2021-03-08T18:00:00Z"), 6)
    assert [label for _, label, _ in days] == ["03 Mar", "04 Mar", "05 Mar", "06 Mar", "07 Mar", "08 Mar"]
    assert days[0][2] == "2021"
    months = axis_ticks(_t("2021-01-06"), _t("2022-11-10"), 6)
    # 22 months in at most 6 ticks: every 6 months, on the first of the month.
    assert [(moment.day, label, context) for moment, label, context in months] == [
        (1, "Jul", "2021"), (1, "Jan", "2022"), (1, "Jul", "2022")]
    assert len(axis_ticks(_t("2010-01-01"), _t("2026-01-01"), 5)) <= 5


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(minutes=42), "42 min"),
    (timedelta(hours=19, minutes=42), "19 h 42 min"),
    (timedelta(hours=3), "3 h"),
    (timedelta(days=21), "21 days"),
    (timedelta(days=2085), "5.7 years"),
])
def test_duration_text(delta: timedelta, text: str) -> None:
    assert duration_text(delta) == text


def test_status_chart_has_a_labelled_bar_per_status() -> None:
    counts = {"compromised": 1, "vulnerable": 2, "unknown": 1, "mitigated": 0, "patched": 8}
    root = _tree(status_chart(counts))
    texts = [node.text for node in root.iter(f"{SVG}text")]
    assert texts == ["Compromised", "1", "Vulnerable", "2", "Unknown", "1", "Mitigated", "0", "Patched", "8"]
    bars = [node for node in root.iter(f"{SVG}rect") if node.get("fill") != "#f0f0f0"]
    widths = [float(node.get("width", "0")) for node in bars]
    assert widths == [round(300 * n / 8) for n in (1, 2, 1, 0, 8)]


def test_no_hits_no_picture() -> None:
    assert timeline_svg([]) == ""
    assert timeline_svg([TimelineRow("exse01", "host-1", [], [(_t("2021-01-06"), _t("2021-03-10"), "x")])]) == ""


def test_hits_years_apart_get_a_panel_each_with_a_break() -> None:
    svg = timeline_svg(_rows())
    root = _tree(svg)
    heads = [node.text for node in root.iter(f"{SVG}text") if node.get("class") == "panel-head"]
    assert heads == ["03 Mar 2021 – 05 Mar 2021", "12 Nov 2026 – 18 Nov 2026"]
    assert len([node for node in root.iter(f"{SVG}polyline") if node.get("class") == "axis-break"]) == 1
    gap = [node.text for node in root.iter(f"{SVG}text") if "gap" in (node.get("class") or "")]
    assert gap == ["+5.7 years"]
    # Both clusters are readable: each burst spreads over its own panel instead of one pixel.
    marks = _marks(root)
    legacy_x = [_mark_x(node) for node in marks if "2021-03" in (node.findtext(f"{SVG}title") or "")]
    patched_x = [_mark_x(node) for node in marks if "2026-11" in (node.findtext(f"{SVG}title") or "")]
    assert max(legacy_x) - min(legacy_x) > 300 and max(patched_x) - min(patched_x) > 300
    assert max(legacy_x) < min(patched_x)
    # The quiet server was never exposed in these periods: no row for it.
    assert [g.get("data-host") for g in root.iter(f"{SVG}g") if g.get("class") == "row"] == [
        "ex16-legacy", "ex16-patched"]
    # The axis speaks in dates.
    ticks = [node.text for node in root.iter(f"{SVG}text") if (node.get("class") or "").startswith("tick")]
    assert "04 Mar 2021" in ticks and "00:00" in ticks and "2026" in ticks and "19 Nov" not in ticks


def test_marks_are_inside_the_picture_and_attempts_are_hollow_diamonds() -> None:
    root = _tree(timeline_svg(_rows()))
    width = _view_width(root)
    marks = _marks(root)
    # Hits closer than a pixel in one lane share a mark that counts them.
    drawn = sum(1 + int((re.findall(r"\(\+(\d+) more here\)", node.findtext(f"{SVG}title") or "") or ["0"])[0])
                for node in marks)
    assert drawn == len(LEGACY_HITS) + len(PATCHED_HITS) and len(marks) == drawn - 1
    for node in marks:
        assert 150 < _mark_x(node) < width
    attempts = [node for node in marks if node.get("data-kind") == "attempt"]
    assert len(attempts) == 2 and all(node.tag == f"{SVG}polygon" and node.get("fill") == "#fff"
                                      for node in attempts)
    assert all(node.tag == f"{SVG}circle" for node in marks if node.get("data-kind") == "hit")
    critical = [node for node in marks if "sev-critical" in (node.get("class") or "")]
    assert {node.get("fill") for node in critical} == {"#b00020"}


def test_the_exploitation_window_is_shaded_from_first_to_last_serious_hit() -> None:
    root = _tree(timeline_svg(_rows()))
    marks = {node.findtext(f"{SVG}title", "").split(":")[1].split(",")[0].strip(): _mark_x(node)
             for node in _marks(root)}
    shaded = [node for node in root.iter(f"{SVG}rect") if node.get("class") == "exploitation"]
    assert len(shaded) == 1  # ex16-patched only has attempts: no window
    left = float(shaded[0].get("x", "0"))
    right = left + float(shaded[0].get("width", "0"))
    # From the first high hit (06:49:30) to the last high hit (next day 02:31), not to the low one.
    assert left == pytest.approx(marks["PL-26855-STATIC-PATHS"] - 1.5, abs=0.6)
    assert right == pytest.approx(marks["WEBSHELL-CLIENT-ANTSWORD"] + 1.5, abs=0.6)
    assert marks["CONTEXT-ATTACKER-IP-IIS"] > right
    assert "exploitation window: 2021-03-03 06:49 UTC to 2021-03-04 02:31 UTC (19 h 42 min)" in (
        shaded[0].findtext(f"{SVG}title") or "")
    column = [node.text for node in root.iter(f"{SVG}text") if node.get("class") == "exploit-label"]
    assert column == ["▲ exploited 19 h 42 min"]


def test_exposure_windows_are_clipped_to_each_panel() -> None:
    root = _tree(timeline_svg(_rows()))
    exposures = [node for node in root.iter(f"{SVG}rect") if node.get("class") == "exposure"]
    titles = [node.findtext(f"{SVG}title") for node in exposures]
    # ex16-legacy: open until 2021-03-09, so shaded in the 2021 panel only; ex16-patched was
    # patched in February 2026, so its 2026 scans fall outside its window (they are attempts).
    assert titles == ["ex16-legacy exposed (ProxyLogon): 2021-01-06 to 2021-03-09",
                      "ex16-patched exposed (ProxyLogon): 2021-01-06 to 2026-02-18"]
    assert float(exposures[0].get("x", "0")) == float(exposures[1].get("x", "1"))


def test_a_single_hit_gets_a_readable_axis() -> None:
    hit = Hit(_t("2021-03-03T06:49:46Z"), "critical", False, "PL-26855-HTTPPROXY")
    one = TimelineRow("ex16-legacy", "host-1", [hit])
    root = _tree(timeline_svg([one]))
    assert len(_marks(root)) == 1
    ticks = [node.text for node in root.iter(f"{SVG}text") if node.get("class") == "tick"]
    assert len(ticks) >= 2 and all(re.fullmatch(r"\d\d:\d\d", tick or "") for tick in ticks)
    shaded = [node for node in root.iter(f"{SVG}rect") if node.get("class") == "exploitation"]
    assert len(shaded) == 1 and float(shaded[0].get("width", "0")) >= 3  # a zero-length window is still seen


def test_a_burst_is_drawn_as_few_marks_that_say_how_many() -> None:
    start = _t("2021-03-03T06:49:00Z")
    hits = [Hit(start + timedelta(milliseconds=n), "low", False, "CONTEXT-ATTACKER-IP-IIS") for n in range(1000)]
    hits.append(Hit(start + timedelta(hours=5), "critical", False, "PL-26855-HTTPPROXY"))
    root = _tree(timeline_svg([TimelineRow("ex16-legacy", "host-1", hits)]))
    marks = _marks(root)
    assert len(marks) == 2
    assert "(+999 more here)" in (marks[0].findtext(f"{SVG}title") or "") + (marks[1].findtext(f"{SVG}title") or "")


def test_rows_from_a_report_and_the_row_limit() -> None:
    report = sample_report()
    anchors = {"ex13-broken": "host-1", "ex16": "host-2", "ex16-patched": "host-3", "ex19": "host-4"}
    rows = timeline_rows(report, anchors)
    assert [(row.name, row.anchor, len(row.hits)) for row in rows] == [
        ("ex13-broken", "host-1", 0), ("ex16", "host-2", 5), ("ex16-patched", "host-3", 2), ("ex19", "host-4", 0)]
    ex16 = rows[1]
    assert ex16.exposures == [(_t("2021-01-06"), _t("2021-03-09"), "ProxyLogon")]  # the not-exposed ones left out
    assert ex16.exploitation() == (_t("2021-03-03T06:49:46.210Z"), _t("2021-03-05T03:06:27Z"))
    assert rows[2].exploitation() is None  # attempts only
    assert [row.name for row in timeline_rows(report, anchors, only="ex16")] == ["ex16"]
    many = [TimelineRow(f"ex{n:03d}", "", [Hit(_t("2021-03-03T06:49:46Z"), "high", False, "R")])
            for n in range(MAX_ROWS + 5)]
    root = _tree(timeline_svg(many))
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "row"]) == MAX_ROWS
    assert timeline_hidden(many) == 5


def test_hostile_names_and_rules_are_escaped() -> None:
    row = TimelineRow('ex<script>alert(1)</script>"', "host-1",
                      [Hit(_t("2021-03-03T06:49:46Z"), "critical", False, '<img src=x onerror=alert(2)>')])
    svg = timeline_svg([row])
    assert "<script" not in svg and "<img" not in svg
    root = _tree(svg)  # still well-formed XML
    assert not [node for node in root.iter() if node.tag.endswith(("script", "img"))]
    assert "&lt;img src=x onerror=alert(2)&gt;" in svg
