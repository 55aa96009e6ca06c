"""Plain-text summary table of a report.json (format version 1), plus the view helpers
that every report writer shares.

The shared helpers live here because this is the smallest writer and the others
(HTML, Markdown, JUnit) import it; they read a report defensively: any key may be missing
or of the wrong type (a half-written report must still render), and a host that was not
assessed is never shown as clean.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import unicodedata
from typing import Any

NOT_ASSESSED = "not assessed — not clean"
CVE_STATUSES = ("vulnerable", "unknown", "mitigated", "patched", "not_applicable")

# Line and paragraph separators would split a cell over two lines: turn them into spaces.
_SPACE_CATEGORIES = ("Zl", "Zp")


def as_dict(value: object) -> dict[str, Any]:
    """Return value when it is a dict, else an empty dict (tolerates malformed reports)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """Return value when it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def _clean(text: str, keep_lines: bool) -> str:
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if char in "\r\n" or category in _SPACE_CATEGORIES:
            out.append("\n" if keep_lines else " ")
        elif char == "\t":
            out.append("\t" if keep_lines else " ")
        elif category == "Cc":
            continue
        elif category == "Cs":
            out.append("\ufffd")  # lone surrogate from a bad decode: not encodable as UTF-8
        elif category == "Cf":
            out.append(f"[U+{ord(char):04X}]")
        else:
            out.append(char)
    return "".join(out)


def clean_text(value: object, missing: str = "—") -> str:
    """Make untrusted text safe to show on one line.

    Log lines, paths and user agents are attacker-controlled. Control characters could
    ring bells, move the cursor or end a line in a terminal, so they are removed (tab,
    CR and LF become a space). Invisible format characters such as the right-to-left
    override (used to disguise file names like ``x<U+202E>xpsa.aspx``) are shown as
    ``[U+202E]`` rather than dropped, because their presence is evidence.
    """
    if value is None or value == "":
        return missing
    text = str(value)
    # Fast path: printable ASCII (almost every CVE id, build and status) needs no change.
    if text.isascii() and text.isprintable():
        return text
    return _clean(text, keep_lines=False)


def clean_block(value: object, missing: str = "") -> str:
    """clean_text for a block of evidence shown in a code block: line breaks (normalised to LF)
    and tabs are kept, every other control character is removed, format characters are shown."""
    if value is None or value == "":
        return missing
    text = str(value)
    if text.isascii() and text.isprintable():
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _clean(text, keep_lines=True)


def yes_no(value: object) -> str:
    """Tri-state boolean as text: null means the assessment could not tell."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "unknown"


def sorted_hosts(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Hosts by inventory name (case-insensitive, then exact, so the order is stable)."""
    hosts = as_dict(as_dict(report).get("hosts"))
    names = sorted(hosts, key=lambda name: (str(name).lower(), str(name)))
    return [(str(name), as_dict(hosts[name])) for name in names]


def status_of(host: dict[str, Any]) -> str:
    """Return "ok" or "error": anything but an explicit "ok" counts as not assessed."""
    return "ok" if host.get("status") == "ok" else "error"


def compromised_of(host: dict[str, Any]) -> str:
    """yes | no | unknown. A host that was not assessed is never "no" (never clean by default)."""
    value = as_dict(host.get("verdict")).get("compromised")
    if value not in ("yes", "no", "unknown"):
        return "unknown"
    if status_of(host) != "ok" and value == "no":
        return "unknown"
    return str(value)


def vulnerable_of(host: dict[str, Any]) -> bool | None:
    """verdict.vulnerable as a tri-state; an error host cannot be "not vulnerable"."""
    value = as_dict(host.get("verdict")).get("vulnerable")
    if value is True:
        return True
    if value is False and status_of(host) == "ok":
        return False
    return None


def cve_statuses(host: dict[str, Any]) -> dict[str, str]:
    """CVE id -> status, sorted by id; an unrecognised status is shown as unknown."""
    cves = as_dict(host.get("cves"))
    return {str(cve): (status if status in CVE_STATUSES else "unknown")
            for cve, status in sorted(cves.items(), key=lambda item: str(item[0]))}


def count_cves(host: dict[str, Any], status: str) -> int:
    """How many CVEs of host have the given status."""
    return sum(1 for value in cve_statuses(host).values() if value == status)


def open_cves_text(host: dict[str, Any]) -> str:
    """Open CVEs = vulnerable; unknown ones are added so that they stay visible."""
    if status_of(host) != "ok" and not cve_statuses(host):
        return "—"
    vulnerable = count_cves(host, "vulnerable")
    unknown = count_cves(host, "unknown")
    return f"{vulnerable} (+{unknown} unknown)" if unknown else str(vulnerable)


def su_text(exchange: dict[str, Any]) -> str:
    """SU name; null means "no SU on this CU" only when the build itself is known."""
    su = exchange.get("su")
    if su:
        return clean_text(su)
    if exchange.get("su_known") is False:
        return "unknown"  # only a CU-level version was available: never claim "no SU"
    return "none" if exchange.get("build") else "—"


_ACTION_TEXT = {
    "none": "nothing to do",
    "install_su": "install security update",
    "install_cu": "install cumulative update",
    "upgrade_product": "upgrade to a supported product",
    "investigate": "investigate indicators of compromise",
}


def next_step_text(host: dict[str, Any]) -> str:
    """What to do next, in one line: the assessment's own summary when it wrote one."""
    step = as_dict(host.get("next_step"))
    summary = step.get("summary")
    if isinstance(summary, str) and summary.strip():
        return clean_text(summary)
    if status_of(host) != "ok":
        return "fix collection and re-run the assessment"
    action = step.get("action")
    if action in _ACTION_TEXT:
        targets = [clean_text(step.get(key), "") for key in ("target_cu", "target_su", "target_build")]
        target = " ".join(t for t in targets if t)
        return f"{_ACTION_TEXT[action]} {target}".strip()
    # No plan in the report: derive the most urgent thing from the verdict.
    compromised = compromised_of(host)
    if compromised == "yes":
        return _ACTION_TEXT["investigate"]
    if compromised == "unknown":
        return "find out why compromise could not be ruled out"
    if vulnerable_of(host):
        return "patch"
    return "nothing to do"


# --- the hunt: findings and the compromise verdict ------------------------------------------

SEVERITIES = ("critical", "high", "medium", "low")
SERIOUS = ("critical", "high")
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
# The engine cuts evidence to 2000 characters; a report from elsewhere is cut here, so one
# finding cannot make a page of megabytes.
EVIDENCE_LIMIT = 2000


def hunt_of(host: dict[str, Any]) -> dict[str, Any]:
    return as_dict(host.get("hunt"))


def hunt_status(host: dict[str, Any]) -> str:
    """done | not_run | error, or "absent" for a report written before the hunt existed."""
    if not isinstance(host.get("hunt"), dict):
        return "absent"
    status = hunt_of(host).get("status")
    return str(status) if status in ("done", "not_run", "error") else "error"


HUNT_STATUS_TEXT = {"done": "hunt done", "not_run": "hunt not run", "error": "hunt failed",
                    "absent": "no hunt in this report"}


def severity_of(indicator: dict[str, Any]) -> str:
    severity = indicator.get("severity")
    return str(severity) if severity in _SEVERITY_RANK else "unknown"


def is_attempt(indicator: dict[str, Any]) -> bool:
    """A request logged when the server was no longer (or never) open to that campaign."""
    return indicator.get("attempt") is True


def indicators_of(host: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings worst first: real findings before attempts, then by severity and time."""
    indicators = [as_dict(item) for item in as_list(host.get("indicators"))]
    return sorted(indicators, key=lambda item: (
        is_attempt(item), _SEVERITY_RANK.get(severity_of(item), len(SEVERITIES)),
        str(item.get("time") or ""), str(item.get("rule") or "")))


def finding_counts(host: dict[str, Any]) -> dict[str, int]:
    """Findings by severity, attempts counted apart (they are not evidence of a compromise)."""
    counts = dict.fromkeys((*SEVERITIES, "unknown", "attempt"), 0)
    for indicator in (as_dict(item) for item in as_list(host.get("indicators"))):
        counts["attempt" if is_attempt(indicator) else severity_of(indicator)] += 1
    return counts


_SHORT_SEVERITY = {"critical": "crit", "high": "high", "medium": "med", "low": "low", "unknown": "unrated"}


def findings_text(host: dict[str, Any], short: bool = False) -> str:
    """Findings by severity ("2 critical, 1 high; 3 attempts"), or why there is nothing to count."""
    counts = finding_counts(host)
    names = _SHORT_SEVERITY if short else {key: key for key in _SHORT_SEVERITY}
    parts = [f"{counts[key]} {names[key]}" for key in (*SEVERITIES, "unknown") if counts[key]]
    text = (" " if short else ", ").join(parts)
    if counts["attempt"]:
        attempts = f"{counts['attempt']} attempt" + ("s" if counts["attempt"] > 1 else "")
        text = f"{text}{' +' if short else '; '}{attempts}" if text else attempts
    if text:
        return text
    status = hunt_status(host)
    if status == "done":
        return "none"
    return "hunt failed" if status == "error" else "not hunted"


def percent_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    return f"{value:g}%"


def coverage_text(host: dict[str, Any]) -> str:
    """How much of the exposure windows the logs cover, in the words the verdict uses."""
    hunt = hunt_of(host)
    coverage = hunt.get("coverage_percent")
    minimum = hunt.get("min_coverage_percent")
    if percent_text(coverage) == "—":
        return "log coverage of the exposure window unknown (the hunt did not read any log)"
    text = f"logs cover {percent_text(coverage)} of the exposure window"
    return text + (f" (minimum {percent_text(minimum)})" if percent_text(minimum) != "—" else "")


def compromise_reasons(host: dict[str, Any]) -> list[str]:
    """Why the verdict is what it is, one line each (cleaned, not escaped)."""
    verdict = compromised_of(host)
    hunt = hunt_of(host)
    reasons = [clean_text(reason) for reason in as_list(hunt.get("reasons")) if reason not in (None, "")]
    if verdict == "yes":
        counts = finding_counts(host)
        serious = [f"{counts[severity]} {severity}" for severity in SERIOUS if counts[severity]]
        lead = (f"{' and '.join(serious)} finding(s) that are not attempts" if serious
                else "the assessment reported a compromise")
        return [lead, *reasons]
    if verdict == "no":
        return reasons or ["every required source was present and read in full, and no finding counts"]
    if not reasons:
        status = hunt_status(host)
        if status == "error":
            reasons.append(f"the hunt failed: {clean_text(hunt.get('error'), 'no reason given')}")
        elif status in ("absent", "not_run"):
            reasons.append(clean_text(hunt.get("error"), "the hunt did not run for this host"))
        else:
            reasons.append("compromise could not be ruled out (no reason recorded)")
    if status_of(host) != "ok":
        reasons.insert(0, f"{NOT_ASSESSED}: {clean_text(host.get('error'), 'no reason given')}")
    return reasons


def cves_of(indicator: dict[str, Any]) -> list[str]:
    """The finding's CVEs; old reports carry only the first one in "cve"."""
    cves = [clean_text(cve) for cve in as_list(indicator.get("cves")) if cve]
    if not cves and indicator.get("cve"):
        cves = [clean_text(indicator.get("cve"))]
    return cves


def where_text(indicator: dict[str, Any], separator: str = ", line ") -> str:
    """Source path (or event log) and line number, cleaned."""
    where = clean_text(indicator.get("source"), "source unknown")
    line = indicator.get("line")
    if isinstance(line, int) and not isinstance(line, bool):
        where += f"{separator}{line}"
    return where


def evidence_text(indicator: dict[str, Any]) -> str:
    """The raw evidence as a cleaned block ('' when none), cut at EVIDENCE_LIMIT characters."""
    evidence = indicator.get("evidence")
    if evidence is None or evidence == "":
        return ""
    text = str(evidence)
    if len(text) <= EVIDENCE_LIMIT:
        return clean_block(text)
    return clean_block(text[:EVIDENCE_LIMIT]) + f"\n… cut: {len(text) - EVIDENCE_LIMIT} more characters in report.json"


ATTEMPT_NOTE = "Attempt: logged when the server was not open to this campaign; not counted as a compromise"


def finding_line(indicator: dict[str, Any]) -> str:
    """One cleaned line: severity, rule, time and detail; attempts say so (where_text says where)."""
    parts = [severity_of(indicator), clean_text(indicator.get("rule"), "?")]
    if is_attempt(indicator):
        parts.append("(attempt)")
    parts.append(clean_text(indicator.get("time"), "time unknown"))
    detail = clean_text(indicator.get("detail"), "")
    return " ".join(parts) + (f" — {detail}" if detail else "")


def estate_counts(report: dict[str, Any]) -> dict[str, int]:
    """Estate totals, always recomputed from hosts so that they match the rows shown.
    Same keys as report.json's summary (estate_report.summarise_report)."""
    hosts = [host for _, host in sorted_hosts(report)]
    counts = {
        "hosts": len(hosts),
        "ok": sum(1 for h in hosts if status_of(h) == "ok"),
        "error": sum(1 for h in hosts if status_of(h) != "ok"),
        "vulnerable": sum(1 for h in hosts if vulnerable_of(h) is True),
        "compromised": sum(1 for h in hosts if compromised_of(h) == "yes"),
        "compromised_unknown": sum(1 for h in hosts if compromised_of(h) == "unknown"),
        "unsupported": sum(1 for h in hosts if as_dict(h.get("exchange")).get("supported") is False),
        "compromised_no": sum(1 for h in hosts if compromised_of(h) == "no"),
        "hunted": sum(1 for h in hosts if hunt_status(h) == "done"),
        "indicators": sum(len(as_list(h.get("indicators"))) for h in hosts),
    }
    findings = [finding_counts(h) for h in hosts]
    for key in (*SEVERITIES, "attempt"):
        counts[f"indicators_{key}"] = sum(f[key] for f in findings)
    return counts


def totals_text(counts: dict[str, int]) -> str:
    """One sentence with the estate totals, shared by the text writers."""
    findings = ", ".join(f"{counts[f'indicators_{key}']} {key}" for key in SEVERITIES)
    return (
        f"{counts['hosts']} hosts: {counts['ok']} ok, {counts['error']} error; "
        f"{counts['vulnerable']} vulnerable; compromised: {counts['compromised']} yes, "
        f"{counts['compromised_no']} no, {counts['compromised_unknown']} unknown; "
        f"findings: {findings}, {counts['indicators_attempt']} attempt(s); "
        f"{counts['unsupported']} out of support"
    )


# --- the remediation: plan, outcomes, before and after --------------------------------------

REMEDIATION_STATE_TEXT = {
    "patched": "patched", "failed": "failed", "refused": "refused", "skipped": "skipped",
    "up_to_date": "up to date", "planned": "planned", "blocked": "blocked", "not_planned": "not planned",
}
# Why each state needs a look, in the order the counts are shown: problems first.
REMEDIATION_ORDER = ("failed", "refused", "skipped", "blocked", "planned", "patched", "up_to_date", "not_planned")


def remediation_of(report: dict[str, Any]) -> dict[str, Any] | None:
    """The estate's remediation object, or None for a report without a plan (nothing is shown then)."""
    value = as_dict(report).get("remediation")
    return value if isinstance(value, dict) else None


def host_remediation(host: dict[str, Any]) -> dict[str, Any]:
    return as_dict(host.get("remediation"))


def remediation_state(remediation: dict[str, Any]) -> str:
    """One of REMEDIATION_STATE_TEXT's keys, or "unknown" for a value a reader does not know."""
    state = remediation.get("state")
    return str(state) if state in REMEDIATION_STATE_TEXT else "unknown"


def remediation_state_text(remediation: dict[str, Any]) -> str:
    return REMEDIATION_STATE_TEXT.get(remediation_state(remediation), "unknown")


def wave_of(remediation: dict[str, Any]) -> int | None:
    wave = remediation.get("wave")
    return wave if isinstance(wave, int) and not isinstance(wave, bool) else None


def version_text(version: object) -> str:
    """CU, SU and build in one cleaned phrase: "CU19 no SU (15.1.2176.2)"."""
    version = as_dict(version)
    if not any(version.get(key) for key in ("cu", "su", "build")):
        return "unknown"
    # su null beside a known build means no SU is installed (report.json's exchange.su rule).
    su = clean_text(version.get("su"), "no SU" if version.get("build") else "SU unknown")
    return f"{clean_text(version.get('cu'), 'CU unknown')} {su} ({clean_text(version.get('build'), 'build unknown')})"


def change_text(remediation: dict[str, Any]) -> str:
    """Before -> after of a patched server (with the target when it was not reached), before ->
    target of one still to patch, or just the build."""
    before = as_dict(remediation.get("before"))
    after = remediation.get("after")
    target = as_dict(remediation.get("target"))
    if isinstance(after, dict):
        text = f"{version_text(before)} → {version_text(after)}"
        if target.get("build") and target.get("build") != after.get("build"):
            text += f" (target {version_text(target)})"
        return text
    state = remediation_state(remediation)
    if target.get("build") and target.get("build") != before.get("build") and state not in ("up_to_date",
                                                                                               "not_planned"):
        return f"{version_text(before)} → target {version_text(target)}"
    return version_text(before)


def patch_cell(remediation: dict[str, Any]) -> str:
    """The terminal table's short form: "CU19→CU23 Aug26SU", "failed: cu", "planned w1", "blocked"."""
    state = remediation_state(remediation)
    if state == "patched" and isinstance(remediation.get("after"), dict):
        before, after = as_dict(remediation.get("before")), as_dict(remediation.get("after"))
        su_after = clean_text(after.get("su"), "no SU")
        if before.get("cu") != after.get("cu"):
            return f"{clean_text(before.get('cu'), '?')}→{clean_text(after.get('cu'), '?')} {su_after}"
        return f"{clean_text(after.get('cu'), '?')} {clean_text(before.get('su'), 'no SU')}→{su_after}"
    if state == "failed" and remediation.get("failed_step"):
        return f"failed: {clean_text(remediation.get('failed_step'))}"
    if state == "planned" and wave_of(remediation) is not None:
        return f"planned w{wave_of(remediation)}"
    return REMEDIATION_STATE_TEXT.get(state, "unknown")


def remediation_counts(report: dict[str, Any]) -> dict[str, int]:
    """Servers by remediation state, recomputed from the hosts so that they match the rows shown."""
    counts = dict.fromkeys((*REMEDIATION_STATE_TEXT, "unknown"), 0)
    for _, host in sorted_hosts(report):
        if isinstance(host.get("remediation"), dict):
            counts[remediation_state(host_remediation(host))] += 1
    return counts


def remediation_counts_text(counts: dict[str, int]) -> str:
    parts = [f"{counts[state]} {REMEDIATION_STATE_TEXT[state]}" for state in REMEDIATION_ORDER if counts.get(state)]
    if counts.get("unknown"):
        parts.append(f"{counts['unknown']} unknown")
    return ", ".join(parts) or "no servers"


def minutes_text(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return "—"
    hours, minutes = divmod(value, 60)
    return f"{value} min ({hours} h {minutes:02d})" if hours else f"{value} min"


def count_text(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else "—"


def rollout_text(report: dict[str, Any]) -> str | None:
    """Why later waves were not run, in one cleaned sentence; None when the rollout did not stop."""
    remediation = remediation_of(report) or {}
    if remediation.get("rollout_stopped") is not True:
        return None
    stopper = remediation.get("stopped_by")
    hosts = as_dict(as_dict(report).get("hosts"))
    state = remediation_state(host_remediation(as_dict(hosts.get(stopper)))) if isinstance(stopper, str) else ""
    what = "was refused" if state == "refused" else "failed"
    return f"rollout stopped: {clean_text(stopper, 'a server')} {what}; the servers of later waves were skipped"


def remediation_problem_text(remediation: dict[str, Any]) -> str:
    """Reason, failed step, setup log and a server left in maintenance, cleaned, in one line."""
    # Short and actionable first: a long reason must not push the setup log off a terminal line.
    parts = []
    if remediation.get("maintenance_exited") is False:
        parts.append("LEFT IN MAINTENANCE MODE")
    if remediation.get("failed_step"):
        parts.append(f"failed step: {clean_text(remediation.get('failed_step'))}")
    if remediation.get("setup_log"):
        parts.append(f"setup log: {clean_text(remediation.get('setup_log'))}")
    if remediation.get("reason"):
        parts.append(clean_text(remediation.get("reason")))
    return "; ".join(parts)


def ad_preparation_facts(remediation: dict[str, Any]) -> list[tuple[str, str]]:
    """The plan's Active Directory preparation as (label, cleaned text) pairs."""
    ad = remediation.get("ad_preparation")
    if not isinstance(ad, dict):
        return [("Needed", "unknown (the plan has no AD preparation)")]
    target = as_dict(ad.get("target"))
    facts = [("Needed", yes_no(ad.get("needed")))]
    steps = ", ".join(clean_text(step) for step in as_list(ad.get("steps")))
    if steps:
        facts.append(("Steps", steps))
    if target:
        facts.append(("Target", f"{clean_text(target.get('product'), '')} {clean_text(target.get('cu'), '')}".strip()))
    for label, key in (("Media", "media"), ("License switch", "license_switch")):
        if ad.get(key):
            facts.append((label, clean_text(ad.get(key))))
    return facts


def ad_preparation_reasons(remediation: dict[str, Any]) -> list[str]:
    return [clean_text(reason) for reason in as_list(as_dict(remediation.get("ad_preparation")).get("reasons"))]


# --- the nightly run: policy, drift against the previous report, log retention --------------

POLICY_RESULT_TEXT = {"failed": "triggered", "passed": "not triggered", "skipped": "not evaluated"}


def policy_of(report: dict[str, Any]) -> dict[str, Any] | None:
    """The report's policy object, or None without one (nothing is shown then)."""
    value = as_dict(report).get("policy")
    return value if isinstance(value, dict) else None


def policy_conditions(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_dict(condition) for condition in as_list(policy.get("conditions"))]


def condition_result(condition: dict[str, Any]) -> str:
    """"failed", "passed" or "skipped" (not evaluated in this run)."""
    if condition.get("evaluated") is not True:
        return "skipped"
    return "failed" if condition.get("triggered") is True else "passed"


def policy_line(policy: dict[str, Any]) -> str:
    """The policy's outcome in one cleaned sentence: "Policy failed: compromised (ex16-legacy)"."""
    summary = clean_text(policy.get("summary"), "")
    if not summary:
        summary = "policy failed" if policy.get("failed") is True else "policy passed"
    return summary[:1].upper() + summary[1:]


def drift_of(report: dict[str, Any]) -> dict[str, Any] | None:
    value = as_dict(report).get("drift")
    return value if isinstance(value, dict) else None


def drift_previous_text(drift: dict[str, Any]) -> str:
    """Which report this run was compared with."""
    previous = drift.get("previous")
    if not isinstance(previous, dict):
        return "no previous report"
    return (f"the report of {clean_text(previous.get('generated_at'), 'an unknown time')} "
            f"({clean_text(previous.get('path'), 'path unknown')})")


def drift_changes(drift: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_dict(change) for change in as_list(drift.get("changes"))]


def short_retention(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Servers whose logs do not reach back as far as required, with their retention object."""
    return [(name, as_dict(hunt_of(host).get("retention"))) for name, host in sorted_hosts(report)
            if as_dict(hunt_of(host).get("retention")).get("short") is True]


def retention_text(retention: dict[str, Any]) -> str:
    """"12.4 of 30 days, from 2021-02-25 (shortest: HttpProxy, IIS)", cleaned."""
    days = retention.get("days")
    days_text = str(days) if isinstance(days, (int, float)) and not isinstance(days, bool) else "?"
    sources = ", ".join(clean_text(source) for source in as_list(retention.get("sources"))) or "unknown"
    since = clean_text(retention.get("logs_from"), "?")[:10]
    return f"{days_text} of {count_text(retention.get('required_days'))} days, from {since} (shortest: {sources})"


# --- fixed-width layout -------------------------------------------------------------------

# (title, maximum width). Widths keep a row within ~220 columns, about a CI log's width.
_COLUMNS = (
    ("host", 28),
    ("status", 6),
    ("product", 20),
    ("CU", 10),
    ("SU", 10),
    ("build", 14),
    ("supported", 9),
    ("open CVEs", 16),
    ("compromised", 11),
    ("findings", 30),
    ("next step", 48),
)
# Shown after "build" only when the report has a plan: what the remediation did to the server.
_PATCH_COLUMN = ("Patch", 26)
_PATCH_AFTER = "build"
# Failed and refused servers listed under the table with their reason and setup log; a line
# may wrap in the terminal rather than lose the reason.
_PROBLEMS_LISTED = 10
_PROBLEM_WIDTH = 300
# Below the table, the critical and high findings of each host, so that a sysadmin reading the
# play's output sees what was found without opening the reports; the rest is in the reports.
_FINDINGS_PER_HOST = 3
_FINDING_WIDTH = 180
# The nightly blocks under the table: changes and short retention listed up to a limit each.
_CHANGES_LISTED = 20
_RETENTION_LISTED = 20
_NIGHTLY_WIDTH = 220


def display_width(text: str) -> int:
    """Terminal columns taken by text: wide East Asian characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def truncate(text: str, width: int) -> str:
    """Cut text to width columns, marking the cut with "…"."""
    if display_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for char in text:
        char_width = display_width(char)
        if used + char_width > width - 1:
            break
        out.append(char)
        used += char_width
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def _columns(with_patch: bool) -> list[tuple[str, int]]:
    columns = list(_COLUMNS)
    if with_patch:
        columns.insert([title for title, _ in columns].index(_PATCH_AFTER) + 1, _PATCH_COLUMN)
    return columns


def _row(name: str, host: dict[str, Any], with_patch: bool = False) -> list[str]:
    exchange = as_dict(host.get("exchange"))
    status = status_of(host)
    if status == "ok":
        next_step = next_step_text(host)
    else:
        next_step = f"{NOT_ASSESSED}: {clean_text(host.get('error'), 'no reason given')}"
    row = [
        clean_text(name),
        status,
        clean_text(exchange.get("product")),
        clean_text(exchange.get("cu")),
        su_text(exchange),
        clean_text(exchange.get("build")),
        yes_no(exchange.get("supported")),
        open_cves_text(host),
        compromised_of(host),
        findings_text(host, short=True),
        next_step,
    ]
    if with_patch:
        patch = patch_cell(host_remediation(host)) if isinstance(host.get("remediation"), dict) else "—"
        row.insert([title for title, _ in _COLUMNS].index(_PATCH_AFTER) + 1, patch)
    return row


def _remediation_lines(report: dict[str, Any]) -> list[str]:
    """Under the table of a remediation run: the counts, why the rollout stopped, and each
    failed or refused server with its reason and setup log (all cleaned)."""
    remediation = remediation_of(report)
    if remediation is None:
        return []
    window = minutes_text(as_dict(remediation.get("summary")).get("modelled_window_minutes"))
    lines = ["", f"Remediation: {remediation_counts_text(remediation_counts(report))}; modelled window {window}"]
    stopped = rollout_text(report)
    if stopped:
        lines.append(stopped[:1].upper() + stopped[1:])
    problems = [(name, host_remediation(host)) for name, host in sorted_hosts(report)
                if remediation_state(host_remediation(host)) in ("failed", "refused")]
    for name, entry in problems[:_PROBLEMS_LISTED]:
        detail = remediation_problem_text(entry)
        line = f"  {clean_text(name)} {remediation_state(entry)}" + (f": {detail}" if detail else "")
        lines.append(truncate(line, _PROBLEM_WIDTH))
    if len(problems) > _PROBLEMS_LISTED:
        lines.append(f"  … {len(problems) - _PROBLEMS_LISTED} more failed or refused server(s) in the reports")
    return lines


def _serious_findings(report: dict[str, Any]) -> list[str]:
    """Critical and high findings that are not attempts, a few per host. Every value went
    through clean_text: nothing from a log line can move the cursor or colour the terminal."""
    lines: list[str] = []
    for name, host in sorted_hosts(report):
        serious = [i for i in indicators_of(host) if severity_of(i) in SERIOUS and not is_attempt(i)]
        if not serious:
            continue
        lines.append(f"{truncate(clean_text(name), 60)} (compromised: {compromised_of(host)})")
        for indicator in serious[:_FINDINGS_PER_HOST]:
            lines += ["  " + truncate(finding_line(indicator), _FINDING_WIDTH),
                      "    at " + truncate(where_text(indicator, ":"), _FINDING_WIDTH)]
        if len(serious) > _FINDINGS_PER_HOST:
            lines.append(f"  … {len(serious) - _FINDINGS_PER_HOST} more critical/high finding(s) in the reports")
    if not lines:
        return []
    return ["", "Critical and high findings (attempts left out; evidence in report.html):", *lines]


def _drift_lines(report: dict[str, Any]) -> list[str]:
    drift = drift_of(report)
    if drift is None:
        return []
    previous = drift.get("previous")
    since = ""
    if isinstance(previous, dict):
        since = f" since {clean_text(previous.get('generated_at'), 'the previous report')}"
    lines = ["", truncate(f"Drift{since}: {clean_text(drift.get('summary'), 'no summary')}", _NIGHTLY_WIDTH)]
    for label, key in (("added", "hosts_added"), ("gone", "hosts_gone")):
        names = ", ".join(clean_text(name) for name in as_list(drift.get(key)))
        if names:
            lines.append(truncate(f"  {label}: {names}", _NIGHTLY_WIDTH))
    changes = drift_changes(drift)
    for change in changes[:_CHANGES_LISTED]:
        what = clean_text(change.get("summary"), clean_text(change.get("kind")))
        lines.append(truncate(f"  {clean_text(change.get('host'))}: {what}", _NIGHTLY_WIDTH))
    if len(changes) > _CHANGES_LISTED:
        lines.append(f"  … {len(changes) - _CHANGES_LISTED} more change(s) in the reports")
    return lines


def _retention_lines(report: dict[str, Any]) -> list[str]:
    short = short_retention(report)
    if not short:
        return []
    lines = ["", "Logs too short to rule out older attacks (the hunt saw nothing before they begin):"]
    for name, retention in short[:_RETENTION_LISTED]:
        lines.append(truncate(f"  {clean_text(name)}: {retention_text(retention)}", _NIGHTLY_WIDTH))
    if len(short) > _RETENTION_LISTED:
        lines.append(f"  … {len(short) - _RETENTION_LISTED} more server(s) in the reports")
    return lines


def render_summary_table(report: dict[str, Any]) -> str:
    """Fixed-width table, one row per host sorted by name (with a Patch column when the report has
    a plan), the remediation's counts and failures, the critical and high findings, the servers
    whose logs are too short and the drift since the previous report, a totals line, then the
    policy's outcome."""
    with_patch = remediation_of(report) is not None
    columns = _columns(with_patch)
    titles = [title for title, _ in columns]
    rows = [[truncate(cell, limit) for cell, (_, limit) in zip(_row(name, host, with_patch), columns, strict=True)]
            for name, host in sorted_hosts(report)]
    widths = [max(display_width(cell) for cell in column) for column in zip(titles, *rows, strict=True)]
    lines = [" | ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [titles, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    lines += _remediation_lines(report)
    lines += _serious_findings(report)
    lines += _retention_lines(report)
    lines += _drift_lines(report)
    lines.append("")
    lines.append("Totals: " + totals_text(estate_counts(report)))
    policy = policy_of(report)
    if policy is not None:
        # Last, where a CI log's reader looks for why the job failed.
        lines.append(truncate(policy_line(policy), _PROBLEM_WIDTH))
    return "\n".join(lines) + "\n"
