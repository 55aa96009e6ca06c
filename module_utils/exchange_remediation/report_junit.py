"""JUnit XML for CI: one <testsuite> per host, one <testcase> per check.

Checks per host: "collect", "build-known", "supported", one per CVE, "compromised".
Anything the assessment could not decide fails: CI must not go green on a server nobody
looked at (DESIGN.md: never "clean" by default).

Pure: stdlib only (xml.etree builds the document, so markup in log lines is escaped by the
serializer); characters that XML 1.0 cannot carry at all are stripped beforehand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .report_table import (
    NOT_ASSESSED,
    as_dict,
    as_list,
    clean_text,
    compromised_of,
    cve_statuses,
    sorted_hosts,
    status_of,
)

# Everything outside the XML 1.0 Char production (C0 controls, surrogates, U+FFFE/U+FFFF).
_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PASSING_CVE = ("patched", "mitigated", "not_applicable")
_MAX_INDICATORS_LISTED = 50  # keeps system-out readable in CI; the full list is in report.json


def xml_text(value: object, missing: str = "") -> str:
    """Untrusted value -> text that XML 1.0 can carry (one line, control characters removed)."""
    return _INVALID_XML.sub("", clean_text(value, missing))


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


def _indicator_line(indicator: dict[str, Any]) -> str:
    line = indicator.get("line")
    where = xml_text(indicator.get("source"), "?")
    if isinstance(line, int) and not isinstance(line, bool):
        where += f":{line}"
    return (
        f"[{xml_text(indicator.get('severity'), '?')}] {xml_text(indicator.get('rule'), '?')} "
        f"({xml_text(indicator.get('cve'), 'no CVE')}) {where} {xml_text(indicator.get('time'))}\n"
        f"    {xml_text(indicator.get('detail'))}"
    )


def _compromised(host: dict[str, Any]) -> Check:
    indicators = [as_dict(i) for i in as_list(host.get("indicators"))]
    listed = "\n".join(_indicator_line(i) for i in indicators[:_MAX_INDICATORS_LISTED])
    if len(indicators) > _MAX_INDICATORS_LISTED:
        listed += f"\n… {len(indicators) - _MAX_INDICATORS_LISTED} more in report.json"
    verdict = compromised_of(host)
    if verdict == "yes":
        return Check("compromised", "failure", f"compromised: {len(indicators)} indicator(s)", listed)
    if verdict == "unknown":
        why = NOT_ASSESSED if status_of(host) != "ok" else "compromise could not be ruled out"
        return Check("compromised", "failure", f"unknown: {why}", listed)
    return Check("compromised", output=listed)


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


def _suite(name: str, host: dict[str, Any], timestamp: str) -> tuple[list[str], dict[str, int]]:
    checks = host_checks(host)
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
    for name, host in sorted_hosts(report):
        lines, counts = _suite(name, host, timestamp)
        body.extend(lines)
        for key in totals:
            totals[key] += counts[key]
    opening = (f"<testsuites name=\"exchange-assessment\" tests=\"{totals['tests']}\" "
               f"failures=\"{totals['failure']}\" errors=\"{totals['error']}\" skipped=\"{totals['skipped']}\" "
               "time=\"0\">")
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', opening, *body, "</testsuites>", ""])
