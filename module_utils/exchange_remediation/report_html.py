"""HTML page for a report.json (format version 1).

One self-contained file: inline CSS, no script, no external asset, so it can be mailed,
archived with the evidence and printed. Every value taken from the report goes through
``_e`` (clean_text + html.escape): host names, paths, log lines and user agents come from
servers that may be under an attacker's control. A finding's evidence (a raw log line, event or
file summary, up to 2000 characters of attacker-chosen text) keeps its lines in a
``<pre><code>`` block, through clean_block + html.escape.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import html
from typing import Any

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
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.host { break-before: page; }
  tr, .indicator, dl.facts { break-inside: avoid; }
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


def _summary_section(report: dict[str, Any]) -> str:
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
    return f'<section id="summary"><h2>Estate summary</h2>{table}</section>'


def _servers_table(hosts: list[tuple[str, dict[str, Any]]]) -> str:
    titles = ("Host", "Status", "Product", "CU", "SU", "Build", "Supported", "Latest", "Open CVEs",
              "Vulnerable", "Compromised", "Findings", "Next step")
    rows = []
    for index, (name, host) in enumerate(hosts, start=1):
        exchange = as_dict(host.get("exchange"))
        status = status_of(host)
        vulnerable = yes_no(vulnerable_of(host))
        compromised = compromised_of(host)
        if status == "ok":
            next_step = _e(next_step_text(host))
        else:
            next_step = f"<strong>{NOT_ASSESSED}</strong>: {_e(host.get('error'), 'no reason given')}"
        rows.append(
            "<tr>"
            f'<td><a href="#host-{index}">{_e(name)}</a></td>'
            f'<td class="status-{status}">{status}</td>'
            f"<td>{_e(exchange.get('product'))}</td>"
            f"<td>{_e(exchange.get('cu'))}</td>"
            f"<td>{html.escape(su_text(exchange))}</td>"
            f"<td>{_e(exchange.get('build'))}</td>"
            f"<td>{yes_no(exchange.get('supported'))}</td>"
            f"<td>{yes_no(exchange.get('latest'))}</td>"
            f'<td class="num">{html.escape(open_cves_text(host))}</td>'
            f'<td class="v-{vulnerable}">{vulnerable}</td>'
            f'<td class="c-{compromised}">{compromised}</td>'
            f"<td>{html.escape(findings_text(host))}</td>"
            f"<td>{next_step}</td>"
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
        + f"{_exposure(hunt)}{_sources(hunt)}{_indicators(host)}"
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
        f'<h2>{_e(name)} <span class="badge status-{status}">{status}</span></h2>'
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


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one self-contained HTML page."""
    report = as_dict(report)
    hosts = sorted_hosts(report)
    sections = "".join(_host_section(index, name, host) for index, (name, host) in enumerate(hosts, start=1))
    css = _CSS + (_REMEDIATION_CSS if remediation_of(report) is not None else "")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Exchange assessment — {_e(report.get('generated_at'))}</title>"
        f"<style>{css}</style></head><body>"
        f"<header><h1>Exchange assessment</h1>{_run_line(report)}</header>"
        f"{_remediation_section(report, hosts)}{_summary_section(report)}{_servers_table(hosts)}{sections}"
        "</body></html>\n"
    )
