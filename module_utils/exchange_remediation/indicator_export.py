"""A report's indicators as shareable rows: one per observable (address, user agent, file, hash, URL) and server.

The hunt records what a finding's evidence names (report indicator "observables": ip, user_agent,
path, sha256, url); this module only regroups that. Older reports without observables give no
rows: free text (details, evidence lines) is never parsed for addresses, so nothing is guessed.

Rows are for a CERT or a blocklist, so the export can hide whose servers these are: with
include_hostnames False the server column is a pseudonym ("server-01", numbered by sorted inventory
name) and every inventory name, hostname and FQDN of the report's hosts is replaced in every value.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TYPES = ("ipv4-addr", "ipv6-addr", "user-agent", "file-path", "sha256", "url")
SEVERITIES = ("low", "medium", "high", "critical")
REDACTED = "[redacted]"
# A host name or FQDN as it stands in a log line, a path or a URL: letters, digits, "-", "_" and dots.
_WORD = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
_SEPARATOR = re.compile(r"([.-])")
CSV_COLUMNS = ("type", "value", "scope", "first_seen", "last_seen", "sightings", "server", "severity", "attempt",
               "attacks", "rules", "cves")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection");
# tab and carriage return are on OWASP's list too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_OBSERVABLE_TYPES = {"user_agent": "user-agent", "path": "file-path", "sha256": "sha256", "url": "url"}


@dataclass(frozen=True)
class IndicatorRow:
    """One observable on one server, with what the hunt said about it there."""

    type: str  # one of TYPES
    value: str
    first_seen: str  # earliest indicator time as the report wrote it ('' when no finding had a time)
    last_seen: str
    sightings: int  # distinct log lines, events or files that hold it (several rules on one line count once)
    server: str  # inventory name, or its pseudonym
    rules: tuple[str, ...]
    cves: tuple[str, ...]
    attacks: tuple[str, ...]
    severity: str  # the highest of its findings
    attempt: bool  # every finding was an attempt on a server no longer open to the campaign
    scope: str  # "public" | "private" for addresses, "" otherwise

    def csv_values(self) -> list[str]:
        return [self.type, self.value, self.scope, self.first_seen, self.last_seen, str(self.sightings), self.server,
                self.severity, "true" if self.attempt else "false", " ".join(self.attacks), " ".join(self.rules),
                " ".join(self.cves)]


class HostRedactor:
    """Replaces every inventory name, hostname and FQDN of a report's hosts, in any case, by [redacted].

    A name counts where it stands as a whole word or dotted run: 'ex16' in 'ex16.contoso.local' or
    '\\\\EX16\\c$', not in 'ex160'. Words are looked up in a set, because one regular expression
    alternating over every name costs a pass per name at every position: minutes for an MSP's
    thousand-server estate.
    """

    def __init__(self, names: Iterable[str]) -> None:
        unique = {name.strip() for name in names if name and name.strip()}
        self._names = {name.lower() for name in unique if _WORD.fullmatch(name)}
        # Names with other characters (a hostname field is free text) are rare: one expression for them,
        # longest first so that a longer name goes as a whole.
        odd = sorted((name for name in unique if not _WORD.fullmatch(name)), key=lambda n: (-len(n), n))
        self._odd = re.compile("|".join(re.escape(name) for name in odd), re.IGNORECASE) if odd else None

    @classmethod
    def of_report(cls, report: Mapping[str, Any]) -> HostRedactor:
        return cls(report_host_names(report))

    def _word(self, match: re.Match[str]) -> str:
        # Pieces between "." and "-", so that a name inside a longer word ('ex16-legacy' in
        # 'ex16-legacy-ecp', a host in its FQDN) is found; the longest run of pieces goes first.
        pieces = _SEPARATOR.split(match.group(0))  # words, with the separators at odd positions
        words = pieces[::2]
        out: list[str] = []
        index = 0
        changed = False
        while index < len(words):
            for end in range(len(words), index, -1):
                run = "".join(pieces[2 * index:2 * end - 1])
                if run.lower() in self._names:
                    out.append(REDACTED)
                    index, changed = end, True
                    break
            else:
                out.append(words[index])
                index += 1
            if index < len(words):
                out.append(pieces[2 * index - 1])
        return "".join(out) if changed else match.group(0)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._odd is not None:
            text = self._odd.sub(REDACTED, text)
        return _WORD.sub(self._word, text) if self._names else text


def report_hosts(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    hosts = report.get("hosts")
    if not isinstance(hosts, Mapping):
        return {}
    return {str(name): entry for name, entry in hosts.items() if isinstance(entry, Mapping)}


def report_host_names(report: Mapping[str, Any]) -> list[str]:
    """Every name a host of the report goes by: inventory name, hostname, FQDN and the FQDN's first label."""
    names: list[str] = []
    hosts = report.get("hosts")
    for name, entry in (hosts.items() if isinstance(hosts, Mapping) else ()):
        names.append(str(name))
        if not isinstance(entry, Mapping):
            continue
        for key in ("hostname", "fqdn"):
            value = entry.get(key)
            if isinstance(value, str) and value.strip():
                names.append(value)
                if key == "fqdn":
                    names.append(value.split(".", 1)[0])
    return names


def server_pseudonyms(report: Mapping[str, Any]) -> dict[str, str]:
    """Inventory name -> 'server-01', 'server-02', … in sorted order (stable for the same estate)."""
    hosts = report.get("hosts")
    names = sorted(str(name) for name in hosts) if isinstance(hosts, Mapping) else []
    width = max(2, len(str(len(names))))
    return {name: f"server-{number:0{width}d}" for number, name in enumerate(names, 1)}


def observable_type(key: str, value: str) -> tuple[str, str] | None:
    """(row type, value) for one entry of indicator["observables"]; None for what is not one."""
    if key == "ip":
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return None
        return ("ipv4-addr" if address.version == 4 else "ipv6-addr"), address.compressed
    kind = _OBSERVABLE_TYPES.get(key)
    if kind is None or not value.strip():
        return None
    if kind == "sha256":
        return (kind, value.strip().lower()) if _SHA256.match(value.strip()) else None
    return kind, value


def address_scope(value: str) -> str:
    """'public' for a globally routable address; 'private' for RFC 1918, loopback, link-local,
    shared (CGNAT) and documentation ranges - an address that names no one outside the network."""
    return "public" if ipaddress.ip_address(value).is_global else "private"


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass
class _Tally:
    times: list[tuple[datetime, str]]
    seen: set[tuple[str, Any, Any]]
    rules: set[str]
    cves: set[str]
    attacks: set[str]
    severity: str = ""
    attempt: bool = True


def indicator_cves(indicator: Mapping[str, Any]) -> list[str]:
    cves = indicator.get("cves")
    if isinstance(cves, list):
        return [str(cve) for cve in cves if cve]
    cve = indicator.get("cve")
    return [str(cve)] if cve else []


def indicator_rows(report: Mapping[str, Any], include_hostnames: bool = True) -> list[IndicatorRow]:
    """One row per (type, value, server), sorted by server, type (in TYPES order) and value."""
    redact = (lambda text: text) if include_hostnames else HostRedactor.of_report(report)
    pseudonyms = server_pseudonyms(report)
    tallies: dict[tuple[str, str, str], _Tally] = {}
    for name, host in sorted(report_hosts(report).items()):
        server = name if include_hostnames else pseudonyms[name]
        indicators = host.get("indicators")
        for indicator in indicators if isinstance(indicators, list) else ():
            if not isinstance(indicator, Mapping) or not isinstance(indicator.get("observables"), Mapping):
                continue
            for key, raw in indicator["observables"].items():
                if not isinstance(raw, str):
                    continue
                typed = observable_type(str(key), raw)
                if typed is None:
                    continue
                kind, value = typed[0], redact(typed[1])
                tally = tallies.setdefault((server, kind, value), _Tally([], set(), set(), set(), set()))
                _count(tally, indicator)
    rows = []
    for (server, kind, value), tally in tallies.items():
        times = sorted(tally.times)
        rows.append(IndicatorRow(
            type=kind, value=value, first_seen=times[0][1] if times else "", last_seen=times[-1][1] if times else "",
            sightings=len(tally.seen), server=server, rules=tuple(sorted(tally.rules)),
            cves=tuple(sorted(tally.cves)), attacks=tuple(sorted(tally.attacks)), severity=tally.severity,
            attempt=tally.attempt, scope=address_scope(value) if kind in ("ipv4-addr", "ipv6-addr") else "",
        ))
    rows.sort(key=lambda row: (row.server, TYPES.index(row.type), row.value))
    return rows


def _count(tally: _Tally, indicator: Mapping[str, Any]) -> None:
    time = indicator.get("time")
    time = time if isinstance(time, str) else None
    parsed = parse_time(time) if time else None
    if parsed is not None and time is not None:
        tally.times.append((parsed, time))
    source = indicator.get("source")
    # Several rules firing on one log line (or one file) are one sighting of what that line names.
    tally.seen.add((str(source).lower() if source is not None else "", indicator.get("line"), time))
    if indicator.get("rule"):
        tally.rules.add(str(indicator["rule"]))
    tally.cves.update(indicator_cves(indicator))
    if indicator.get("attack"):
        tally.attacks.add(str(indicator["attack"]))
    severity = str(indicator.get("severity") or "")
    if severity_rank(severity) > severity_rank(tally.severity):
        tally.severity = severity
    tally.attempt = tally.attempt and indicator.get("attempt") is True


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ (or tab, CR) gets a ' in front."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def indicators_csv(rows: Iterable[IndicatorRow]) -> str:
    """RFC 4180 text (CRLF line ends, quotes where needed) with a header row; write it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row.csv_values()])
    return buffer.getvalue()
