"""JUnit XML for CI: one <testsuite> per host, one <testcase> per check.

Checks per host: "collect", "build-known", "supported", one per CVE, "compromised".
Anything the assessment could not decide fails: CI must not go green on a server nobody
looked at (DESIGN.md: never "clean" by default). "compromised" fails when the hunt says yes
(the message names the critical and high findings) and when it says unknown (the message
gives the first reason); its text lists every finding with its evidence.

A report with a plan adds a "remediation" testsuite, one testcase per host: failed or refused
fails with the reason (so does a server left in maintenance mode), patched and up to date pass,
blocked, planned, skipped and not planned are skipped with the reason.

A report with a policy (a nightly run) adds a "policy" testsuite, one testcase per enforced
condition: a triggered one fails with the condition's summary, one this run could not evaluate
is skipped, the others pass. CI sees why the run failed without reading report.json.

Pure: stdlib only. Every value is escaped by xml.sax.saxutils, so markup in log lines stays
text; characters that XML 1.0 cannot carry at all are stripped beforehand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .report_table import (
    ATTEMPT_NOTE,
    NOT_ASSESSED,
    SERIOUS,
    as_dict,
    as_list,
    change_text,
    clean_text,
    compromise_reasons,
    compromised_of,
    coverage_text,
    cve_statuses,
    cves_of,
    evidence_text,
    finding_counts,
    findings_text,
    host_remediation,
    hunt_status,
    indicators_of,
    is_attempt,
    remediation_of,
    remediation_state,
    remediation_state_text,
    severity_of,
    sorted_hosts,
    status_of,
    wave_of,
    where_text,
)

# Everything outside the XML 1.0 Char production (C0 controls, surrogates, U+FFFE/U+FFFF).
_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PASSING_CVE = ("patched", "mitigated", "not_applicable")
_MAX_INDICATORS_LISTED = 50  # keeps system-out readable in CI; the full list is in report.json
_MAX_RULES_NAMED = 10


def xml_text(value: object, missing: str = "") -> str:
    """Untrusted value -> text that XML 1.0 can carry (one line, control characters removed)."""
    return _INVALID_XML.sub("", clean_text(value, missing))


def xml_block(text: str) -> str:
    """Cleaned evidence (report_table.evidence_text) -> text that XML 1.0 can carry, lines kept."""
    return _INVALID_XML.sub("", text)


@dataclass
class Check:
    """Outcome of one check. kind is "pass", "failure", "error" or "skipped"."""

    name: str
    kind: str = "pass"
    message: str = ""
    output: str = ""


def _collect(host: dict[str, Any]) -> Check:
    if status_of(host) == "ok":
        return Check("collect")
    reason = xml_text(host.get("error"), "no reason given")
    return Check("collect", "error", f"{NOT_ASSESSED}: {reason}", reason)


def _build_known(host: dict[str, Any]) -> Check:
    exchange = as_dict(host.get("exchange"))
    build = exchange.get("build")
    note = xml_text(exchange.get("build_note"))
    if not build:
        message = "build unknown" + ("" if status_of(host) == "ok" else f" ({NOT_ASSESSED})")
        return Check("build-known", "failure", message, note)
    if not exchange.get("product") or not exchange.get("cu"):
        return Check("build-known", "failure", f"build {xml_text(build)} is not in the catalog", note)
    product = xml_text(exchange.get("product"))
    su = xml_text(exchange.get("su"), "no SU")
    return Check("build-known", output=f"{product} {xml_text(exchange.get('cu'))} {su} ({xml_text(build)})")


def _supported(host: dict[str, Any]) -> Check:
    exchange = as_dict(host.get("exchange"))
    supported = exchange.get("supported")
    end = xml_text(exchange.get("support_end"))
    if supported is True:
        return Check("supported", output=f"support ends {end}" if end else "")
    if supported is False:
        message = "out of support" + (f" (support ended or ends {end})" if end else "")
        return Check("supported", "failure", message, xml_text(exchange.get("build_note")))
    # Unknown support is not a separate failure: build-known or collect already fails for it.
    return Check("supported", "skipped", "support status unknown")


def _cve(host: dict[str, Any], cve: str, status: str) -> Check:
    detail = as_dict(as_dict(host.get("cve_details")).get(cve))
    reason = xml_text(detail.get("reason"))
    fixed_by = xml_text(detail.get("fixed_by"))
    name = xml_text(cve)
    if status in _PASSING_CVE:
        output = status.replace("_", " ")
        if status == "mitigated":
            # The mitigation only changes the status: the update is still missing.
            output = "mitigated" + (f", update {fixed_by} still missing" if fixed_by else "")
        return Check(name, output=f"{output}: {reason}" if reason else output)
    message = status + (f", fixed by {fixed_by}" if fixed_by else "")
    return Check(name, "failure", message, reason)


def _indicator_text(indicator: dict[str, Any]) -> str:
    """A finding for CI's failure text: one summary line, then detail and evidence indented."""
    head = [f"[{severity_of(indicator)}]", xml_text(indicator.get("rule"), "?")]
    if is_attempt(indicator):
        head.append("(attempt)")
    head += [f"({xml_text(', '.join(cves_of(indicator)), 'no CVE')})", xml_text(indicator.get("title"))]
    lines = [" ".join(part for part in head if part),
             f"    {xml_text(where_text(indicator, ':'))} at {xml_text(indicator.get('time'), 'time unknown')}"]
    if indicator.get("detail"):
        lines.append(f"    detail: {xml_text(indicator.get('detail'))}")
    if is_attempt(indicator):
        lines.append(f"    {ATTEMPT_NOTE}")
    evidence = xml_block(evidence_text(indicator))
    if evidence:
        lines.append("    evidence:")
        lines += [f"      {line}" for line in evidence.split("\n")]
    return "\n".join(lines)


def _compromised(host: dict[str, Any]) -> Check:
    indicators = indicators_of(host)
    listed = [_indicator_text(i) for i in indicators[:_MAX_INDICATORS_LISTED]]
    if len(indicators) > _MAX_INDICATORS_LISTED:
        listed.append(f"… {len(indicators) - _MAX_INDICATORS_LISTED} more in report.json")
    reasons = [xml_text(reason) for reason in compromise_reasons(host)]
    summary = [f"findings: {findings_text(host)}"]
    if hunt_status(host) != "absent":
        summary.append(xml_text(coverage_text(host)))
    output = "\n".join([*(f"- {reason}" for reason in reasons), *summary, "", *listed]).strip("\n")
    verdict = compromised_of(host)
    if verdict == "yes":
        # The message names the critical and high findings; the failure text holds them all.
        counts = finding_counts(host)
        serious = ", ".join(f"{counts[severity]} {severity}" for severity in SERIOUS if counts[severity])
        rules = sorted({xml_text(i.get("rule"), "?") for i in indicators
                        if severity_of(i) in SERIOUS and not is_attempt(i)})
        if len(rules) > _MAX_RULES_NAMED:
            rules = [*rules[:_MAX_RULES_NAMED], "…"]
        message = f"compromised: {serious or f'{len(indicators)} indicator(s)'}"
        message += f" ({', '.join(rules)})" if rules else ""
        return Check("compromised", "failure", message, output)
    if verdict == "unknown":
        # Never green on a server whose compromise could not be ruled out (module docstring).
        return Check("compromised", "failure", f"unknown: {reasons[0]}", output)
    return Check("compromised", output=output)


REMEDIATION_SUITE = "remediation"


def remediation_check(name: str, remediation: dict[str, Any]) -> Check:
    """The remediation testcase of one host (named after it)."""
    state = remediation_state(remediation)
    reason = xml_text(remediation.get("reason"))
    wave = wave_of(remediation)
    lines = [f"state: {remediation_state_text(remediation)}" + (f", wave {wave}" if wave is not None else ""),
             xml_text(change_text(remediation))]
    for label, key in (("reason", "reason"), ("failed step", "failed_step"), ("setup log", "setup_log")):
        if remediation.get(key):
            lines.append(f"{label}: {xml_text(remediation.get(key))}")
    exited = remediation.get("maintenance_exited")
    if isinstance(exited, bool):
        lines.append("maintenance mode exited" if exited else "LEFT IN MAINTENANCE MODE")
    output = "\n".join(lines)
    testcase = xml_text(name, "?")
    if state in ("failed", "refused"):
        message = f"{state}: {reason or 'no reason given'}"
        if remediation.get("failed_step"):
            message += f" (step {xml_text(remediation.get('failed_step'))})"
        return Check(testcase, "failure", message, output)
    if exited is False:
        # Patched or not, a server still in maintenance mode carries no load: someone must act.
        return Check(testcase, "failure", f"{remediation_state_text(remediation)} but left in maintenance mode", output)
    if state in ("patched", "up_to_date"):
        return Check(testcase, output=output)
    if state == "unknown":
        return Check(testcase, "failure", "remediation state unknown", output)
    return Check(testcase, "skipped", f"{remediation_state_text(remediation)}: {reason}" if reason
                 else remediation_state_text(remediation))


POLICY_SUITE = "policy"


def policy_checks(policy: dict[str, Any]) -> list[Check]:
    """One testcase per enforced condition of the report's policy object."""
    checks = []
    for condition in (as_dict(c) for c in as_list(policy.get("conditions"))):
        if condition.get("enforced") is not True:
            continue
        name = xml_text(condition.get("name"), "?")
        summary = xml_text(condition.get("summary"))
        hosts = "\n".join(xml_text(host) for host in as_list(condition.get("hosts")))
        if condition.get("evaluated") is not True:
            checks.append(Check(name, "skipped", summary))
        elif condition.get("triggered") is True:
            checks.append(Check(name, "failure", summary, hosts or summary))
        else:
            checks.append(Check(name, output=summary))
    return checks


def host_checks(host: dict[str, Any]) -> list[Check]:
    """All checks of one host, in the order CI shows them."""
    checks = [_collect(host), _build_known(host), _supported(host)]
    checks += [_cve(host, cve, status) for cve, status in cve_statuses(host).items()]
    checks.append(_compromised(host))
    return checks


def _attr(value: str) -> str:
    return quoteattr(value)


def _testcase(classname: str, check: Check) -> str:
    # Built as text, not with ElementTree: a 200-host estate has over 20,000 test cases and the
    # tree costs several times as much to build and serialise. Values are already xml_text().
    head = f"<testcase classname={_attr(classname)} name={_attr(check.name)} time=\"0\""
    if check.kind == "pass":
        if check.output:
            return f"{head}><system-out>{escape(check.output)}</system-out></testcase>"
        return f"{head} />"
    if check.kind == "skipped":
        return f"{head}><skipped message={_attr(check.message)} /></testcase>"
    return (f"{head}><{check.kind} message={_attr(check.message)} type={_attr(check.name)}>"
            f"{escape(check.output or check.message)}</{check.kind}></testcase>")


def _suite(name: str, checks: list[Check], timestamp: str) -> tuple[list[str], dict[str, int]]:
    counts = {kind: sum(1 for c in checks if c.kind == kind) for kind in ("failure", "error", "skipped")}
    counts["tests"] = len(checks)
    classname = xml_text(name, "?")
    opening = (f"<testsuite name={_attr(classname)} tests=\"{counts['tests']}\" failures=\"{counts['failure']}\" "
               f"errors=\"{counts['error']}\" skipped=\"{counts['skipped']}\" time=\"0\""
               + (f" timestamp={_attr(timestamp)}" if timestamp else "") + ">")
    return [opening, *(_testcase(classname, check) for check in checks), "</testsuite>"], counts


def render_junit(report: dict[str, Any]) -> str:
    """JUnit XML document (UTF-8 text with declaration) for the whole report."""
    report = as_dict(report)
    timestamp = xml_text(report.get("generated_at"))
    totals = {"tests": 0, "failure": 0, "error": 0, "skipped": 0}
    body: list[str] = []
    suites = [(name, host_checks(host)) for name, host in sorted_hosts(report)]
    if remediation_of(report) is not None:
        suites.append((REMEDIATION_SUITE, [remediation_check(name, host_remediation(host))
                                           for name, host in sorted_hosts(report)
                                           if isinstance(host.get("remediation"), dict)]))
    if isinstance(report.get("policy"), dict):
        suites.append((POLICY_SUITE, policy_checks(report["policy"])))
    for name, checks in suites:
        lines, counts = _suite(name, checks, timestamp)
        body.extend(lines)
        for key in totals:
            totals[key] += counts[key]
    opening = (f"<testsuites name=\"exchange-assessment\" tests=\"{totals['tests']}\" "
               f"failures=\"{totals['failure']}\" errors=\"{totals['error']}\" skipped=\"{totals['skipped']}\" "
               "time=\"0\">")
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', opening, *body, "</testsuites>", ""])
