"""Inline SVG pictures for the HTML dashboard: the status chart and the timeline of indicator hits.

Both are plain SVG markup inside the page (no script, no external asset), readable without
hovering: every number and label is a <text> element, and a <title> on each mark gives the
detail on hover. Every value taken from the report (server names, rule ids) goes through
clean_text + html.escape: it may come from an attacker-controlled log.

Why the timeline is cut into panels (a broken axis): hits cluster in short bursts that can be
years apart (the demo has ProxyLogon in March 2021 on one server and ProxyShell scans in
November 2026 on another). One linear axis over 2021-2026 would squash each burst into a
single pixel; a log scale would be unreadable for a manager. So hit times are grouped into
clusters (a new cluster starts after CLUSTER_GAP without hits, at most MAX_PANELS clusters:
the smallest gaps are merged first), each cluster gets its own panel with its own linear,
labelled time axis, and the break between panels is drawn as a zig-zag with the time skipped
written in it. Exposure windows last months or years: they are clipped to each panel, so a
panel shows whether a server was open while the attacks of that period happened.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .estate_status import STATUSES
from .report_table import as_dict, as_list, clean_text, hunt_of, is_attempt, severity_of, sorted_hosts

STATUS_COLOURS = {"compromised": "#7f0019", "vulnerable": "#d32f2f", "unknown": "#e08600",
                  "mitigated": "#b79b00", "patched": "#2e7d32"}
STATUS_LABELS = {"compromised": "Compromised", "vulnerable": "Vulnerable", "unknown": "Unknown",
                 "mitigated": "Mitigated", "patched": "Patched"}
SEVERITY_COLOURS = {"critical": "#b00020", "high": "#e65100", "medium": "#b58900", "low": "#5f7a8a",
                    "unknown": "#5f7a8a"}
# Marks of one row are spread over lanes by severity so a burst of mixed hits does not hide
# the critical ones under the low ones.
_LANES = {"critical": 0, "high": 1, "medium": 2, "low": 3, "unknown": 3}

CLUSTER_GAP = timedelta(days=14)
MAX_PANELS = 4
MAX_ROWS = 40
# A panel around a single hit (or a burst of seconds) still needs a readable axis.
_MIN_HALF_SPAN = timedelta(minutes=30)

_WIDTH = 1100
_LABEL_WIDTH = 150
_BREAK_WIDTH = 72
_ROW_HEIGHT = 30
_TOP = 44
_AXIS_HEIGHT = 38


def _e(value: object) -> str:
    return html.escape(clean_text(value), quote=True)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time or date from the report as an aware UTC datetime; None when unreadable.
    A time without offset is taken as UTC (the hunt writes UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_day(value: object, end: bool = False) -> datetime | None:
    """A window bound given as a date: its start, or its end (the day is included)."""
    moment = parse_time(value)
    if moment is None:
        return None
    if isinstance(value, str) and len(value.strip()) == 10 and end:
        return moment + timedelta(days=1)
    return moment


# --- the status chart ----------------------------------------------------------------------


def status_chart(counts: dict[str, int]) -> str:
    """Horizontal bars, one per status in STATUSES order, each with its label and count as text."""
    bar_left, bar_width, row = 120, 300, 34
    height = row * len(STATUSES) + 8
    top = max([counts.get(status, 0) for status in STATUSES] + [1])
    parts = [f'<svg class="status-chart" viewBox="0 0 480 {height}" width="480" height="{height}" role="img" '
             'aria-labelledby="status-chart-title" xmlns="http://www.w3.org/2000/svg">'
             '<title id="status-chart-title">Servers by status</title>']
    for index, status in enumerate(STATUSES):
        count = counts.get(status, 0)
        y = 4 + index * row
        width = round(bar_width * count / top) if count else 0
        colour = STATUS_COLOURS[status]
        parts.append(
            f'<g class="bar st-{status}">'
            f'<text x="{bar_left - 10}" y="{y + 21}" text-anchor="end" class="bar-label">{STATUS_LABELS[status]}</text>'
            f'<rect x="{bar_left}" y="{y + 4}" width="{bar_width}" height="24" fill="#f0f0f0"/>'
            f'<rect x="{bar_left}" y="{y + 4}" width="{width}" height="24" fill="{colour}"/>'
            f'<text x="{bar_left + max(width, 0) + 8}" y="{y + 22}" class="bar-count">{count}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


# --- the timeline: data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    time: datetime
    severity: str
    attempt: bool
    rule: str


@dataclass
class TimelineRow:
    name: str
    anchor: str
    hits: list[Hit] = field(default_factory=list)
    exposures: list[tuple[datetime, datetime, str]] = field(default_factory=list)

    def exploitation(self) -> tuple[datetime, datetime] | None:
        """From the first to the last critical or high hit that is not an attempt."""
        serious = [hit.time for hit in self.hits if hit.severity in ("critical", "high") and not hit.attempt]
        return (min(serious), max(serious)) if serious else None


def timeline_rows(report: dict[str, Any], anchors: dict[str, str], only: str | None = None) -> list[TimelineRow]:
    """One row per server (in report order) with its timed hits and exposed windows."""
    rows = []
    for name, host in sorted_hosts(report):
        if only is not None and name != only:
            continue
        # The name may be attacker-influenced (a hostname from evidence): cleaned here, escaped when drawn.
        row = TimelineRow(clean_text(name), anchors.get(name, ""))
        for indicator in (as_dict(item) for item in as_list(host.get("indicators"))):
            moment = parse_time(indicator.get("time"))
            if moment is not None:
                row.hits.append(Hit(moment, severity_of(indicator), is_attempt(indicator),
                                    clean_text(indicator.get("rule"))))
        for window in (as_dict(item) for item in as_list(hunt_of(host).get("exposure"))):
            start, end = _parse_day(window.get("start")), _parse_day(window.get("end"), end=True)
            if window.get("exposed") is True and start is not None and end is not None and end > start:
                row.exposures.append((start, end, clean_text(window.get("attack"))))
        row.hits.sort(key=lambda hit: hit.time)
        rows.append(row)
    return rows


def clusters(times: Iterable[datetime], gap: timedelta = CLUSTER_GAP,
             max_panels: int = MAX_PANELS) -> list[tuple[datetime, datetime]]:
    """Group times into (first, last) spans split at gaps longer than gap; when there are more
    than max_panels, the smallest gaps are closed first."""
    ordered = sorted(times)
    if not ordered:
        return []
    gaps = [(ordered[i + 1] - ordered[i], i) for i in range(len(ordered) - 1) if ordered[i + 1] - ordered[i] > gap]
    # Keep the largest gaps as breaks; ties broken by position, so the result is deterministic.
    breaks = sorted(index for _, index in sorted(gaps, key=lambda item: (-item[0], item[1]))[:max_panels - 1])
    spans, start = [], 0
    for index in breaks:
        spans.append((ordered[start], ordered[index]))
        start = index + 1
    spans.append((ordered[start], ordered[-1]))
    return spans


# --- the timeline: axis -------------------------------------------------------------------

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
_STEPS = (_MINUTE, 5 * _MINUTE, 10 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE, _HOUR, 2 * _HOUR, 3 * _HOUR,
          6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY)
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day_text(moment: datetime | date) -> str:
    return f"{moment.day:02d} {_MONTHS[moment.month - 1]}"


def _month_start(moment: datetime, months: int) -> datetime:
    index = (moment.year * 12 + moment.month - 1) // months * months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def axis_ticks(start: datetime, end: datetime, max_ticks: int) -> list[tuple[datetime, str, str]]:
    """Ticks on round times between start and end: (time, label, context). The context (the
    date under a time, the year under a day or month) is meant to be written under the first
    tick drawn and wherever it changes, so the axis reads without repeating it on each tick."""
    span = (end - start).total_seconds()
    ticks: list[datetime] = []
    step = next((s for s in _STEPS if span / s <= max_ticks), None)
    if step is not None:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        first = int((start - epoch).total_seconds() // step + 1) * step
        moment = epoch + timedelta(seconds=first)
        while moment <= end:
            ticks.append(moment)
            moment += timedelta(seconds=step)
    else:
        months = next((m for m in _MONTH_STEPS if span / (m * 30.44 * _DAY) <= max_ticks), _MONTH_STEPS[-1])
        moment = _month_start(start, months)
        if moment < start:
            moment = _add_months(moment, months)
        while moment <= end:
            ticks.append(moment)
            moment = _add_months(moment, months)
    labelled = []
    for moment in ticks:
        if step is not None and step < _DAY:
            label, second = f"{moment.hour:02d}:{moment.minute:02d}", f"{_day_text(moment)} {moment.year}"
        elif step is not None:
            label, second = _day_text(moment), str(moment.year)
        else:
            label, second = _MONTHS[moment.month - 1], str(moment.year)
        labelled.append((moment, label, second))
    return labelled


def duration_text(delta: timedelta) -> str:
    """A skipped or shaded span in the largest unit that reads well: 42 min, 19 h 42 min, 21 days, 5.7 years."""
    seconds = delta.total_seconds()
    if seconds < _HOUR:
        return f"{max(round(seconds / _MINUTE), 0)} min"
    if seconds < 2 * _DAY:
        hours, minutes = divmod(round(seconds / _MINUTE), 60)
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    if seconds < 365 * _DAY:
        return f"{round(seconds / _DAY)} days"
    return f"{seconds / (365.25 * _DAY):.1f} years"


def time_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --- the timeline: drawing ----------------------------------------------------------------


@dataclass(frozen=True)
class _Panel:
    start: datetime
    end: datetime
    left: float
    width: float

    def x(self, moment: datetime) -> float:
        share = (moment - self.start).total_seconds() / max((self.end - self.start).total_seconds(), 1.0)
        return self.left + share * self.width

    def clip(self, start: datetime, end: datetime) -> tuple[float, float] | None:
        if end < self.start or start > self.end:
            return None
        return self.x(max(start, self.start)), self.x(min(end, self.end))


def _panels(spans: Sequence[tuple[datetime, datetime]], left: float, width: float) -> list[_Panel]:
    count = len(spans)
    usable = width - _BREAK_WIDTH * (count - 1)
    panels = []
    for index, (first, last) in enumerate(spans):
        half = max((last - first) * 0.06, _MIN_HALF_SPAN)
        panel_width = usable / count
        panels.append(_Panel(first - half, last + half, left + index * (panel_width + _BREAK_WIDTH), panel_width))
    return panels


def _merge(intervals: list[tuple[datetime, datetime, str]]) -> list[tuple[datetime, datetime, list[str]]]:
    merged: list[tuple[datetime, datetime, list[str]]] = []
    for start, end, attack in sorted(intervals):
        if merged and start <= merged[-1][1]:
            first, last, attacks = merged[-1]
            merged[-1] = (first, max(last, end), [*attacks, attack])
        else:
            merged.append((start, end, [attack]))
    return merged


def _mark(x: float, y: float, hit: Hit, count: int, name: str) -> str:
    colour = SEVERITY_COLOURS[hit.severity]
    kind = "attempt" if hit.attempt else "hit"
    more = f" (+{count - 1} more here)" if count > 1 else ""
    title = (f"<title>{html.escape(name)}: {html.escape(hit.rule)}, {hit.severity}"
             f"{', attempt' if hit.attempt else ''}, {time_text(hit.time)}{more}</title>")
    css = f'class="hit sev-{hit.severity}{" attempt" if hit.attempt else ""}" data-kind="{kind}"'
    if hit.attempt:
        # A hollow diamond: a request the server was no longer open to, not a compromise.
        points = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}"
        return f'<polygon {css} points="{points}" fill="#fff" stroke="{colour}" stroke-width="1.8">{title}</polygon>'
    return (f'<circle {css} cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}" stroke="#fff" stroke-width=".8">'
            f"{title}</circle>")


def _row(panels: list[_Panel], row: TimelineRow, top: float, right: float) -> list[str]:
    name = html.escape(row.name)
    parts = [f'<g class="row" data-host="{name}">',
             f'<line x1="{_LABEL_WIDTH}" y1="{top + _ROW_HEIGHT:.1f}" x2="{right}" y2="{top + _ROW_HEIGHT:.1f}" '
             'stroke="#e3e3e3"/>']
    label = f'<text x="{_LABEL_WIDTH - 8}" y="{top + 19:.1f}" text-anchor="end" class="row-label">{name}</text>'
    parts.append(f'<a href="#{row.anchor}">{label}</a>' if row.anchor else label)
    exploitation = row.exploitation()
    for panel in panels:
        for start, end, attacks in _merge(row.exposures):
            span = panel.clip(start, end)
            if span is not None:
                campaigns = html.escape(", ".join(attacks))
                parts.append(
                    f'<rect class="exposure" x="{span[0]:.1f}" y="{top + 1:.1f}" '
                    f'width="{max(span[1] - span[0], 1):.1f}" height="{_ROW_HEIGHT - 2}" fill="#fbe3bd">'
                    f"<title>{name} exposed ({campaigns}): {start.date()} to "
                    f"{(end - timedelta(seconds=1)).date()}</title></rect>")
        if exploitation is not None:
            span = panel.clip(*exploitation)
            if span is not None:
                width = max(span[1] - span[0], 3)
                parts.append(
                    f'<rect class="exploitation" x="{span[0] - 1.5:.1f}" y="{top + 1:.1f}" width="{width + 3:.1f}" '
                    f'height="{_ROW_HEIGHT - 2}" fill="#d32f2f" fill-opacity=".22" stroke="#b00020" stroke-width="1.5">'
                    f"<title>{name} exploitation window: {time_text(exploitation[0])} to {time_text(exploitation[1])} "
                    f"({duration_text(exploitation[1] - exploitation[0])})</title></rect>")
        # One mark per pixel and lane: a burst of a thousand hits is a few dozen marks, each
        # saying how many it stands for.
        seen: dict[tuple[int, int, bool], tuple[Hit, int]] = {}
        for hit in row.hits:
            if panel.start <= hit.time <= panel.end:
                key = (round(panel.x(hit.time)), _LANES[hit.severity], hit.attempt)
                first, count = seen.get(key, (hit, 0))
                seen[key] = (first, count + 1)
        for (x, lane, _), (hit, count) in sorted(seen.items(), key=lambda item: (-item[0][1], item[0][0])):
            parts.append(_mark(x, top + 7 + lane * 5.5, hit, count, row.name))
    parts.append("</g>")
    return parts


def _axis(panels: list[_Panel], bottom: float) -> list[str]:
    parts = []
    for panel in panels:
        parts.append(f'<line x1="{panel.left:.1f}" y1="{bottom:.1f}" x2="{panel.left + panel.width:.1f}" '
                     f'y2="{bottom:.1f}" stroke="#555"/>')
        previous = ""
        for moment, label, second in axis_ticks(panel.start, panel.end, max(2, int(panel.width // 80))):
            x = panel.x(moment)
            if min(x - panel.left, panel.left + panel.width - x) < 22:
                continue  # a label at the very edge would run into the break between panels
            parts.append(f'<line x1="{x:.1f}" y1="{_TOP:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" stroke="#000" '
                         'stroke-opacity=".08"/>'
                         f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" class="tick">{label}</text>')
            if second != previous:
                previous = second
                parts.append(f'<text x="{x:.1f}" y="{bottom + 30:.1f}" text-anchor="middle" class="tick tick-2">'
                             f"{second}</text>")
    return parts


def _panel_heads(panels: list[_Panel], spans: Sequence[tuple[datetime, datetime]], bottom: float) -> list[str]:
    parts = []
    for index, (panel, (first, last)) in enumerate(zip(panels, spans, strict=True)):
        same_day = first.date() == last.date()
        period = (f"{_day_text(first)} {first.year}" if same_day
                  else f"{_day_text(first)} {first.year} – {_day_text(last)} {last.year}")
        parts.append(f'<text x="{panel.left + 2:.1f}" y="{_TOP - 8}" class="panel-head">{period}</text>')
        if index:
            # The broken axis: a zig-zag and the time left out between two panels.
            gap_left = panel.left - _BREAK_WIDTH
            middle = gap_left + _BREAK_WIDTH / 2
            skipped = duration_text(first - spans[index - 1][1])
            zig = " ".join(f"{middle + (3 if step % 2 else -3):.1f},{_TOP + step * 8:.1f}"
                           for step in range(int((bottom - _TOP) // 8) + 1))
            parts.append(f'<polyline class="axis-break" points="{zig}" fill="none" stroke="#888" stroke-width="1.2"/>'
                         f'<text x="{middle:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" class="tick gap">'
                         f"+{skipped}</text>")
    return parts


def _exploitation_columns(panels: list[_Panel], rows: list[TimelineRow], bottom: float) -> list[str]:
    """The estate's exploitation window (first to last serious hit of any server) as a column
    through every row, so the period of the attack stands out before any single mark is read."""
    windows = [window for window in (row.exploitation() for row in rows) if window is not None]
    if not windows:
        return []
    start, end = min(window[0] for window in windows), max(window[1] for window in windows)
    parts = []
    for panel in panels:
        span = panel.clip(start, end)
        if span is None:
            continue
        left, width = span[0] - 4, max(span[1] - span[0], 2) + 8
        parts.append(f'<rect class="exploitation-column" x="{left:.1f}" y="{_TOP - 4}" width="{width:.1f}" '
                     f'height="{bottom - _TOP + 4:.1f}" fill="#d32f2f" fill-opacity=".1"/>'
                     f'<text x="{left + width / 2:.1f}" y="{bottom + 44:.1f}" text-anchor="middle" '
                     f'class="exploit-label">▲ exploited {duration_text(end - start)}</text>')
    return parts


def _legend(y: float) -> str:
    items = []
    x = 10
    for severity in ("critical", "high", "medium", "low"):
        items.append(f'<circle cx="{x + 5}" cy="{y}" r="4.5" fill="{SEVERITY_COLOURS[severity]}"/>'
                     f'<text x="{x + 14}" y="{y + 4}" class="legend">{severity}</text>')
        x += 74
    items.append(f'<polygon points="{x + 5},{y - 5} {x + 10},{y} {x + 5},{y + 5} {x},{y}" fill="#fff" '
                 f'stroke="#e65100" stroke-width="1.8"/><text x="{x + 16}" y="{y + 4}" class="legend">'
                 "attempt (server no longer open)</text>")
    x += 215
    items.append(f'<rect x="{x}" y="{y - 7}" width="22" height="14" fill="#d32f2f" fill-opacity=".22" '
                 f'stroke="#b00020" stroke-width="1.5"/><text x="{x + 28}" y="{y + 4}" class="legend">'
                 "exploitation window (first to last critical/high hit)</text>")
    x += 340
    items.append(f'<rect x="{x}" y="{y - 7}" width="22" height="14" fill="#fbe3bd"/>'
                 f'<text x="{x + 28}" y="{y + 4}" class="legend">server exposed to a campaign</text>')
    return f'<g class="legend-items">{"".join(items)}</g>'


def timeline_svg(rows: list[TimelineRow]) -> str:
    """The timeline picture, or "" when no row has a timed hit (the caller says so in words)."""
    times = [hit.time for row in rows for hit in row.hits]
    if not times:
        return ""
    spans = clusters(times)
    panels = _panels(spans, _LABEL_WIDTH + 10, _WIDTH - _LABEL_WIDTH - 20)
    # Only servers with something to see in these periods get a row: a hit, or an exposure
    # window that overlaps a panel.
    # Servers with hits come first when the rows run out.
    with_hits = [row for row in rows if row.hits][:MAX_ROWS]
    exposed = [row for row in rows if not row.hits and any(
        panel.clip(start, end) for panel in panels for start, end, _ in row.exposures)]
    keep = {id(row) for row in with_hits + exposed[:MAX_ROWS - len(with_hits)]}
    shown = [row for row in rows if id(row) in keep]
    bottom = _TOP + _ROW_HEIGHT * len(shown)
    height = bottom + _AXIS_HEIGHT + 30
    parts = [f'<svg class="timeline" viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" role="img" '
             'aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg">'
             '<title id="timeline-title">Indicator hits over time, one row per server</title>',
             _legend(12)]
    parts += _panel_heads(panels, spans, bottom)
    for index, row in enumerate(shown):
        parts += _row(panels, row, _TOP + index * _ROW_HEIGHT, _WIDTH - 10)
    parts += _axis(panels, bottom)
    # Over the rows (translucent), or the exposure bands would hide it.
    parts += _exploitation_columns(panels, shown, bottom)
    parts.append("</svg>")
    return "".join(parts)


def timeline_hidden(rows: list[TimelineRow]) -> int:
    """Servers with hits beyond MAX_ROWS that the picture leaves out."""
    with_hits = [row for row in rows if row.hits]
    return max(len(with_hits) - MAX_ROWS, 0)
