"""plan.md: the patch plan (plan.json, schema 1) as a document a change board can read.

Order: summary, Active Directory preparation, waves, a table of servers, then one section per
server with its target, blockers and notes, prerequisites, steps and media. Host names, reasons
and everything else that came from an inventory or a server is untrusted: every value goes
through report_markdown.escape_md (one line, Markdown and HTML inert), exactly like summary.md.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

from typing import Any

from .report_markdown import escape_md
from .report_table import as_dict, as_list

_STATE_TEXT = {"patch": "patch", "up_to_date": "up to date", "blocked": "**blocked**"}
_AD_FIELDS = (("schema", "Schema (rangeUpper)", "PrepareSchema"),
              ("organization", "Organization (objectVersion)", "PrepareAD"),
              ("meso", "Microsoft Exchange System Objects (objectVersion)", "PrepareAllDomains"))


def _table(titles: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> list[str]:
    """GFM table; cells must already be escaped."""
    align = ["---:" if index in numeric else "---" for index in range(len(titles))]
    return ["| " + " | ".join(row) + " |" for row in [titles, align, *rows]]


def _number(value: Any) -> str:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def _yes_no(value: Any) -> str:
    return "yes" if value is True else ("no" if value is False else "—")


def _version(part: Any) -> str:
    part = as_dict(part)
    words = [str(part[key]) for key in ("cu", "su") if isinstance(part.get(key), str) and part.get(key)]
    text = " ".join(words)
    build = part.get("build")
    if text and build:
        return escape_md(f"{text} ({build})")
    return escape_md(text or build)


def _state(server: dict[str, Any]) -> str:
    state = server.get("state")
    return _STATE_TEXT.get(state, escape_md(state)) if isinstance(state, str) else "—"


def _options(plan: dict[str, Any]) -> list[str]:
    options = as_dict(plan.get("options"))
    hosts = as_list(options.get("hosts"))
    shown = [
        f"max_per_wave {_number(options.get('max_per_wave'))}",
        f"max_per_site {_number(options.get('max_per_site'))}",
        f"upgrade_to_se {_yes_no(options.get('upgrade_to_se'))}",
        f"diagnostic_data {escape_md(options.get('diagnostic_data'))}",
        "hosts " + (escape_md(", ".join(str(h) for h in hosts)) if hosts else "all"),
    ]
    if options.get("domain_controller"):
        shown.append(f"domain_controller {escape_md(options.get('domain_controller'))}")
    if options.get("extended_protection_opt_out"):
        shown.append(f"extended_protection_opt_out {escape_md(options.get('extended_protection_opt_out'))}")
    return [f"Generated {escape_md(plan.get('generated_at'))} · Options: " + " · ".join(shown), ""]


def _summary(plan: dict[str, Any]) -> list[str]:
    summary = as_dict(plan.get("summary"))
    titles = ["Servers", "Patch", "Up to date", "Blocked", "Waves", "Modelled window (min)", "Serial (min)",
              "Speedup"]
    keys = ["servers", "patch", "up_to_date", "blocked", "waves", "modelled_window_minutes",
            "serial_window_minutes", "speedup"]
    lines = ["## Summary", "", *_table(titles, [[_number(summary.get(key)) for key in keys]],
                                        tuple(range(len(keys)))), ""]
    if summary.get("limited_by"):
        lines += [f"Wave count limited by: {escape_md(summary.get('limited_by'))}.", ""]
    warnings = [f"- {escape_md(w)}" for w in as_list(plan.get("warnings"))]
    if warnings:
        lines += ["Warnings:", "", *warnings, ""]
    return lines


def _ad_preparation(plan: dict[str, Any]) -> list[str]:
    ad = as_dict(plan.get("ad_preparation"))
    lines = ["## Active Directory preparation", ""]
    if ad.get("needed"):
        steps = ", ".join(f"/{step}" for step in as_list(ad.get("steps")) if isinstance(step, str))
        target = as_dict(ad.get("target"))
        lines += [f"**Needed** before the first server: {escape_md(steps)}, run once from the media "
                  f"{escape_md(ad.get('media'))} ({escape_md(target.get('product'))} {escape_md(target.get('cu'))}) "
                  f"with {escape_md(ad.get('license_switch'))}, on a machine in the schema master's domain and site; "
                  "then wait for AD replication.", ""]
    else:
        lines += ["Not needed.", ""]
    estate = as_dict(ad.get("estate_levels"))
    required = as_dict(ad.get("required_levels"))
    rows = [[escape_md(label), _number(estate.get(key)), _number(required.get(key)), escape_md(step)]
            for key, label, step in _AD_FIELDS]
    lines += [f"Estate levels: {escape_md(estate.get('source'))}.", "",
              *_table(["Level", "Estate", "Required by the targets", "Raised by"], rows, (1, 2)), ""]
    lines += [f"- {escape_md(reason)}" for reason in as_list(ad.get("reasons"))]
    return [*lines, ""] if as_list(ad.get("reasons")) else lines


def _waves(plan: dict[str, Any]) -> list[str]:
    waves = [as_dict(wave) for wave in as_list(plan.get("waves"))]
    lines = ["## Waves", ""]
    if not waves:
        return [*lines, "No server to patch.", ""]
    servers = as_dict(plan.get("servers"))
    rows = []
    for wave in waves:
        names = []
        for name in as_list(wave.get("servers")):
            offline = "" if as_dict(servers.get(name)).get("live") else " (offline bundle: plan only)"
            names.append(escape_md(name) + offline)
        rows.append([_number(wave.get("number")), ", ".join(names), _number(wave.get("modelled_minutes"))])
    return [*lines, "Never two members of one DAG in one wave; a wave lasts as long as its slowest member.", "",
            *_table(["Wave", "Servers", "Modelled minutes"], rows, (0, 2)), ""]


def _server_rows(servers: list[tuple[str, dict[str, Any]]]) -> list[str]:
    rows = []
    for name, server in servers:
        reasons = as_list(server.get("reasons"))
        first = escape_md(reasons[0], "") if reasons else ""
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        rows.append([escape_md(name), _state(server), _number(server.get("wave")), _version(server.get("current")),
                     _version(server.get("target")), escape_md(server.get("maintenance")),
                     "live" if server.get("live") else "offline", _number(server.get("modelled_minutes")),
                     first + more])
    titles = ["Host", "Plan", "Wave", "Now", "Target", "Maintenance", "Source", "Minutes", "Notes"]
    return ["## Servers", "", *_table(titles, rows, (2, 7)), ""]


def _maintenance(server: dict[str, Any]) -> str:
    kind = server.get("maintenance")
    if kind == "dag":
        peers = ", ".join(str(p) for p in as_list(server.get("dag_peers")))
        text = (f"DAG member of {server.get('dag')} ({_number(server.get('dag_member_count'))} members"
                + (f"; peers {peers}" if peers else "") + ")")
    elif kind == "edge":
        text = "Edge Transport (drain transport only)"
    else:
        text = f"stand-alone ({kind})" if kind not in (None, "standalone") else "stand-alone"
    redirect = server.get("redirect_target")
    if redirect:
        text += f"; queues redirected to {redirect}"
    if server.get("site"):
        text += f"; AD site {server.get('site')}"
    return escape_md(text)


def _step_text(step: dict[str, Any]) -> str:
    kind = step.get("kind")
    minutes = f" (~{_number(step.get('minutes'))} min)"
    if kind == "prerequisite":
        how = (f"Windows feature {step.get('feature')}" if step.get("install") == "feature"
               else f"media {step.get('media') or '—'}")
        text = f"Prerequisite: {step.get('name')} — {how}" + (", then reboot" if step.get("reboot") else "")
    elif kind == "cu":
        arguments = " ".join(str(a) for a in as_list(step.get("arguments")))
        verb = "in-place upgrade to" if step.get("in_place_upgrade") else "cumulative update"
        text = f"Reboot, then {verb}" if step.get("reboot_before") else verb[:1].upper() + verb[1:]
        text += (f" {step.get('product') or ''} {step.get('name')} ({step.get('build')}, "
                 f"{step.get('kb') or 'no KB'}) from media {step.get('media')}: Setup.exe {arguments}, then reboot")
    elif kind == "su":
        text = (f"Update {step.get('name')} ({step.get('build')}, {step.get('kb') or 'no KB'}) from media "
                f"{step.get('media')}, then reboot")
    else:
        text = f"{kind}: {step.get('name')}"
    return escape_md(" ".join(text.split())) + minutes


def _server_section(name: str, server: dict[str, Any]) -> list[str]:
    lines = [f"### {escape_md(name)}", ""]
    wave = server.get("wave")
    head = [f"Plan: {_state(server)}"]
    if isinstance(wave, int):
        head.append(f"wave {wave}")
    head.append("live" if server.get("live") else "offline evidence bundle (plan only, never applied)")
    head.append(f"{escape_md(server.get('product'))} on {escape_md(server.get('fqdn') or server.get('hostname'))}")
    lines += [" · ".join(head), ""]
    facts = [("Now", _version(server.get("current"))), ("Target", _version(server.get("target"))),
             ("Roles", escape_md(", ".join(str(r) for r in as_list(server.get("roles"))))),
             ("Maintenance", _maintenance(server)), ("License switch", escape_md(server.get("license_switch"))),
             ("Modelled minutes", _number(server.get("modelled_minutes")))]
    lines += [f"- {label}: {value}" for label, value in facts] + [""]
    reasons = as_list(server.get("reasons"))
    if reasons:
        title = "Blockers and notes:" if server.get("state") == "blocked" else "Notes:"
        lines += [title, "", *[f"- {escape_md(reason)}" for reason in reasons], ""]
    prerequisites = [as_dict(p) for p in as_list(server.get("prerequisites"))]
    if prerequisites:
        rows = [[escape_md(p.get("name")), escape_md(p.get("status")) + (" (blocking)" if p.get("blocking") else ""),
                 escape_md(p.get("detail")), escape_md(p.get("media"))] for p in prerequisites]
        lines += ["Prerequisites:", "", *_table(["Prerequisite", "Status", "Detail", "Media"], rows), ""]
    steps = [as_dict(s) for s in as_list(server.get("steps"))]
    if steps:
        lines += ["Steps (inside maintenance mode):", "",
                  *[f"{number}. {_step_text(step)}" for number, step in enumerate(steps, start=1)], ""]
    media = [as_dict(m) for m in as_list(server.get("media"))]
    if media:
        rows = [[escape_md(m.get("id")), escape_md(m.get("kind")), escape_md(m.get("relative_path")),
                 escape_md(m.get("sha256"), "unknown"), escape_md(m.get("sha256_source"))] for m in media]
        lines += ["Media:", "", *_table(["Id", "Kind", "Mirror path", "SHA-256", "Source"], rows), ""]
    return lines


def plan_markdown(plan: dict[str, Any]) -> str:
    """The whole plan as one Markdown document (tolerates a malformed or partial plan)."""
    plan = as_dict(plan)
    servers = sorted(((str(name), as_dict(server)) for name, server in as_dict(plan.get("servers")).items()),
                     key=lambda item: (item[0].lower(), item[0]))
    lines = ["# Exchange patch plan", "", *_options(plan), *_summary(plan), *_ad_preparation(plan), *_waves(plan),
             *_server_rows(servers)]
    for name, server in servers:
        lines += _server_section(name, server)
    return "\n".join(lines).rstrip("\n") + "\n"
