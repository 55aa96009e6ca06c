"""summary.md for a report.json (format version 1): estate table and one section per host.

Untrusted text (host names, paths, log lines, user agents) is put on one line and every
character that Markdown or GitHub would interpret is backslash-escaped, so a value can
neither break a table cell (``|``), open a code span, link or image (`` ` `` ``[``), inject
HTML (``<``) nor start an entity (``&``) or math (``$``).

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

from typing import Any

from .report_table import (
    NOT_ASSESSED,
    as_dict,
    as_list,
    clean_text,
    compromised_of,
    cve_statuses,
    estate_counts,
    next_step_text,
    open_cves_text,
    sorted_hosts,
    status_of,
    su_text,
    vulnerable_of,
    yes_no,
)

# ASCII punctuation that CommonMark/GFM may interpret inline. Characters that only matter at
# the start of a line (-, +, digits) are left alone: untrusted text never starts a line here.
_SPECIAL = frozenset("\\`*_[]<>|~&$#!")
_STATUS_ORDER = {"vulnerable": 0, "unknown": 1, "mitigated": 2, "patched": 3, "not_applicable": 4}


def escape_md(value: object, missing: str = "—") -> str:
    """Untrusted value -> one line of inert Markdown text."""
    return "".join("\\" + char if char in _SPECIAL else char for char in clean_text(value, missing))


def _table(titles: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> list[str]:
    """GFM table; cells must already be escaped."""
    align = ["---:" if index in numeric else "---" for index in range(len(titles))]
    return ["| " + " | ".join(row) + " |" for row in [titles, align, *rows]]


def _summary(report: dict[str, Any]) -> list[str]:
    counts = estate_counts(report)
    titles = ["Hosts", "OK", "Error", "Vulnerable", "Compromised", "Compromise unknown", "Out of support"]
    keys = ["hosts", "ok", "error", "vulnerable", "compromised", "compromised_unknown", "unsupported"]
    row = [str(counts[key]) for key in keys]
    return ["## Estate summary", "", *_table(titles, [row], tuple(range(len(keys)))), ""]


def _servers(hosts: list[tuple[str, dict[str, Any]]]) -> list[str]:
    titles = ["Host", "Status", "Product", "CU", "SU", "Build", "Supported", "Latest", "Open CVEs",
              "Vulnerable", "Compromised", "Next step"]
    rows = []
    for name, host in hosts:
        exchange = as_dict(host.get("exchange"))
        if status_of(host) == "ok":
            next_step = escape_md(next_step_text(host))
        else:
            next_step = f"**{NOT_ASSESSED}**: {escape_md(host.get('error'), 'no reason given')}"
        rows.append([
            escape_md(name),
            status_of(host),
            escape_md(exchange.get("product")),
            escape_md(exchange.get("cu")),
            escape_md(su_text(exchange)),
            escape_md(exchange.get("build")),
            yes_no(exchange.get("supported")),
            yes_no(exchange.get("latest")),
            escape_md(open_cves_text(host)),
            yes_no(vulnerable_of(host)),
            compromised_of(host),
            next_step,
        ])
    return ["## Servers", "", *_table(titles, rows), ""]


def _facts(host: dict[str, Any]) -> list[str]:
    exchange = as_dict(host.get("exchange"))
    roles = ", ".join(clean_text(role) for role in as_list(exchange.get("roles")))
    edge = exchange.get("edge")
    facts = [
        ("Product", escape_md(exchange.get("product"))),
        ("CU", escape_md(exchange.get("cu"))),
        ("SU", escape_md(su_text(exchange))),
        ("Build", escape_md(exchange.get("build"))),
        ("Build note", escape_md(exchange.get("build_note"), "")),
        ("Supported", yes_no(exchange.get("supported"))),
        ("Latest", yes_no(exchange.get("latest"))),
        ("Support ends", escape_md(exchange.get("support_end"))),
        ("Roles", escape_md(roles)),
        ("Edge Transport", yes_no(edge) if isinstance(edge, bool) else ""),
        ("DAG", escape_md(exchange.get("dag"), "")),
        ("AD site", escape_md(exchange.get("site"), "")),
        ("Hostname", escape_md(host.get("hostname"), "")),
        ("FQDN", escape_md(host.get("fqdn"), "")),
        ("Source", escape_md(host.get("source"), "")),
        ("Evidence folder", escape_md(host.get("evidence_dir"), "")),
        ("Collected at", escape_md(host.get("collected_at"), "")),
    ]
    return [f"- {label}: {value}" for label, value in facts if value] + [""]


def _cves(host: dict[str, Any]) -> list[str]:
    statuses = cve_statuses(host)
    if not statuses:
        return ["### CVEs", "", "No CVE was evaluated.", ""]
    details = as_dict(host.get("cve_details"))
    rows = []
    # A table row per CVE that needs attention; patched and not-applicable ones are counted and
    # listed in one line, or a large estate's summary would be thousands of "patched" rows.
    for cve, status in sorted(statuses.items(), key=lambda item: (_STATUS_ORDER.get(item[1], 0), item[0])):
        if status in ("patched", "not_applicable"):
            continue
        detail = as_dict(details.get(cve))
        # Bold the statuses that need action so they stand out in a plain-text viewer too.
        shown = f"**{escape_md(status)}**" if status != "mitigated" else status
        rows.append([escape_md(cve), shown, escape_md(detail.get("fixed_by"), ""),
                     escape_md(detail.get("reason"), "")])
    patched = sorted(cve for cve, status in statuses.items() if status == "patched")
    not_applicable = sum(1 for status in statuses.values() if status == "not_applicable")
    lines = ["### CVEs", ""]
    if rows:
        lines += [*_table(["CVE", "Status", "Fixed by", "Reason"], rows), ""]
    lines += [f"Patched ({len(patched)}): {escape_md(', '.join(patched), 'none')}", "",
              f"Not applicable to this product: {not_applicable}", ""]
    return lines


def _warnings(host: dict[str, Any]) -> list[str]:
    warnings = [as_dict(w) for w in as_list(host.get("warnings"))]
    if not warnings:
        return []
    items = [f"- **{escape_md(w.get('code'))}**: {escape_md(w.get('message'), '')}" for w in warnings]
    return ["### Warnings", "", *items, ""]


def _indicators(host: dict[str, Any]) -> list[str]:
    indicators = [as_dict(i) for i in as_list(host.get("indicators"))]
    if not indicators:
        found = "None found." if status_of(host) == "ok" else "None — the host was not assessed."
        return ["### Indicators of compromise", "", found, ""]
    rows = []
    for indicator in indicators:
        line = indicator.get("line")
        rows.append([
            escape_md(indicator.get("severity"), "unknown"),
            escape_md(indicator.get("rule")),
            escape_md(indicator.get("cve"), "no CVE"),
            escape_md(indicator.get("source")),
            str(line) if isinstance(line, int) and not isinstance(line, bool) else "—",
            escape_md(indicator.get("time")),
            escape_md(indicator.get("detail"), ""),
        ])
    titles = ["Severity", "Rule", "CVE", "Source", "Line", "Time", "Evidence"]
    return [f"### Indicators of compromise ({len(indicators)})", "", *_table(titles, rows, (4,)), ""]


def _host(name: str, host: dict[str, Any]) -> list[str]:
    lines = [f"## {escape_md(name)}", ""]
    if status_of(host) != "ok":
        reason = escape_md(host.get("error"), "no reason given")
        lines += [f"**{NOT_ASSESSED.capitalize()}.** Reason: {reason}", ""]
    lines += [
        f"Status: {status_of(host)} · Vulnerable: {yes_no(vulnerable_of(host))} · "
        f"Compromised: {compromised_of(host)} · Open CVEs: {escape_md(open_cves_text(host))}",
        "",
    ]
    lines += _facts(host) + _cves(host) + _warnings(host) + _indicators(host)
    lines += ["### Next step", "", escape_md(next_step_text(host)), ""]
    return lines


def _run_line(report: dict[str, Any]) -> str:
    run = as_dict(report.get("run"))
    parts = [f"Generated at {escape_md(report.get('generated_at'))}"]
    if run.get("playbook"):
        parts.append(f"playbook {escape_md(run.get('playbook'))}")
    if isinstance(run.get("check_mode"), bool):
        parts.append(f"check mode {yes_no(run.get('check_mode'))}")
    if run.get("ansible_version"):
        parts.append(f"Ansible {escape_md(run.get('ansible_version'))}")
    return " · ".join(parts)


def render_markdown(report: dict[str, Any]) -> str:
    """summary.md: run line, estate counts, server table, then one section per host."""
    report = as_dict(report)
    hosts = sorted_hosts(report)
    lines = ["# Exchange assessment", "", _run_line(report), ""]
    lines += _summary(report) + _servers(hosts)
    for name, host in hosts:
        lines += _host(name, host)
    return "\n".join(lines).rstrip("\n") + "\n"
