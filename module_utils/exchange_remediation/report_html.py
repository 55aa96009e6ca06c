"""HTML dashboard for a report.json (format version 1), and one standalone page per server.

One self-contained file: inline CSS and inline SVG, no script, no external asset, so it can be
mailed, archived with the evidence and printed. A manager reads the top (totals per status, the
policy verdict, a status chart, what changed since the previous run, when the attacks happened);
an engineer reads the per-server sections below (evidence, next step, before/after), each a
printed page of its own. render_server_page gives one server's section as its own page
(servers/<safe_page_name>.html beside report.html, written by report_files).

Every value taken from the report goes through ``_e`` (clean_text + html.escape): host names,
paths, log lines and user agents come from servers that may be under an attacker's control. A
finding's evidence (a raw log line, event or file summary, up to 2000 characters of
attacker-chosen text) keeps its lines in a ``<pre><code>`` block, through clean_block +
html.escape.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

from .estate_status import STATUSES, server_status, status_counts
from .report_svg import (
    STATUS_LABELS,
    TimelineRow,
    duration_text,
    time_text,
    timeline_hidden,
    timeline_rows,
    timeline_svg,
)
from .report_svg import status_chart as _status_chart_svg
from .report_table import (
    ATTEMPT_NOTE,
    HUNT_STATUS_TEXT,
    NOT_ASSESSED,
    REMEDIATION_STATE_TEXT,
    ad_preparation_facts,
    ad_preparation_reasons,
    as_dict,
    as_list,
    change_text,
    clean_text,
    compromise_reasons,
    compromised_of,
    count_text,
    coverage_text,
    cve_statuses,
    cves_of,
    estate_counts,
    evidence_text,
    findings_text,
    host_remediation,
    hunt_of,
    hunt_status,
    indicators_of,
    is_attempt,
    minutes_text,
    next_step_text,
    open_cves_text,
    percent_text,
    remediation_counts,
    remediation_of,
    remediation_state,
    rollout_text,
    severity_of,
    sorted_hosts,
    status_of,
    su_text,
    vulnerable_of,
    wave_of,
    where_text,
    yes_no,
)

# Colours carry no meaning alone: every coloured cell also says its status in words,
# so the page survives black-and-white printing.
_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Arial, sans-serif; color: #1b1b1b;
       margin: 1.5em; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.3em; margin: 1.6em 0 .4em; border-bottom: 2px solid #444; }
h3 { font-size: 1.05em; margin: 1.1em 0 .3em; }
h4 { font-size: 1em; margin: .9em 0 .3em; }
table { border-collapse: collapse; margin: .3em 0 1em; }
/* The estate table fits the page: long next steps wrap instead of running off the side. */
#servers table { width: 100%; }
#servers td:last-child { min-width: 16em; }
th, td { border: 1px solid #aaa; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; }
.meta { color: #555; margin: 0; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; margin: .3em 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.banner { border: 2px solid #b00020; background: #fde7ea; padding: .5em .8em; }
.st-vulnerable, .v-yes, .c-yes, .sev-critical, .status-error { background: #f8c9cf; }
.st-unknown, .v-unknown, .c-unknown, .sev-high { background: #ffe2b3; }
.st-mitigated, .sev-medium { background: #fff3b0; }
.st-patched, .v-no, .c-no, .status-ok { background: #cdeccf; }
.st-not_applicable, .sev-low { background: #e6e6e6; }
.badge { padding: 0 .4em; border: 1px solid #888; border-radius: 3px; font-size: .85em; }
.indicator { border: 1px solid #aaa; border-left-width: 6px; margin: .4em 0; padding: .3em .6em; }
.indicator.sev-critical { border-left-color: #b00020; }
.indicator.sev-high { border-left-color: #d97000; }
.indicator.attempt { border-style: dashed; border-left-color: #888; }
.indicator .title { font-weight: 600; }
ul.reasons { margin: .2em 0 .5em; }
pre.evidence { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; margin: .3em 0;
               padding: .3em .5em; font: 12px/1.35 Consolas, "Courier New", monospace; }
/* The dashboard: totals per status, policy verdict, charts. */
body { max-width: 1500px; }
header.top { display: flex; flex-wrap: wrap; align-items: flex-end; justify-content: space-between; gap: .5em 2em; }
.tiles { display: flex; flex-wrap: wrap; gap: .6em; margin: .8em 0; }
.tile { display: block; min-width: 7.5em; padding: .45em .9em; border-radius: 6px; color: #fff;
        text-decoration: none; border: 1px solid rgba(0,0,0,.15); }
.tile .num { display: block; font-size: 2.3em; font-weight: 700; line-height: 1.05; }
.tile .label { font-size: .95em; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
.tile.zero { opacity: .45; }
.tile.total { background: #263238; }
.ds-compromised { background: #7f0019; color: #fff; }
.ds-vulnerable { background: #d32f2f; color: #fff; }
.ds-unknown { background: #e08600; color: #fff; }
.ds-mitigated { background: #b79b00; color: #fff; }
.ds-patched { background: #2e7d32; color: #fff; }
.badge.ds { border-color: transparent; font-weight: 600; }
p.headline { font-size: 1.15em; margin: .2em 0 .8em; }
p.headline > span { margin-right: .8em; }
.hl-compromised strong { color: #7f0019; }
.hl-vulnerable strong { color: #c62828; }
.hl-unknown strong { color: #a65f00; }
.hl-clear { color: #2e7d32; font-weight: 600; }
.policy { border-left: 10px solid; padding: .5em 1em; margin: .6em 0; border-radius: 4px; }
.policy h2 { border: 0; margin: 0 0 .2em; font-size: 1.35em; }
.policy-failed { border-color: #b00020; background: #fde7ea; }
.policy-passed { border-color: #2e7d32; background: #e3f4e4; }
.policy ul { margin: .2em 0; padding-left: 1.2em; }
.cond-triggered { font-weight: 600; color: #8a0016; }
.cond-quiet { color: #555; }
nav.sections { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc; padding: .3em 0;
               z-index: 2; }
nav.sections a { margin-right: 1.2em; }
.overview { display: flex; flex-wrap: wrap; gap: 1em 2.5em; align-items: flex-start; }
.who dt { font-weight: 600; }
.who dd { margin: 0 0 .4em; }
svg.timeline { width: 100%; height: auto; max-width: 1400px; font-family: inherit; }
svg text { font-size: 12px; fill: #1b1b1b; }
svg .panel-head { font-weight: 700; font-size: 13px; }
svg .tick { font-size: 11px; fill: #333; }
svg .tick-2 { fill: #666; }
svg .gap { font-weight: 600; fill: #666; }
svg .row-label { font-weight: 600; }
svg .exploit-label { font-weight: 700; fill: #b00020; }
svg a .row-label { fill: #0b57a4; }
svg .bar-label { font-size: 14px; font-weight: 600; }
svg .bar-count { font-size: 15px; font-weight: 700; }
ul.exploit { margin: .3em 0 .6em; padding-left: 1.2em; }
ul.exploit li { color: #8a0016; }
p.no-hits { font-size: 1.1em; padding: .6em .9em; background: #f3f3f3; border: 1px dashed #999; }
.retention-short { background: #ffe2b3; padding: .2em .4em; }
.flag { font-size: .8em; padding: 0 .35em; border-radius: 3px; background: #ffe2b3; border: 1px solid #d9a441;
        white-space: nowrap; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 11px; max-width: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  nav, .nav { display: none !important; }
  section.host { break-before: page; }
  body.server-page section.host { break-before: auto; }
  tr, .indicator, dl.facts, svg { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

# Added only to a report with a plan, so that an assessment's page stays as it was.
_REMEDIATION_CSS = """
.rs-patched, .rs-up_to_date { background: #cdeccf; }
.rs-failed, .rs-refused { background: #f8c9cf; }
.rs-skipped, .rs-blocked, .rs-unknown { background: #ffe2b3; }
.rs-planned { background: #fff3b0; }
.rs-not_planned { background: #e6e6e6; }
"""

# Worst first, so the CVEs that need action lead each table.
_STATUS_ORDER = {"vulnerable": 0, "unknown": 1, "mitigated": 2, "patched": 3, "not_applicable": 4}
# A page stays printable: a host's findings beyond this are in report.json (worst ones first).
_MAX_FINDINGS_SHOWN = 500
_UNKNOWN_CSS = ' class="c-unknown"'


def _e(value: object, missing: str = "—") -> str:
    """Untrusted value -> safe HTML text."""
    return html.escape(clean_text(value, missing), quote=True)


def _summary_section(report: dict[str, Any], overview: str) -> str:
    counts = estate_counts(report)
    cells = [
        ("Hosts", counts["hosts"], ""),
        ("Assessed (ok)", counts["ok"], "status-ok" if counts["ok"] else ""),
        ("Not assessed (error)", counts["error"], "status-error" if counts["error"] else ""),
        ("Vulnerable", counts["vulnerable"], "v-yes" if counts["vulnerable"] else ""),
        ("Compromised", counts["compromised"], "c-yes" if counts["compromised"] else ""),
        ("Compromise unknown", counts["compromised_unknown"],
         "c-unknown" if counts["compromised_unknown"] else ""),
        ("Compromise ruled out", counts["compromised_no"], ""),
        ("Out of support", counts["unsupported"], "v-unknown" if counts["unsupported"] else ""),
        ("Critical findings", counts["indicators_critical"], "sev-critical" if counts["indicators_critical"] else ""),
        ("High findings", counts["indicators_high"], "sev-high" if counts["indicators_high"] else ""),
        ("Medium findings", counts["indicators_medium"], ""),
        ("Low findings", counts["indicators_low"], ""),
        ("Attempts", counts["indicators_attempt"], ""),
    ]
    head = "".join(f"<th>{label}</th>" for label, _, _ in cells)
    body = "".join(f'<td class="num {css}">{number}</td>' for _, number, css in cells)
    table = f"<table><tr>{head}</tr><tr>{body}</tr></table>"
    return f'<section id="summary"><h2>Estate summary</h2>{overview}{table}</section>'


def _status_badge(host: dict[str, Any]) -> str:
    status = server_status(host)
    return f'<span class="badge ds ds-{status}">{status}</span>'


def _flags(host: dict[str, Any]) -> str:
    """Short warnings a manager should not miss in the table."""
    flags = []
    if as_dict(host.get("exchange")).get("supported") is False:
        flags.append("out of support")
    if as_dict(hunt_of(host).get("retention")).get("short") is True:
        flags.append("short logs")
    return "".join(f' <span class="flag">{flag}</span>' for flag in flags)


def _servers_table(hosts: list[tuple[str, dict[str, Any]]], pages: dict[str, str]) -> str:
    titles = ("Server", "Status", "Product · CU · SU", "Build", "Open CVEs", "Compromised", "Findings",
              "Next step", "Page")
    rows = []
    for index, (name, host) in enumerate(hosts, start=1):
        exchange = as_dict(host.get("exchange"))
        compromised = compromised_of(host)
        if status_of(host) == "ok":
            next_step = _e(next_step_text(host))
        else:
            next_step = f"<strong>{NOT_ASSESSED}</strong>: {_e(host.get('error'), 'no reason given')}"
        product = " ".join(part for part in (_e(exchange.get("product"), ""), _e(exchange.get("cu"), "")) if part)
        rows.append(
            "<tr>"
            f'<td><a href="#host-{index}">{_e(name)}</a></td>'
            f"<td>{_status_badge(host)}</td>"
            f"<td>{product or '—'} · SU {html.escape(su_text(exchange))}{_flags(host)}</td>"
            f"<td>{_e(exchange.get('build'))}</td>"
            f'<td class="num">{html.escape(open_cves_text(host))}</td>'
            f'<td class="c-{compromised}">{compromised}</td>'
            f"<td>{html.escape(findings_text(host))}</td>"
            f"<td>{next_step}</td>"
            f'<td><a href="servers/{html.escape(pages[name])}.html">page</a></td>'
            "</tr>"
        )
    head = "".join(f"<th>{title}</th>" for title in titles)
    return f'<section id="servers"><h2>Servers</h2><table><tr>{head}</tr>{"".join(rows)}</table></section>'


def _facts(host: dict[str, Any]) -> str:
    exchange = as_dict(host.get("exchange"))
    roles = ", ".join(clean_text(role) for role in as_list(exchange.get("roles")))
    edge = exchange.get("edge")
    facts = [
        ("Product", _e(exchange.get("product"))),
        ("CU", _e(exchange.get("cu"))),
        ("SU", html.escape(su_text(exchange))),
        ("Build", _e(exchange.get("build"))),
        ("Build note", _e(exchange.get("build_note"), "")),
        ("Supported", yes_no(exchange.get("supported"))),
        ("Latest", yes_no(exchange.get("latest"))),
        ("Support ends", _e(exchange.get("support_end"))),
        ("Roles", _e(roles)),
        ("Edge Transport", yes_no(edge) if isinstance(edge, bool) else ""),
        ("DAG", _e(exchange.get("dag"), "")),
        ("AD site", _e(exchange.get("site"), "")),
        ("Hostname", _e(host.get("hostname"), "")),
        ("FQDN", _e(host.get("fqdn"), "")),
        ("Source", _e(host.get("source"), "")),
        ("Evidence folder", _e(host.get("evidence_dir"), "")),
        ("Collected at", _e(host.get("collected_at"), "")),
    ]
    # Optional facts the assessment did not produce are left out rather than shown empty.
    items = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts if value)
    return f'<h3>Exchange</h3><dl class="facts">{items}</dl>'


def _cve_table(host: dict[str, Any]) -> str:
    statuses = cve_statuses(host)
    if not statuses:
        return "<h3>CVEs</h3><p>No CVE was evaluated.</p>"
    details = as_dict(host.get("cve_details"))
    rows = []
    # A row per CVE that needs attention; patched and not-applicable ones are summarised, or a
    # large estate's page would be thousands of "patched" rows.
    for cve, status in sorted(statuses.items(), key=lambda item: (_STATUS_ORDER.get(item[1], 0), item[0])):
        if status in ("patched", "not_applicable"):
            continue
        detail = as_dict(details.get(cve))
        rows.append(
            f'<tr><td>{_e(cve)}</td><td class="st-{_e(status)}">{_e(status.replace("_", " "))}</td>'
            f"<td>{_e(detail.get('fixed_by'), '')}</td><td>{_e(detail.get('reason'), '')}</td></tr>"
        )
    patched = sorted(cve for cve, status in statuses.items() if status == "patched")
    not_applicable = sum(1 for status in statuses.values() if status == "not_applicable")
    table = ("<table><tr><th>CVE</th><th>Status</th><th>Fixed by</th><th>Reason</th></tr>" + "".join(rows)
             + "</table>") if rows else ""
    return (f"<h3>CVEs</h3>{table}<p class=\"st-patched\">Patched ({len(patched)}): "
            f"{_e(', '.join(patched), 'none')}</p><p>Not applicable to this product: {not_applicable}</p>")


def _warnings(host: dict[str, Any]) -> str:
    warnings = [as_dict(w) for w in as_list(host.get("warnings"))]
    if not warnings:
        return ""
    items = "".join(f"<li><code>{_e(w.get('code'))}</code> {_e(w.get('message'), '')}</li>" for w in warnings)
    return f"<h3>Warnings</h3><ul>{items}</ul>"


def _indicator(number: int, indicator: dict[str, Any]) -> str:
    severity = severity_of(indicator)
    attempt = is_attempt(indicator)
    title = _e(indicator.get("title"), "")
    about = [_e(indicator.get("attack"), ""), _e(", ".join(cves_of(indicator)), "no CVE"),
             _e(indicator.get("time"), "time unknown")]
    detail = _e(indicator.get("detail"), "")
    evidence = evidence_text(indicator)
    parts = [
        f'<div class="indicator sev-{severity}{" attempt" if attempt else ""}">',
        f'<span class="badge sev-{severity}">{severity}</span> ',
        '<span class="badge attempt">attempt</span> ' if attempt else "",
        f"{number}. <strong>{_e(indicator.get('rule'))}</strong>",
        f' <span class="title">{title}</span>' if title else "",
        f"<br>{' · '.join(part for part in about if part)}",
        f"<br>Source: {html.escape(where_text(indicator))}",
        f"<br>Detail: {detail}" if detail else "",
        f"<br><em>{html.escape(ATTEMPT_NOTE)}</em>" if attempt else "",
        # Evidence keeps its lines; html.escape makes every <, >, & and quote inert text.
        f'<pre class="evidence"><code>{html.escape(evidence)}</code></pre>' if evidence else "",
        "</div>",
    ]
    return "".join(parts)


def _indicators(host: dict[str, Any]) -> str:
    indicators = indicators_of(host)
    if not indicators:
        if status_of(host) != "ok" and hunt_status(host) != "done":
            found = "none — the host was not assessed"
        elif hunt_status(host) in ("done", "absent"):
            found = "none found"
        else:
            found = "none — the hunt did not run"
        return f"<h4>Indicators of compromise</h4><p>{found}.</p>"
    shown = indicators[:_MAX_FINDINGS_SHOWN]
    blocks = "".join(_indicator(number, i) for number, i in enumerate(shown, start=1))
    more = (f"<p>{len(indicators) - len(shown)} more finding(s) in report.json.</p>"
            if len(indicators) > len(shown) else "")
    return f"<h4>Indicators of compromise ({len(indicators)})</h4>{blocks}{more}"


def _exposure(hunt: dict[str, Any]) -> str:
    windows = [as_dict(w) for w in as_list(hunt.get("exposure"))]
    if not windows:
        return ""
    rows = []
    for window in windows:
        # A window the server was never open in has no meaningful dates, only its reason.
        exposed = window.get("exposed") is not False
        if not exposed:
            covered = "not exposed"
        else:
            covered = f"logs cover {percent_text(window.get('covered_percent'))} of the exposure window"
        cves = ", ".join(clean_text(cve) for cve in as_list(window.get("cves")))
        rows.append(
            f"<tr><td>{_e(window.get('attack'))}</td><td>{_e(cves)}</td>"
            f"<td>{_e(window.get('start') if exposed else None)}</td>"
            f"<td>{_e(window.get('end') if exposed else None)}</td>"
            f"<td>{_e(window.get('end_basis'), '')}</td><td>{html.escape(covered)}</td></tr>"
        )
    head = "<tr><th>Campaign</th><th>CVEs</th><th>Open from</th><th>Until</th><th>Why until then</th><th>Logs</th></tr>"
    return f"<h4>Exposure windows</h4><table>{head}{''.join(rows)}</table>"


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "—"


def _sources(hunt: dict[str, Any]) -> str:
    sources = as_dict(hunt.get("sources"))
    if not sources:
        return ""
    # Required streams first: they decide whether compromise can be ruled out.
    ordered = sorted(sources.items(), key=lambda item: (as_dict(item[1]).get("required") is not True, str(item[0])))
    rows = []
    for name, raw in ordered:
        stats = as_dict(raw)
        present = stats.get("present") is True
        warnings = "; ".join(clean_text(w) for w in as_list(stats.get("warnings")))
        # A required source that is missing or capped is why compromise stays unknown: mark it.
        missing = _UNKNOWN_CSS if stats.get("required") and not present else ""
        capped = stats.get("capped") is True
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{yes_no(stats.get('required'))}</td>"
            f"<td{missing}>{yes_no(present)}</td>"
            f'<td class="num">{_count(stats.get("files"))}</td><td class="num">{_count(stats.get("lines"))}</td>'
            f"<td>{_e(stats.get('first'))}</td><td>{_e(stats.get('last'))}</td>"
            f"<td>{_e(warnings, '')}</td>"
            f"<td{_UNKNOWN_CSS if capped else ''}>{yes_no(capped)}</td></tr>"
        )
    head = ("<tr><th>Source</th><th>Required</th><th>Present</th><th>Files</th><th>Lines</th><th>First</th>"
            "<th>Last</th><th>Warnings</th><th>Capped</th></tr>")
    return f"<h4>Sources read</h4><table>{head}{''.join(rows)}</table>"


def _retention(hunt: dict[str, Any]) -> str:
    """How far back the logs reach against what the run required (hunt.retention, when present)."""
    if not isinstance(hunt.get("retention"), dict):
        return ""
    retention = as_dict(hunt.get("retention"))
    days, required = retention.get("days"), retention.get("required_days")
    short = retention.get("short") is True
    sources = ", ".join(clean_text(source) for source in as_list(retention.get("sources")))
    parts = [f"Logs reach back <strong>{_e(days)} days</strong>"]
    if required not in (None, ""):
        parts.append(f" (required: {_e(required)} days)")
    parts.append(f", from {_e(retention.get('logs_from'))} to {_e(retention.get('measured_to'))}")
    if sources:
        parts.append(f"; shortest: {_e(sources)}")
    verdict = (" — <strong>too short: the hunt could not see anything older</strong>" if short
               else " — long enough")
    css = "retention retention-short" if short else "retention"
    return f'<p class="{css}">{"".join(parts)}{verdict}.</p>'


def _compromise(host: dict[str, Any]) -> str:
    verdict = compromised_of(host)
    hunt = hunt_of(host)
    status = hunt_status(host)
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in compromise_reasons(host))
    facts = [HUNT_STATUS_TEXT[status]]
    if isinstance(hunt.get("rules"), int) and hunt.get("rules"):
        facts.append(f"{_count(hunt.get('rules'))} rules")
    total, shown = hunt.get("findings_total"), hunt.get("findings_shown")
    if isinstance(total, int) and isinstance(shown, int) and total > shown:
        facts.append(f"{shown} of {total} findings kept (the rest were beyond the per-rule limit)")
    if hunt.get("error"):
        facts.append(f"error: {_e(hunt.get('error'))}")
    excluded = as_dict(hunt.get("excluded"))
    dropped = ", ".join(f"{clean_text(rule)} {_count(count)}"
                        for rule, count in sorted(excluded.items(), key=lambda item: str(item[0])))
    if dropped:
        facts.append(f"dropped as known false positives: {html.escape(dropped)}")
    warnings = "".join(f"<li>{_e(w)}</li>" for w in as_list(hunt.get("warnings")))
    coverage = coverage_text(host)
    coverage = f"<p>{html.escape(coverage[:1].upper() + coverage[1:])}.</p>" if status != "absent" else ""
    return (
        "<h3>Compromise</h3>"
        f'<p>Compromised: <span class="badge c-{verdict}">{verdict}</span> · '
        f"Findings: {html.escape(findings_text(host))}</p>"
        f'<ul class="reasons">{reasons}</ul>'
        f"{coverage}"
        f'<p class="meta">{" · ".join(facts)}</p>'
        + (f"<p>Hunt warnings:</p><ul>{warnings}</ul>" if warnings else "")
        + f"{_retention(hunt)}{_exposure(hunt)}{_sources(hunt)}{_indicators(host)}"
    )


def _next_step(host: dict[str, Any]) -> str:
    step = as_dict(host.get("next_step"))
    labels = (("target CU", "target_cu"), ("target SU", "target_su"), ("target build", "target_build"))
    targets = [f"{label}: {_e(step.get(key))}" for label, key in labels if step.get(key)]
    extra = f"<p class=\"meta\">Action: {_e(step.get('action'))}; {'; '.join(targets)}</p>" if targets else ""
    return f"<h3>Next step</h3><p>{_e(next_step_text(host))}</p>{extra}"


def _state_badge(remediation: dict[str, Any]) -> str:
    state = remediation_state(remediation)
    return f'<span class="badge rs-{state}">{REMEDIATION_STATE_TEXT.get(state, "unknown")}</span>'


def _remediation_counts(report: dict[str, Any], remediation: dict[str, Any]) -> str:
    counts = remediation_counts(report)
    summary = as_dict(remediation.get("summary"))
    cells = [(text.capitalize(), str(counts[state]), f"rs-{state}" if counts[state] else "")
             for state, text in REMEDIATION_STATE_TEXT.items()]
    cells += [("Modelled window", html.escape(minutes_text(summary.get("modelled_window_minutes"))), ""),
              ("One server at a time", html.escape(minutes_text(summary.get("serial_window_minutes"))), "")]
    head = "".join(f"<th>{label}</th>" for label, _, _ in cells)
    body = "".join(f'<td class="num {css}">{value}</td>' for _, value, css in cells)
    return f"<table><tr>{head}</tr><tr>{body}</tr></table>"


def _wave_table(remediation: dict[str, Any], hosts: list[tuple[str, dict[str, Any]]]) -> str:
    waves = [as_list(wave) for wave in as_list(remediation.get("waves"))]
    if not waves:
        return "<h3>Waves</h3><p>No server to patch.</p>"
    minutes = as_list(remediation.get("wave_minutes"))
    anchors = {name: (index, host) for index, (name, host) in enumerate(hosts, start=1)}
    rows = []
    for number, wave in enumerate(waves, start=1):
        servers = []
        for server in wave:
            if isinstance(server, str) and server in anchors:
                index, host = anchors[server]
                badge = f" {_state_badge(host_remediation(host))}" if isinstance(host.get("remediation"), dict) else ""
                servers.append(f'<a href="#host-{index}">{_e(server)}</a>{badge}')
            else:
                servers.append(_e(server))
        wave_minutes = minutes[number - 1] if number <= len(minutes) else None
        rows.append(f'<tr><td class="num">{number}</td><td>{", ".join(servers)}</td>'
                    f'<td class="num">{count_text(wave_minutes)}</td></tr>')
    head = "<tr><th>Wave</th><th>Servers</th><th>Modelled minutes</th></tr>"
    return f"<h3>Waves</h3><table>{head}{''.join(rows)}</table>"


def _ad_preparation(remediation: dict[str, Any]) -> str:
    facts = "".join(f"<dt>{html.escape(label)}</dt><dd>{html.escape(text)}</dd>"
                    for label, text in ad_preparation_facts(remediation))
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in ad_preparation_reasons(remediation))
    return (f'<h3>Active Directory preparation</h3><dl class="facts">{facts}</dl>'
            + (f'<ul class="reasons">{reasons}</ul>' if reasons else ""))


def _remediation_rows(hosts: list[tuple[str, dict[str, Any]]]) -> str:
    rows = []
    for index, (name, host) in enumerate(hosts, start=1):
        if not isinstance(host.get("remediation"), dict):
            continue
        remediation = host_remediation(host)
        wave = wave_of(remediation)
        rows.append(
            f'<tr><td><a href="#host-{index}">{_e(name)}</a></td><td>{_state_badge(remediation)}</td>'
            f'<td class="num">{wave if wave is not None else "—"}</td>'
            f"<td>{html.escape(change_text(remediation))}</td>"
            f"<td>{_remediation_problem(remediation)}</td></tr>"
        )
    head = "<tr><th>Host</th><th>State</th><th>Wave</th><th>Before → after</th><th>Reason</th></tr>"
    return f"<h3>Servers</h3><table>{head}{''.join(rows)}</table>"


def _remediation_problem(remediation: dict[str, Any]) -> str:
    parts = []
    if remediation.get("reason"):
        parts.append(_e(remediation.get("reason")))
    if remediation.get("failed_step"):
        parts.append(f"failed step: <code>{_e(remediation.get('failed_step'))}</code>")
    if remediation.get("setup_log"):
        parts.append(f"setup log: <code>{_e(remediation.get('setup_log'))}</code>")
    if remediation.get("maintenance_exited") is False:
        parts.append("<strong>left in maintenance mode</strong>")
    return "; ".join(parts)


def _remediation_section(report: dict[str, Any], hosts: list[tuple[str, dict[str, Any]]]) -> str:
    """Near the top of a remediation run's page: counts, why the rollout stopped, waves, AD
    preparation and each server's before and after."""
    remediation = remediation_of(report)
    if remediation is None:
        return ""
    stopped = rollout_text(report)
    banner = ""
    if stopped:
        banner = f'<p class="banner"><strong>{html.escape(stopped[:1].upper() + stopped[1:])}.</strong></p>'
    generated = remediation.get("plan_generated_at")
    meta = f'<p class="meta">Plan generated at {_e(generated)}</p>' if generated else ""
    return (f'<section id="remediation"><h2>Remediation</h2>{meta}{banner}'
            f"{_remediation_counts(report, remediation)}{_wave_table(remediation, hosts)}"
            f"{_ad_preparation(remediation)}{_remediation_rows(hosts)}</section>")


def _host_remediation(host: dict[str, Any]) -> str:
    """A server's remediation: state, wave, before -> after, and why it failed or was held back."""
    if not isinstance(host.get("remediation"), dict):
        return ""
    remediation = host_remediation(host)
    wave = wave_of(remediation)
    facts = [
        ("Before → after", html.escape(change_text(remediation))),
        ("Reason", _e(remediation.get("reason"), "")),
        ("Failed step", _e(remediation.get("failed_step"), "")),
        ("Setup log", f"<code>{_e(remediation.get('setup_log'))}</code>" if remediation.get("setup_log") else ""),
        ("Maintenance mode exited", yes_no(remediation.get("maintenance_exited"))
         if isinstance(remediation.get("maintenance_exited"), bool) else ""),
        ("Steps", _e(", ".join(clean_text(step) for step in as_list(remediation.get("steps"))), "")),
    ]
    items = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts if value)
    return (f"<h3>Remediation</h3><p>{_state_badge(remediation)}"
            f"{f' · wave {wave}' if wave is not None else ''}</p>"
            f'<dl class="facts">{items}</dl>')


def _host_section(index: int, name: str, host: dict[str, Any]) -> str:
    status = status_of(host)
    vulnerable = yes_no(vulnerable_of(host))
    compromised = compromised_of(host)
    banner = ""
    if status != "ok":
        banner = (
            f'<p class="banner"><strong>{NOT_ASSESSED.capitalize()}.</strong> '
            f"Reason: {_e(host.get('error'), 'no reason given')}</p>"
        )
    return (
        f'<section class="host" id="host-{index}">'
        f'<h2>{_e(name)} {_status_badge(host)} '
        f'<span class="badge status-{status}">{"assessed" if status == "ok" else "not assessed"}</span></h2>'
        f"{banner}"
        f'<p>Vulnerable: <span class="badge v-{vulnerable}">{vulnerable}</span> · '
        f'Compromised: <span class="badge c-{compromised}">{compromised}</span> · '
        f"Open CVEs: {html.escape(open_cves_text(host))}</p>"
        f"{_facts(host)}{_host_remediation(host)}{_next_step(host)}{_compromise(host)}{_warnings(host)}{_cve_table(host)}"
        "</section>"
    )


def _run_line(report: dict[str, Any]) -> str:
    run = as_dict(report.get("run"))
    parts = [f"Generated at {_e(report.get('generated_at'))}"]
    if run.get("playbook"):
        parts.append(f"playbook {_e(run.get('playbook'))}")
    if isinstance(run.get("check_mode"), bool):
        parts.append(f"check mode {yes_no(run.get('check_mode'))}")
    if run.get("ansible_version"):
        parts.append(f"Ansible {_e(run.get('ansible_version'))}")
    return f'<p class="meta">{" · ".join(parts)}</p>'


_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)), *(f"lpt{n}" for n in range(1, 10))}
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_MAX_NAME = 100
_HASHED = re.compile(r"-[0-9a-f]{10}$")


def safe_page_name(host: str) -> str:
    """File name (without .html) of a server's page: lowercase, only [a-z0-9._-].

    A name that is already safe (lowercase, allowed characters, not starting with a dot, not a
    Windows device name such as "con", at most 100 characters, not ending in "-" and 10 hex
    digits) is kept as it is. Any other name
    is cleaned (disallowed characters become "_", cut at 100) and gets "-" and the first 10 hex
    digits of the SHA-256 of the original name appended. That is how collisions are resolved,
    deterministically and without knowing the rest of the report: "EX01", "ex 01" and "ex_01"
    become "ex01-<hash>", "ex_01-<hash>" and "ex_01". Why that never collides: a kept name is
    the inventory name itself and never ends in "-" + 10 hex digits (a name that does is hashed
    too), so it cannot equal a hashed one; two hashed names are equal only if their originals'
    SHA-256 prefixes are (2^-40 odds).
    """
    name = str(host)
    cleaned = "".join(char if char in _SAFE else "_" for char in name.lower())[:_MAX_NAME]
    if (cleaned == name and cleaned and not cleaned.startswith(".") and not _HASHED.search(cleaned)
            and cleaned.split(".")[0] not in _WINDOWS_RESERVED):
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    base = cleaned.lstrip(".") or "host"
    if base.split(".")[0] in _WINDOWS_RESERVED:
        base = f"_{base}"
    return f"{base}-{digest}"


def page_names(report: dict[str, Any]) -> dict[str, str]:
    """Inventory name -> page name for every server of the report (see safe_page_name)."""
    return {name: safe_page_name(name) for name, _ in sorted_hosts(as_dict(report))}


def _anchors(hosts: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    return {name: f"host-{index}" for index, (name, _) in enumerate(hosts, start=1)}


def _tiles(report: dict[str, Any]) -> str:
    counts = status_counts(report)
    hosts = len(sorted_hosts(report))
    tiles = [f'<div class="tile total"><span class="num" id="count-total">{hosts}</span>'
             f'<span class="label">servers</span></div>']
    for status in STATUSES:
        zero = " zero" if not counts[status] else ""
        tiles.append(f'<div class="tile ds-{status}{zero}" data-status="{status}">'
                     f'<span class="num" id="count-{status}">{counts[status]}</span>'
                     f'<span class="label">{status}</span></div>')
    return f'<section id="totals" class="tiles">{"".join(tiles)}</section>'


_HEADLINE = {
    "compromised": ("compromised server", "isolate and investigate"),
    "vulnerable": ("vulnerable server", "patch"),
    "unknown": ("server that could not be cleared", "collect its evidence again"),
}
_HEADLINE_NAMES = 5


def _headline(hosts: list[tuple[str, dict[str, Any]]]) -> str:
    """One sentence a manager can act on: what is wrong, where, and what to do."""
    anchors = _anchors(hosts)
    parts = []
    for status, (noun, action) in _HEADLINE.items():
        names = [name for name, host in hosts if server_status(host) == status]
        if not names:
            continue
        links = ", ".join(f'<a href="#{anchors[name]}">{_e(name)}</a>' for name in names[:_HEADLINE_NAMES])
        more = f" and {len(names) - _HEADLINE_NAMES} more" if len(names) > _HEADLINE_NAMES else ""
        plural = "s" if len(names) > 1 else ""
        parts.append(f'<span class="hl-{status}"><strong>{len(names)} {noun}{plural}</strong> ({links}{more}): '
                     f"{action}.</span>")
    if not parts:
        return '<p class="headline hl-clear">No server is compromised, vulnerable or unknown.</p>'
    return f'<p class="headline">{" ".join(parts)}</p>'



def _policy(report: dict[str, Any]) -> str:
    if not isinstance(report.get("policy"), dict):
        return ""
    policy = as_dict(report.get("policy"))
    failed = policy.get("failed") is True
    items = []
    for condition in (as_dict(item) for item in as_list(policy.get("conditions"))):
        if condition.get("enforced") is not True:
            state, css = "not enforced", "cond-quiet"
        elif condition.get("evaluated") is not True:
            state, css = "not evaluated", "cond-quiet"
        elif condition.get("triggered") is True:
            state, css = "FAILED", "cond-triggered"
        else:
            state, css = "passed", ""
        items.append(f'<li class="{css}"><strong>{_e(condition.get("name"))}</strong>: {state}'
                     f' — {_e(condition.get("summary"), "")}</li>')
    verdict = "Policy failed" if failed else "Policy passed"
    return (f'<section id="policy" class="policy policy-{"failed" if failed else "passed"}">'
            f"<h2>{verdict}</h2><p>{_e(policy.get('summary'), '')}</p>"
            f'<ul class="conditions">{"".join(items)}</ul></section>')


def _who(report: dict[str, Any], hosts: list[tuple[str, dict[str, Any]]]) -> str:
    """The servers behind each bar, worst first, so the chart answers "which ones?"."""
    anchors = _anchors(hosts)
    items = []
    for status in STATUSES:
        names = [name for name, host in hosts if server_status(host) == status]
        if not names:
            continue
        links = ", ".join(f'<a href="#{anchors[name]}">{_e(name)}</a>' for name in names[:30])
        more = f" and {len(names) - 30} more" if len(names) > 30 else ""
        items.append(f'<dt><span class="badge ds ds-{status}">{STATUS_LABELS[status]}</span></dt>'
                     f"<dd>{links}{more}</dd>")
    return f'<dl class="who">{"".join(items)}</dl>'


def _overview(report: dict[str, Any], hosts: list[tuple[str, dict[str, Any]]]) -> str:
    return (f'<div class="overview"><figure>{_status_chart_svg(status_counts(report))}</figure>'
            f"{_who(report, hosts)}</div>")


def _change_value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(clean_text(item) for item in value) or "none"
    return clean_text(value)


def _drift(report: dict[str, Any], anchors: dict[str, str]) -> str:
    if not isinstance(report.get("drift"), dict):
        return ""
    drift = as_dict(report.get("drift"))
    previous = drift.get("previous")
    if isinstance(previous, dict):
        meta = (f'<p class="meta">Compared with {_e(previous.get("path"))} '
                f'(generated at {_e(previous.get("generated_at"))})</p>')
    else:
        meta = '<p class="meta">No previous report: drift not checked.</p>'

    def link(name: object) -> str:
        anchor = anchors.get(str(name))
        return f'<a href="#{anchor}">{_e(name)}</a>' if anchor else _e(name)

    parts = [f'<section id="drift"><h2>Changes since the previous report</h2>{meta}',
             f"<p><strong>{_e(drift.get('summary'), 'no change')}</strong></p>"]
    for key, label in (("hosts_added", "Servers added"), ("hosts_gone", "Servers gone")):
        names = as_list(drift.get(key))
        if names:
            parts.append(f"<p>{label}: {', '.join(link(name) for name in names)}</p>")
    changes = [as_dict(item) for item in as_list(drift.get("changes"))]
    if changes:
        rows = "".join(
            f"<tr><td>{link(change.get('host'))}</td><td>{_e(str(change.get('kind') or '').replace('_', ' '))}</td>"
            f"<td>{html.escape(_change_value(change.get('before')))}</td>"
            f"<td>{html.escape(_change_value(change.get('after')))}</td><td>{_e(change.get('summary'), '')}</td></tr>"
            for change in changes)
        parts.append("<h3>Changed servers</h3><table><tr><th>Server</th><th>What</th><th>Before</th><th>After</th>"
                     f"<th>Summary</th></tr>{rows}</table>")
    new = [as_dict(item) for item in as_list(drift.get("new_indicators"))]
    total = drift.get("new_indicators_total")
    total = total if isinstance(total, int) and not isinstance(total, bool) else len(new)
    if new:
        rows = "".join(
            f"<tr><td>{link(item.get('host'))}</td><td>{_e(item.get('rule'))}</td>"
            f'<td class="sev-{severity_of(item)}">{severity_of(item)}</td>'
            f"<td>{html.escape(where_text(item))}</td><td>{_e(item.get('time'))}</td></tr>" for item in new)
        more = (f"<p>{total - len(new)} more new indicator(s) in report.json.</p>" if total > len(new) else "")
        parts.append(f"<h3>New indicators ({total})</h3><table><tr><th>Server</th><th>Rule</th><th>Severity</th>"
                     f"<th>Source</th><th>Time</th></tr>{rows}</table>{more}")
    parts.append("</section>")
    return "".join(parts)


def _exploitation_lines(rows: list[TimelineRow]) -> str:
    items = []
    for row in rows:
        window = row.exploitation()
        if window is None:
            continue
        serious = sum(1 for hit in row.hits if hit.severity in ("critical", "high") and not hit.attempt)
        items.append(f"<li><strong>{html.escape(row.name)}</strong> exploited from {time_text(window[0])} "
                     f"to {time_text(window[1])} ({duration_text(window[1] - window[0])}): "
                     f"{serious} critical/high hit(s)</li>")
    return f'<ul class="exploit">{"".join(items)}</ul>' if items else ""


def _no_hits_text(report: dict[str, Any], only: str | None) -> str:
    hosts = [host for name, host in sorted_hosts(report) if only is None or name == only]
    if any(indicators_of(host) for host in hosts):
        return "No indicator hits with a readable time: the findings are listed per server below."
    if not any(hunt_status(host) == "done" for host in hosts):
        return "No indicator hits — but no hunt ran, so this does not mean no compromise."
    return "No indicator hits: the hunt found nothing in the logs and files it read."


def _timeline(report: dict[str, Any], anchors: dict[str, str], only: str | None = None) -> str:
    rows = timeline_rows(report, anchors, only)
    picture = timeline_svg(rows)
    if not picture:
        body = f'<p class="no-hits">{html.escape(_no_hits_text(report, only))}</p>'
    else:
        hidden = timeline_hidden(rows)
        note = f"<p>{hidden} more server(s) with hits are not drawn; see their sections.</p>" if hidden else ""
        body = f"{_exploitation_lines(rows)}<figure>{picture}</figure>{note}"
    return f'<section id="timeline"><h2>Indicator timeline</h2>{body}</section>'


def _nav(report: dict[str, Any]) -> str:
    links = [("totals", "Totals"), ("summary", "Summary")]
    if isinstance(report.get("drift"), dict):
        links.append(("drift", "Changes"))
    links.append(("timeline", "Timeline"))
    if remediation_of(report) is not None:
        links.insert(1, ("remediation", "Remediation"))
    links.append(("servers", "Servers"))
    items = "".join(f'<a href="#{anchor}">{text}</a>' for anchor, text in links)
    return f'<nav class="sections">{items}</nav>'


def _head(title: str, report: dict[str, Any]) -> str:
    css = _CSS + (_REMEDIATION_CSS if remediation_of(report) is not None else "")
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{css}</style></head>")


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one self-contained HTML page: the dashboard, then a section per server."""
    report = as_dict(report)
    hosts = sorted_hosts(report)
    anchors = _anchors(hosts)
    pages = page_names(report)
    sections = "".join(_host_section(index, name, host) for index, (name, host) in enumerate(hosts, start=1))
    title = f"Exchange assessment — {_e(report.get('generated_at'))}"
    return (
        f"{_head(title, report)}<body>"
        f'<header class="top"><div><h1>Exchange assessment</h1>{_run_line(report)}</div></header>'
        f"{_tiles(report)}{_headline(hosts)}{_policy(report)}{_nav(report)}"
        f"{_remediation_section(report, hosts)}{_summary_section(report, _overview(report, hosts))}"
        f"{_drift(report, anchors)}{_timeline(report, anchors)}"
        f"{_servers_table(hosts, pages)}{sections}"
        "</body></html>\n"
    )


def _server_page(report: dict[str, Any], index: int, host: str, data: dict[str, Any]) -> str:
    # The page needs only its own server: a one-server view keeps each page's cost independent of
    # the estate's size (a page per server would otherwise make the pages quadratic in it).
    single = {**report, "hosts": {host: data}}
    anchors = {host: f"host-{index}"}
    return (
        f"{_head(f'{_e(host)} — Exchange assessment', report)}"
        '<body class="server-page">'
        '<nav class="back"><a href="../report.html">← Estate report</a></nav>'
        f'<header class="top"><div><h1>{_e(host)} {_status_badge(data)}</h1>{_run_line(report)}</div></header>'
        f"{_timeline(single, anchors, only=host)}{_host_section(index, host, data)}"
        "</body></html>\n"
    )


def render_server_page(report: dict[str, Any], host: str) -> str:
    """One server's section as a standalone page, meant to be written to
    servers/<safe_page_name(host)>.html beside report.html (hence the ../report.html link)."""
    report = as_dict(report)
    hosts = sorted_hosts(report)
    index = next((number for number, (name, _) in enumerate(hosts, start=1) if name == host), None)
    if index is None:
        raise KeyError(f"host {host!r} is not in the report")
    return _server_page(report, index, host, hosts[index - 1][1])


def render_server_pages(report: dict[str, Any]) -> dict[str, str]:
    """Every server's standalone page, by inventory name (render_server_page for each, sorted once)."""
    report = as_dict(report)
    return {name: _server_page(report, index, name, data)
            for index, (name, data) in enumerate(sorted_hosts(report), start=1)}
