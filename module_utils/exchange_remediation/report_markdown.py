"""summary.md for a report.json (format version 1): estate table and one section per host.

Untrusted text (host names, paths, log lines, user agents) is put on one line and every
character that Markdown or GitHub would interpret is backslash-escaped, so a value can
neither break a table cell (``|``), open a code span, link or image (`` ` `` ``[``), inject
HTML (``<``) nor start an entity (``&``) or math (``$``). The evidence of a finding (a raw log
line, which may hold a web shell's markup) is shown as written, in a fenced code block whose
fence its content cannot close (code_block).

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from .report_table import (
    ATTEMPT_NOTE,
    HUNT_STATUS_TEXT,
    NOT_ASSESSED,
    POLICY_RESULT_TEXT,
    REMEDIATION_STATE_TEXT,
    ad_preparation_facts,
    ad_preparation_reasons,
    as_dict,
    as_list,
    change_text,
    clean_text,
    compromise_reasons,
    compromised_of,
    condition_result,
    count_text,
    coverage_text,
    cve_statuses,
    cves_of,
    drift_changes,
    drift_of,
    drift_previous_text,
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
    policy_conditions,
    policy_line,
    policy_of,
    remediation_counts,
    remediation_of,
    remediation_state_text,
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

# ASCII punctuation that CommonMark/GFM may interpret inline. Characters that only matter at
# the start of a line (-, +, digits) are left alone: untrusted text never starts a line here.
_SPECIAL = frozenset("\\`*_[]<>|~&$#!")
_STATUS_ORDER = {"vulnerable": 0, "unknown": 1, "mitigated": 2, "patched": 3, "not_applicable": 4}
_MAX_FINDINGS_SHOWN = 500  # per host, worst first; the rest are in report.json
_BACKTICK_RUNS = re.compile("`+")


def escape_md(value: object, missing: str = "—") -> str:
    """Untrusted value -> one line of inert Markdown text."""
    return "".join("\\" + char if char in _SPECIAL else char for char in clean_text(value, missing))


def code_block(text: str) -> list[str]:
    """A fenced code block that its content cannot close: the fence is one backtick longer than
    the longest run of backticks in the text (CommonMark closes a fence only with a run at least
    as long), so a log line holding ``` or ```` stays inside. text must already be cleaned."""
    longest = max((len(run) for run in _BACKTICK_RUNS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *text.split("\n"), fence]


def _table(titles: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> list[str]:
    """GFM table; cells must already be escaped."""
    align = ["---:" if index in numeric else "---" for index in range(len(titles))]
    return ["| " + " | ".join(row) + " |" for row in [titles, align, *rows]]


def _summary(report: dict[str, Any]) -> list[str]:
    counts = estate_counts(report)
    titles = ["Hosts", "OK", "Error", "Vulnerable", "Compromised", "Compromise unknown", "Compromise ruled out",
              "Out of support", "Critical findings", "High findings", "Medium findings", "Low findings", "Attempts"]
    keys = ["hosts", "ok", "error", "vulnerable", "compromised", "compromised_unknown", "compromised_no",
            "unsupported", "indicators_critical", "indicators_high", "indicators_medium", "indicators_low",
            "indicators_attempt"]
    row = [str(counts[key]) for key in keys]
    return ["## Estate summary", "", *_table(titles, [row], tuple(range(len(keys)))), ""]


def _servers(hosts: list[tuple[str, dict[str, Any]]]) -> list[str]:
    titles = ["Host", "Status", "Product", "CU", "SU", "Build", "Supported", "Latest", "Open CVEs",
              "Vulnerable", "Compromised", "Findings", "Next step"]
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
            escape_md(findings_text(host)),
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


def _finding(number: int, indicator: dict[str, Any]) -> list[str]:
    severity = severity_of(indicator)
    heading = f"#### {number}. {severity} · {escape_md(indicator.get('rule'))}"
    title = escape_md(indicator.get("title"), "")
    if title:
        heading += f" — {title}"
    if is_attempt(indicator):
        heading += " (attempt)"
    about = [escape_md(indicator.get("attack"), ""), escape_md(", ".join(cves_of(indicator)), "no CVE")]
    lines = [heading, "", f"- Campaign: {' · '.join(part for part in about if part)}",
             f"- Time: {escape_md(indicator.get('time'), 'unknown')}",
             f"- Source: {escape_md(where_text(indicator))}"]
    detail = escape_md(indicator.get("detail"), "")
    if detail:
        lines.append(f"- Detail: {detail}")
    if is_attempt(indicator):
        lines.append(f"- **{escape_md(ATTEMPT_NOTE)}**")
    evidence = evidence_text(indicator)
    lines.append("")
    if evidence:
        lines += ["Evidence:", "", *code_block(evidence), ""]
    return lines


def _findings(host: dict[str, Any]) -> list[str]:
    indicators = indicators_of(host)
    if not indicators:
        if status_of(host) != "ok" and hunt_status(host) != "done":
            found = "None — the host was not assessed."
        elif hunt_status(host) in ("done", "absent"):
            found = "None found."
        else:
            found = "None — the hunt did not run."
        return ["### Indicators of compromise", "", found, ""]
    lines = [f"### Indicators of compromise ({len(indicators)})", ""]
    for number, indicator in enumerate(indicators[:_MAX_FINDINGS_SHOWN], start=1):
        lines += _finding(number, indicator)
    if len(indicators) > _MAX_FINDINGS_SHOWN:
        lines += [f"{len(indicators) - _MAX_FINDINGS_SHOWN} more finding(s) in report.json.", ""]
    return lines


def _exposure(hunt: dict[str, Any]) -> list[str]:
    rows = []
    for window in (as_dict(w) for w in as_list(hunt.get("exposure"))):
        covered = ("not exposed" if window.get("exposed") is False
                   else f"logs cover {percent_text(window.get('covered_percent'))} of the exposure window")
        cves = ", ".join(clean_text(cve) for cve in as_list(window.get("cves")))
        # A window the server was never open in has no meaningful dates, only its reason.
        exposed = window.get("exposed") is not False
        rows.append([escape_md(window.get("attack")), escape_md(cves),
                     escape_md(window.get("start") if exposed else None),
                     escape_md(window.get("end") if exposed else None),
                     escape_md(window.get("end_basis"), ""), escape_md(covered)])
    if not rows:
        return []
    titles = ["Campaign", "CVEs", "Open from", "Until", "Why until then", "Logs"]
    return ["Exposure windows:", "", *_table(titles, rows), ""]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "—"


def _sources(hunt: dict[str, Any]) -> list[str]:
    sources = as_dict(hunt.get("sources"))
    ordered = sorted(sources.items(), key=lambda item: (as_dict(item[1]).get("required") is not True, str(item[0])))
    rows = []
    for name, raw in ordered:
        stats = as_dict(raw)
        warnings = "; ".join(clean_text(w) for w in as_list(stats.get("warnings")))
        rows.append([escape_md(name), yes_no(stats.get("required")), yes_no(stats.get("present") is True),
                     _count(stats.get("files")), _count(stats.get("lines")), escape_md(stats.get("first")),
                     escape_md(stats.get("last")), escape_md(warnings, ""), yes_no(stats.get("capped") is True)])
    if not rows:
        return []
    titles = ["Source", "Required", "Present", "Files", "Lines", "First", "Last", "Warnings", "Capped"]
    return ["Sources read:", "", *_table(titles, rows, (3, 4)), ""]


def _compromise(host: dict[str, Any]) -> list[str]:
    hunt = hunt_of(host)
    status = hunt_status(host)
    lines = ["### Compromise", "",
             f"Compromised: **{compromised_of(host)}** · Findings: {escape_md(findings_text(host))}", ""]
    lines += [f"- {escape_md(reason)}" for reason in compromise_reasons(host)] + [""]
    if status != "absent":
        lines += [escape_md(_sentence(coverage_text(host))) + ".", ""]
    facts = [HUNT_STATUS_TEXT[status]]
    if isinstance(hunt.get("rules"), int) and hunt.get("rules"):
        facts.append(f"{_count(hunt.get('rules'))} rules")
    total, shown = hunt.get("findings_total"), hunt.get("findings_shown")
    if isinstance(total, int) and isinstance(shown, int) and total > shown:
        facts.append(f"{shown} of {total} findings kept (the rest were beyond the per-rule limit)")
    if hunt.get("error"):
        facts.append(f"error: {escape_md(hunt.get('error'))}")
    excluded = as_dict(hunt.get("excluded"))
    dropped = ", ".join(f"{clean_text(rule)} {_count(count)}"
                        for rule, count in sorted(excluded.items(), key=lambda item: str(item[0])))
    if dropped:
        facts.append(f"dropped as known false positives: {escape_md(dropped)}")
    lines += [_sentence(" · ".join(facts)), ""]
    warnings = [f"- {escape_md(w)}" for w in as_list(hunt.get("warnings"))]
    if warnings:
        lines += ["Hunt warnings:", "", *warnings, ""]
    return lines + _exposure(hunt) + _sources(hunt) + _findings(host)


def _remediation_problem(remediation: dict[str, Any]) -> str:
    parts = []
    if remediation.get("reason"):
        parts.append(escape_md(remediation.get("reason")))
    if remediation.get("failed_step"):
        parts.append(f"failed step: {escape_md(remediation.get('failed_step'))}")
    if remediation.get("setup_log"):
        parts.append(f"setup log: {escape_md(remediation.get('setup_log'))}")
    if remediation.get("maintenance_exited") is False:
        parts.append("**left in maintenance mode**")
    return "; ".join(parts)


def _waves(remediation: dict[str, Any], hosts: list[tuple[str, dict[str, Any]]]) -> list[str]:
    waves = [as_list(wave) for wave in as_list(remediation.get("waves"))]
    if not waves:
        return ["### Waves", "", "No server to patch.", ""]
    minutes = as_list(remediation.get("wave_minutes"))
    by_name = dict(hosts)
    rows = []
    for number, wave in enumerate(waves, start=1):
        servers = []
        for server in wave:
            host = by_name.get(server) if isinstance(server, str) else None
            state = (f" ({remediation_state_text(host_remediation(host))})"
                     if host is not None and isinstance(host.get("remediation"), dict) else "")
            servers.append(escape_md(server) + state)
        wave_minutes = minutes[number - 1] if number <= len(minutes) else None
        rows.append([str(number), ", ".join(servers), count_text(wave_minutes)])
    return ["### Waves", "", *_table(["Wave", "Servers", "Modelled minutes"], rows, (0, 2)), ""]


def _remediation(report: dict[str, Any], hosts: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """A remediation run's overview: counts, why the rollout stopped, waves, AD preparation and
    each server's before and after."""
    remediation = remediation_of(report)
    if remediation is None:
        return []
    lines = ["## Remediation", ""]
    if remediation.get("plan_generated_at"):
        lines += [f"Plan generated at {escape_md(remediation.get('plan_generated_at'))}", ""]
    stopped = rollout_text(report)
    if stopped:
        lines += [f"**{escape_md(stopped[:1].upper() + stopped[1:])}.**", ""]
    counts = remediation_counts(report)
    summary = as_dict(remediation.get("summary"))
    titles = [text.capitalize() for text in REMEDIATION_STATE_TEXT.values()] + ["Modelled window",
                                                                               "One server at a time"]
    row = [str(counts[state]) for state in REMEDIATION_STATE_TEXT]
    row += [escape_md(minutes_text(summary.get("modelled_window_minutes"))),
            escape_md(minutes_text(summary.get("serial_window_minutes")))]
    lines += [*_table(titles, [row], tuple(range(len(titles)))), ""]
    lines += _waves(remediation, hosts)
    lines += ["### Active Directory preparation", ""]
    lines += [f"- {label}: {escape_md(text)}" for label, text in ad_preparation_facts(remediation)]
    reasons = ad_preparation_reasons(remediation)
    if reasons:
        lines += ["- Reasons:", *(f"  - {escape_md(reason)}" for reason in reasons)]
    lines.append("")
    rows = []
    for name, host in hosts:
        if not isinstance(host.get("remediation"), dict):
            continue
        entry = host_remediation(host)
        wave = wave_of(entry)
        rows.append([escape_md(name), remediation_state_text(entry), str(wave) if wave is not None else "—",
                     escape_md(change_text(entry)), _remediation_problem(entry)])
    lines += ["### Remediation by server", "",
              *_table(["Host", "State", "Wave", "Before → after", "Reason"], rows, (2,)), ""]
    return lines


def _host_remediation(host: dict[str, Any]) -> list[str]:
    if not isinstance(host.get("remediation"), dict):
        return []
    entry = host_remediation(host)
    wave = wave_of(entry)
    head = f"State: **{remediation_state_text(entry)}**" + (f" · Wave: {wave}" if wave is not None else "")
    lines = ["### Remediation", "", head, "", f"- Before → after: {escape_md(change_text(entry))}"]
    for label, key in (("Reason", "reason"), ("Failed step", "failed_step"), ("Setup log", "setup_log")):
        if entry.get(key):
            lines.append(f"- {label}: {escape_md(entry.get(key))}")
    if isinstance(entry.get("maintenance_exited"), bool):
        lines.append(f"- Maintenance mode exited: {yes_no(entry.get('maintenance_exited'))}")
    steps = ", ".join(clean_text(step) for step in as_list(entry.get("steps")))
    if steps:
        lines.append(f"- Steps: {escape_md(steps)}")
    return [*lines, ""]


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
    # What was done, what to do and whether it was breached come before the long CVE list.
    lines += _facts(host)
    lines += _host_remediation(host)
    lines += ["### Next step", "", escape_md(next_step_text(host)), ""]
    lines += _compromise(host) + _warnings(host) + _cves(host)
    return lines


def _policy(report: dict[str, Any]) -> list[str]:
    """A nightly run's policy: the outcome first, then every condition and its servers."""
    policy = policy_of(report)
    if policy is None:
        return []
    rows = []
    for condition in policy_conditions(policy):
        result = POLICY_RESULT_TEXT[condition_result(condition)]
        if condition_result(condition) == "failed" and condition.get("enforced") is True:
            result = f"**{result}**"
        rows.append([escape_md(condition.get("name")), yes_no(condition.get("enforced")), result,
                     escape_md(condition.get("summary"), "")])
    return ["## Policy", "", f"**{escape_md(policy_line(policy))}**", "",
            *_table(["Condition", "Enforced", "Result", "Summary"], rows), ""]


def _drift(report: dict[str, Any]) -> list[str]:
    """What changed since the previous report: servers added and gone, changes, new findings."""
    drift = drift_of(report)
    if drift is None:
        return []
    lines = ["## Changes since the previous report", "", f"Compared with {escape_md(drift_previous_text(drift))}.",
             "", f"**{escape_md(_sentence(clean_text(drift.get('summary'), 'no summary')))}**", ""]
    for label, key in (("Servers added", "hosts_added"), ("Servers gone", "hosts_gone")):
        names = ", ".join(clean_text(name) for name in as_list(drift.get(key)))
        if names:
            lines.append(f"- {label}: {escape_md(names)}")
    if lines[-1] != "":
        lines.append("")
    rows = [[escape_md(change.get("host")), escape_md(change.get("kind")), escape_md(change.get("summary"), "")]
            for change in drift_changes(drift)]
    if rows:
        lines += [*_table(["Host", "Change", "What"], rows), ""]
    new = [as_dict(indicator) for indicator in as_list(drift.get("new_indicators"))]
    if new:
        total = drift.get("new_indicators_total")
        heading = f"### New indicators ({count_text(total)})"
        rows = [[escape_md(i.get("host")), escape_md(i.get("severity")), escape_md(i.get("rule")),
                 escape_md(i.get("time"), "unknown"), escape_md(where_text(i))] for i in new]
        lines += [heading, "", *_table(["Host", "Severity", "Rule", "Time", "Source"], rows), ""]
        if isinstance(total, int) and total > len(new):
            lines += [f"The first {len(new)} are listed; all are in each server's section.", ""]
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
    """summary.md: run line, the policy and the changes since the previous report (nightly runs),
    the remediation (with a plan), estate counts, server table, then one section per host."""
    report = as_dict(report)
    hosts = sorted_hosts(report)
    lines = ["# Exchange assessment", "", _run_line(report), ""]
    lines += _policy(report) + _drift(report)
    lines += _remediation(report, hosts) + _summary(report) + _servers(hosts)
    for name, host in hosts:
        lines += _host(name, host)
    return "\n".join(lines).rstrip("\n") + "\n"
