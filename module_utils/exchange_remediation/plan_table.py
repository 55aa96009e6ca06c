"""The patch plan as lines for the play's output: waves first, then one row per server.

A sysadmin running remediate.yml --check reads this before deciding on a maintenance window,
so it says in a screen what will happen, in which order, and what stops a server. Host names
and reasons come from inventories and collected facts: every cell goes through clean_text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .report_table import as_dict, as_list, clean_text, display_width, truncate

_COLUMNS = (("Host", 28), ("Plan", 10), ("Wave", 4), ("Now", 22), ("Target", 22), ("Steps", 40), ("Notes", 90))


def _version(part: Mapping[str, Any]) -> str:
    cu = clean_text(part.get("cu"), "")
    su = clean_text(part.get("su"), "")
    text = " ".join(p for p in (cu, su) if p)
    return text or clean_text(part.get("build"))


def _steps(server: Mapping[str, Any]) -> str:
    """Prerequisite installs counted, then the CU and SU by name: what the window will run."""
    names = []
    prerequisites = 0
    for step in as_list(server.get("steps")):
        step = as_dict(step)
        if step.get("kind") == "prerequisite":
            prerequisites += 1
        else:
            names.append(clean_text(step.get("name"), str(step.get("kind"))))
    if prerequisites:
        names.insert(0, f"{prerequisites} prereq")
    return " → ".join(names) or "—"


def _row(name: str, server: Mapping[str, Any]) -> list[str]:
    state = clean_text(server.get("state"))
    notes = "; ".join(clean_text(reason) for reason in as_list(server.get("reasons")))
    if not server.get("live") and state == "patch":
        notes = "offline evidence: plan only" + (f"; {notes}" if notes else "")
    wave = server.get("wave")
    return [clean_text(name), state, str(wave) if isinstance(wave, int) else "—",
            _version(as_dict(server.get("current"))), _version(as_dict(server.get("target"))),
            _steps(server), notes or "—"]


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def render_plan_table(plan: Mapping[str, Any]) -> list[str]:
    """Lines: AD preparation, the waves with their modelled length, a table of servers, totals."""
    lines: list[str] = []
    ad = as_dict(plan.get("ad_preparation"))
    if ad.get("needed"):
        steps = ", ".join(clean_text(s) for s in as_list(ad.get("steps")))
        lines.append(f"Active Directory preparation first: {steps or 'needed'}")
        lines += [f"  - {clean_text(reason)}" for reason in as_list(ad.get("reasons"))]
    else:
        lines.append("Active Directory preparation: not needed")
    waves = as_list(plan.get("waves"))
    servers = as_dict(plan.get("servers"))
    if waves:
        lines.append(f"Waves ({len(waves)}; never two members of one DAG at once):")
        for wave in waves:
            wave = as_dict(wave)
            names = [clean_text(n) + ("" if as_dict(servers.get(n)).get("live") else " (offline)")
                     for n in as_list(wave.get("servers"))]
            lines.append(f"  {wave.get('number')}: ~{wave.get('modelled_minutes', '?')} min — "
                         + truncate(", ".join(names), 200))
    else:
        lines.append("Waves: none (no server to patch)")
    titles = [title for title, _ in _COLUMNS]
    rows = [[truncate(cell, limit) for cell, (_, limit) in zip(_row(name, as_dict(server)), _COLUMNS, strict=True)]
            for name, server in sorted(servers.items(), key=lambda item: (item[0].lower(), item[0]))]
    widths = [max(display_width(cell) for cell in column) for column in zip(titles, *rows, strict=True)]
    table = [" | ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [titles, *rows]]
    table.insert(1, "-+-".join("-" * width for width in widths))
    lines += ["", *table, ""]
    summary = as_dict(plan.get("summary"))
    lines.append(
        f"Totals: {summary.get('patch', 0)} to patch, {summary.get('up_to_date', 0)} up to date, "
        f"{summary.get('blocked', 0)} blocked; {summary.get('waves', 0)} wave(s), "
        f"modelled window ~{summary.get('modelled_window_minutes', 0)} min "
        f"against ~{summary.get('serial_window_minutes', 0)} min one server at a time")
    return lines
