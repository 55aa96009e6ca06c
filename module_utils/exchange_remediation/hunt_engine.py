"""Hunt one evidence bundle with a rule set: findings, plus what was read per stream (hunt-spec §3-5).

Speed comes from reading each log file once: the prefilter literals of every rule whose paths match
the file go to one scan_file call, which returns only the candidate lines (those holding a
literal) together with the file's directives and its first and last data line. Only candidate
lines are decoded and parsed, each once, and a rule is evaluated on a line only when one of its
own literals occurs in it. Virtual fields (uri, page_on_disk, a file's text or YARA matches) are
computed only when a rule asks for them.

Nothing in a bundle makes the hunt raise: a missing folder, an unreadable or empty file, a file
without a header, binary junk or over-long lines become warnings on the stream they belong to,
and whatever keeps a stream from being read completely marks it capped, so that the verdict can
never be "no" on evidence that was not fully read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .bundle_paths import BundleFile, BundleIndex, ServerPaths, expand_tokens, glob_folder, normalise_windows_path
from .event_log import read_channel
from .exchange_csv_log import (
    CsvHeader,
    CsvRowParser,
    decode_line,
    detect_header,
    utc_timestamp,
)
from .file_scan import FileItem, Listing, YaraScanner, collect_files, yara_scanner
from .hunt_record import Record
from .hunt_rule import Rule, RuleOutcome, RuleSet, severity_rank
from .iis_w3c_log import IisRowParser, W3cFields, W3cLayout
from .log_prefilter import ScannedFile, scan_file

COLLECTION = "collection.json"
EVIDENCE_CHARS = 2000
MAX_STREAM_WARNINGS = 50
LOG_TYPES = ("exchange_log", "iis_log", "text", "cmdlet")

# Streams a "no" verdict needs (hunt-spec section 4), by kind of server.
STANDARD_STREAMS = ("HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders")
EVENT_STREAMS = {"Application": "Application", "MSExchangeManagement": "MSExchange Management"}
_CHANNEL_STREAMS = {channel.lower(): stream for stream, channel in EVENT_STREAMS.items()}
# Where a log stream lives when no rule file of it is found (for "present" and the missing-folder warning).
STREAM_FOLDERS = {
    "HttpProxy": ("<EX>Logging\\HttpProxy",),
    "ECP": ("<EX>Logging\\ECP\\Server",),
    "OABGenerator": ("<EX>Logging\\OABGeneratorLog",),
    "IIS": ("<IISLOG>",),
    "RpsHttp": ("<EX>Logging\\CmdletInfra\\Powershell-Proxy\\Http",),
    "RpsCmdlet": ("<EX>Logging\\CmdletInfra\\Powershell-Proxy\\Cmdlet",),
}
_TEMPORARY_ASPNET = (
    "<WINDIR>\\Microsoft.NET\\Framework64\\v4.0.30319\\Temporary ASP.NET Files",
    "<WINDIR>\\Microsoft.NET\\Framework\\v4.0.30319\\Temporary ASP.NET Files",
    "<WINDIR>\\Microsoft.NET\\Framework64\\v2.0.50727\\Temporary ASP.NET Files",
)
# The web folders (section 4): each root is one name and the folders that count as it.
WEB_FOLDER_ROOTS_15 = (
    ("<WWW>\\aspnet_client", ("<WWW>\\aspnet_client",)),
    ("<EX>FrontEnd\\HttpProxy\\owa\\auth", ("<EX>FrontEnd\\HttpProxy\\owa\\auth",)),
    ("<EX>FrontEnd\\HttpProxy\\ecp\\auth", ("<EX>FrontEnd\\HttpProxy\\ecp\\auth",)),
    ("<EX>FrontEnd\\HttpProxy\\OAB", ("<EX>FrontEnd\\HttpProxy\\OAB",)),
    (_TEMPORARY_ASPNET[0], _TEMPORARY_ASPNET),
)
# Exchange 2010 has no FrontEnd folder; OWA lives under ClientAccess.
WEB_FOLDER_ROOTS_14 = (
    ("<WWW>\\aspnet_client", ("<WWW>\\aspnet_client",)),
    ("<EX>ClientAccess\\Owa\\auth", ("<EX>ClientAccess\\Owa\\auth",)),
    (_TEMPORARY_ASPNET[0], _TEMPORARY_ASPNET),
)
PAGE_EXTENSIONS = (".aspx", ".ashx", ".asp")
PAGE_ROOTS = ("<WWW>", "<EX>FrontEnd\\HttpProxy")

_LEADING_TIME = re.compile(r'^\s*"?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?\s*(?:Z|UTC|[+-]\d\d:?\d\d)?)')
_CMDLET_MESSAGE = re.compile(r"^Cmdlet (succeeded|failed)\. Cmdlet (\S+?),? parameters (.*?)\.?\s*$",
                             re.IGNORECASE | re.DOTALL)
_EDGE_READS = (64 * 1024, 1 << 20)

# Where a finding's observables (report indicator "observables") are, by rule source type: the
# request's client address, user agent and path (log-formats.md §2, §6, §7). Only fields the row
# already holds are read, so the hunt does no extra parsing; a file's hash is the one virtual
# field read, and its finding's evidence summary has computed it already. The IIS user agent stays
# as logged ('+' for spaces): the export says so instead of guessing which '+' was a space.
_OBSERVABLE_FIELDS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "iis_log": (("ip", ("c-ip",)), ("user_agent", ("cs(User-Agent)",)), ("url", ("cs-uri-stem",))),
    "exchange_log": (("ip", ("ClientIpAddress",)), ("user_agent", ("UserAgent", "ClientInfo")),
                     ("url", ("UrlStem",))),
    "cmdlet": (("ip", ("ClientIpAddress",)),),
    "file": (("path", ("path",)), ("sha256", ("sha256",))),
}


# --------------------------------------------------------------------------------- results


@dataclass
class Finding:
    rule: str
    title: str
    attack: str
    cves: tuple[str, ...]
    severity: str
    source: str
    line: int | None
    time: str | None
    detail: str
    evidence: str
    fields: dict[str, str] = field(default_factory=dict)
    observables: dict[str, str] = field(default_factory=dict)

    def to_report(self) -> dict[str, Any]:
        report = {
            "rule": self.rule,
            "cve": self.cves[0] if self.cves else None,
            "cves": list(self.cves),
            "severity": self.severity,
            "source": self.source,
            "line": self.line,
            "time": self.time,
            "detail": self.detail,
            "title": self.title,
            "attack": self.attack,
            "evidence": self.evidence,
            "attempt": False,
        }
        if self.observables:
            # Only when there are some: findings of events and text logs keep their old shape.
            report["observables"] = dict(self.observables)
        return report


@dataclass
class SourceStats:
    stream: str
    present: bool = False
    files: int = 0
    lines: int = 0
    bytes: int = 0
    first: str | None = None
    last: str | None = None
    warnings: list[str] = field(default_factory=list)
    capped: bool = False
    required: bool = False
    omitted_warnings: int = 0

    def warn(self, message: str) -> None:
        # A stream of 10,000 broken files must not make a report of 10,000 lines.
        if len(self.warnings) < MAX_STREAM_WARNINGS:
            if message not in self.warnings:
                self.warnings.append(message)
        else:
            self.omitted_warnings += 1

    def see_time(self, first: str | None, last: str | None = None) -> None:
        for stamp in (first, last):
            if stamp is None:
                continue
            if self.first is None or stamp < self.first:
                self.first = stamp
            if self.last is None or stamp > self.last:
                self.last = stamp

    def to_report(self) -> dict[str, Any]:
        warnings = list(self.warnings)
        if self.omitted_warnings:
            warnings.append(f"… and {self.omitted_warnings} more warnings")
        return {
            "present": self.present,
            "required": self.required,
            "files": self.files,
            "lines": self.lines,
            "bytes": self.bytes,
            "first": self.first,
            "last": self.last,
            "warnings": warnings,
            "capped": self.capped,
        }


@dataclass
class BundleHunt:
    findings: list[Finding]
    sources: dict[str, SourceStats]
    excluded: dict[str, int]
    warnings: list[str]
    rules: int
    dropped: int = 0  # findings beyond max_findings_per_rule, counted but not kept
    dropped_by_rule: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HuntLimits:
    max_findings_per_rule: int = 200
    max_line_bytes: int = 1 << 20
    max_candidates_per_file: int = 100_000


# --------------------------------------------------------------------------------- observables


def finding_observables(source_type: str, record: Record) -> dict[str, str]:
    """ip, user_agent, url, path and sha256 of one finding's record: only the keys that have a value."""
    found: dict[str, str] = {}
    for key, names in _OBSERVABLE_FIELDS.get(source_type, ()):
        for name in names:
            value = record.get(name)
            if isinstance(value, str) and value.strip() and value != "-":
                found[key] = value.strip()
                break
    if "ip" in found:
        address = client_address(found["ip"])
        if address:
            found["ip"] = address
        else:
            del found["ip"]
    if "sha256" in found:
        # A listing may carry a damaged hash; an observable is a real SHA-256 or nothing.
        digest = found.pop("sha256").lower()
        if re.fullmatch(r"[0-9a-f]{64}", digest):
            found["sha256"] = digest
    return found


def client_address(value: str) -> str | None:
    """The client of a logged address: the first of a proxy chain ('203.0.113.77 10.0.10.5'),
    without an IPv6 zone ('%12') or brackets; None when it is no IP address."""
    first = value.replace(",", " ").split()[0] if value.split() else ""
    first = first.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(first).compressed
    except ValueError:
        return None


# --------------------------------------------------------------------------------- server kind


def exchange_major(server: Mapping[str, Any] | None) -> int | None:
    return ServerPaths.from_server(server).major


def server_roles(server: Mapping[str, Any] | None) -> set[str]:
    exchange = server.get("exchange") if isinstance(server, Mapping) else None
    roles = exchange.get("roles") if isinstance(exchange, Mapping) else None
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list | tuple):
        return set()
    return {str(role).replace(" ", "").lower() for role in roles}


def required_streams(server: Mapping[str, Any] | None) -> frozenset[str]:
    """Streams a "no" needs on this server: Edge and Exchange 2010 have no HttpProxy, ECP or OAB logs."""
    roles = server_roles(server)
    if "edgetransport" in roles or "edge" in roles:
        return frozenset({"Application", "MSExchangeManagement"})
    if exchange_major(server) == 14:
        return frozenset({"Application", "MSExchangeManagement", "WebFolders"})
    if not roles or "mailbox" in roles:
        return frozenset(STANDARD_STREAMS)
    # Exchange 2013 Client Access only: the front end proxies, the Mailbox server keeps ECP and OAB.
    return frozenset({"HttpProxy", "Application", "MSExchangeManagement", "WebFolders"})


# --------------------------------------------------------------------------------- cmdlets


def parse_parameters(text: str) -> dict[str, str]:
    """PowerShell-style '-Name "value" -Other 'v' -Plain v -Switch -Colon:$false' as {Name: value}.

    Doubled quotes inside a quoted value are one quote; a switch (a name followed by another name
    or the end) is 'True'; the first occurrence of a name wins.
    """
    params: dict[str, str] = {}
    position, length = 0, len(text)
    while position < length:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            break
        if text[position] != "-" or position + 1 >= length or not (text[position + 1].isalpha()
                                                                     or text[position + 1] == "_"):
            _value, position = _read_value(text, position)  # a positional argument: skipped
            continue
        start = position + 1
        position = start
        while position < length and not text[position].isspace() and text[position] != ":":
            position += 1
        name = text[start:position]
        if position < length and text[position] == ":":
            value, position = _read_value(text, position + 1)
        else:
            look = position
            while look < length and text[look].isspace():
                look += 1
            if look >= length or (text[look] == "-" and look + 1 < length and text[look + 1].isalpha()):
                value = "True"
            else:
                value, position = _read_value(text, look)
        if name:
            params.setdefault(name, value)
    return params


def _read_value(text: str, position: int) -> tuple[str, int]:
    length = len(text)
    if position >= length:
        return "", position
    quote = text[position]
    if quote in "\"'":
        parts: list[str] = []
        position += 1
        while position < length:
            end = text.find(quote, position)
            if end < 0:
                parts.append(text[position:])
                position = length
                break
            parts.append(text[position:end])
            if end + 1 < length and text[end + 1] == quote:
                parts.append(quote)
                position = end + 2
                continue
            position = end + 1
            break
        value = "".join(parts)
        # '"a","b"' and the like: what follows the closing quote up to a space belongs to the value.
        tail_start = position
        while position < length and not text[position].isspace():
            position += 1
        return value + text[tail_start:position], position
    start = position
    while position < length and not text[position].isspace():
        position += 1
    return text[start:position], position


def add_cmdlet_fields(fields: dict[str, Any]) -> None:
    """Normalise a Cmdlet-log row to the cmdlet fields (section 2): param.<Name>, TimeCreated."""
    lower = {str(name).lower(): name for name in fields}
    parameters = fields.get(lower.get("parameters", ""), "") or ""
    for name, value in parse_parameters(str(parameters)).items():
        fields.setdefault(f"param.{name}", value)
    if "timecreated" not in lower and "datetime" in lower:
        fields["TimeCreated"] = fields[lower["datetime"]]


def cmdlet_event_fields(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """An MSExchange Management event as cmdlet fields; None when it names no cmdlet."""
    fields = event_fields(event)
    properties = event.get("Properties")
    properties = list(properties) if isinstance(properties, list | tuple) else []
    cmdlet = _text(properties[0]) if properties else ""
    parameters = _text(properties[1]) if len(properties) > 1 else ""
    message = _text(event.get("Message"))
    parsed = _CMDLET_MESSAGE.match(message) if message else None
    if not cmdlet and parsed:
        cmdlet, parameters = parsed.group(2), parsed.group(3)
    if not cmdlet:
        return None
    if parsed:
        result = "Success" if parsed.group(1).lower() == "succeeded" else "Error"
    else:
        result = {"1": "Success", "6": "Error"}.get(_text(event.get("Id")), "")
    fields.update({
        "Cmdlet": cmdlet,
        "Parameters": parameters,
        "ExecutionResult": result,
        "AuthenticatedUser": _text(properties[2]) if len(properties) > 2 else "",
        "DateTime": fields.get("TimeCreated", ""),
    })
    for name, value in parse_parameters(parameters).items():
        fields.setdefault(f"param.{name}", value)
    return fields


def event_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("TimeCreated", "Id", "ProviderName", "LevelDisplayName", "Level", "Message"):
        fields[name] = _text(event.get(name))
    properties = event.get("Properties")
    if isinstance(properties, list | tuple):
        for index, value in enumerate(properties):
            fields[f"Properties.{index}"] = _text(value)
    return fields


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def leading_time(text: str) -> str | None:
    match = _LEADING_TIME.match(text)
    return utc_timestamp(match.group(1)) if match else None


# --------------------------------------------------------------------------------- live bundles


@dataclass
class _Collection:
    """collection.json of a live bundle: what was read on the server (hunt-spec section 5)."""

    present: bool = False
    tokens: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    caps_hit: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    roots: list[dict[str, Any]] = field(default_factory=list)
    warning: str | None = None

    @classmethod
    def read(cls, bundle_dir: str) -> _Collection:
        path = os.path.join(bundle_dir, COLLECTION)
        if not os.path.isfile(path):
            return cls()
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read().decode("utf-8-sig"))
        except (OSError, ValueError) as exc:
            # A live bundle whose record of what was read is lost: nothing says the logs are complete.
            return cls(present=True, warning=f"{COLLECTION} cannot be read ({exc}); line counts and caps unknown")
        if not isinstance(data, Mapping):
            return cls(present=True, warning=f"{COLLECTION} is not a JSON object; line counts and caps unknown")
        files = data.get("files") if isinstance(data.get("files"), Mapping) else {}
        events = data.get("events") if isinstance(data.get("events"), Mapping) else {}
        return cls(
            present=True,
            tokens=dict(data["tokens"]) if isinstance(data.get("tokens"), Mapping) else {},
            files={normalise_windows_path(str(path)).lower(): dict(entry) for path, entry in files.items()
                   if isinstance(entry, Mapping)},
            events={str(channel).lower(): dict(entry) for channel, entry in events.items()
                    if isinstance(entry, Mapping)},
            caps_hit=[dict(cap) for cap in data.get("caps_hit") or [] if isinstance(cap, Mapping)],
            errors=[str(error) for error in data.get("errors") or []],
            roots=[dict(root) for root in data.get("roots") or [] if isinstance(root, Mapping)],
        )

    def file(self, windows_path: str) -> dict[str, Any] | None:
        return self.files.get(windows_path.lower())

    def found_folders(self) -> set[str]:
        return {normalise_windows_path(str(root["path"])).rstrip("\\").lower()
                for root in self.roots if root.get("found") and isinstance(root.get("path"), str)}


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --------------------------------------------------------------------------------- the hunt


@dataclass
class _Pending:
    rule: Rule
    finding: Finding


class _FileReader:
    """Parses the candidate lines of one log file for the source types of the rules reading it."""

    def __init__(self, hunt: _Hunt, stream: str, scanned: ScannedFile, kinds: set[str]) -> None:
        self.hunt = hunt
        self.stream = stream
        self.scanned = scanned
        self.kinds = kinds
        self.warnings: list[str] = []
        self._csv: CsvRowParser | None = None
        self._cmdlet: CsvRowParser | None = None
        self._iis: IisRowParser | None = None
        self._header: CsvHeader | None = None
        if kinds & {"exchange_log", "cmdlet"}:
            self._header = self._csv_header()
        if "iis_log" in kinds:
            self._iis = self._iis_parser()

    def _csv_header(self) -> CsvHeader | None:
        header = detect_header(self.scanned.directives, self.scanned.first_data)
        if header is not None:
            return header
        if self.scanned.first_data is None:
            return None  # no data at all: the empty-file warning says enough
        default = self.hunt.rule_set.headers.get(self.stream)
        if default and "#fields:" not in default[:8].lower():
            self.warnings.append(f"no #Fields line and no header line; read with the default {self.stream} header")
            return CsvHeader.parse(default, "default")
        self.warnings.append("no #Fields line and no header line; rows can only be matched as raw lines")
        return CsvHeader((), "none")

    def _iis_parser(self) -> IisRowParser:
        layout = W3cLayout.from_directives(self.scanned.directives)
        default = None
        if not layout.blocks:
            header = self.hunt.rule_set.headers.get("IIS")
            if self.scanned.first_data is not None:
                self.warnings.append("no #Fields line; read with the default IIS field list"
                                     if header else "no #Fields line; rows can only be matched as raw lines")
            default = W3cFields.parse(header) if header else W3cFields(0, ())
        return IisRowParser(layout, self.hunt.tokens, default, self.hunt.page_on_disk)

    def csv_parser(self, kind: str) -> CsvRowParser | None:
        if self._header is None:
            return None
        if kind == "cmdlet":
            if self._cmdlet is None:
                self._cmdlet = CsvRowParser(self._header, self.hunt.tokens, self.hunt.page_on_disk, add_cmdlet_fields)
            return self._cmdlet
        if self._csv is None:
            self._csv = CsvRowParser(self._header, self.hunt.tokens, self.hunt.page_on_disk)
        return self._csv

    def record(self, kind: str, number: int, text: str) -> tuple[Record, str | None] | None:
        if kind == "iis_log":
            return self._iis.record(number, text) if self._iis is not None else None
        parser = self.csv_parser(kind)
        return parser.record(text) if parser is not None else None

    @property
    def short_rows(self) -> int:
        return sum(parser.short_rows for parser in (self._csv, self._cmdlet) if parser is not None)

    def time_of(self, number: int, text: str) -> str | None:
        if "iis_log" in self.kinds and self._iis is not None:
            return self._iis.time_of(number, text)
        if self._header is not None and self._header.names:
            if self._header.is_header_row(text):
                return None
            return self._header.time_of(text)
        return leading_time(text)


class _Hunt:
    def __init__(self, bundle_dir: str, rule_set: RuleSet, server: Mapping[str, Any] | None,
                 limits: HuntLimits) -> None:
        self.bundle_dir = bundle_dir
        self.rule_set = rule_set
        self.limits = limits
        self.collection = _Collection.read(bundle_dir)
        self.paths = ServerPaths.from_server(server).with_tokens(self.collection.tokens)
        self.tokens = self.paths.tokens()
        self.major = self.paths.major
        self.required = required_streams(server)
        self.edge = bool(server_roles(server) & {"edgetransport", "edge"})
        self.warnings: list[str] = []
        self.index = BundleIndex.build(bundle_dir)
        self.listing = Listing.read(bundle_dir)
        self.root_folders = self.collection.found_folders()
        self.sources: dict[str, SourceStats] = {}
        self.findings: list[Finding] = []
        self.excluded: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.kept: dict[str, int] = {}
        self.pending: list[_Pending] = []
        self.pending_count: dict[str, int] = {}
        self.pending_excluded: dict[str, int] = {}
        self.pending_dropped: dict[str, int] = {}
        self.stream_folders: dict[str, list[str]] = {}
        self._pages: dict[str, bool] = {}
        self._literals = {rule.id: tuple({literal.lower() for literal in rule.prefilter if literal})
                          for rule in rule_set.rules}
        self.warnings.extend(self.index.warnings)
        self.warnings.extend(self.listing.warnings)
        if self.collection.warning:
            self.warnings.append(self.collection.warning)

    # ------------------------------------------------------------------ bookkeeping

    def stats(self, stream: str) -> SourceStats:
        stats = self.sources.get(stream)
        if stats is None:
            stats = self.sources[stream] = SourceStats(stream, False)
        return stats

    def emit(self, rule: Rule, outcome: RuleOutcome, record: Record, source: str, line: int | None,
             time: str | None, evidence: Callable[[], str]) -> None:
        if rule.requires_attack_hit:
            # Held until every other rule has run: kept only when its attack hit on this host.
            if outcome.excluded_by:
                self.pending_excluded[rule.id] = self.pending_excluded.get(rule.id, 0) + 1
                return
            count = self.pending_count.get(rule.id, 0)
            self.pending_count[rule.id] = count + 1
            if count < self.limits.max_findings_per_rule:
                self.pending.append(_Pending(rule, self.finding(rule, outcome, record, source, line, time, evidence)))
            else:
                self.pending_dropped[rule.id] = self.pending_dropped.get(rule.id, 0) + 1
            return
        if outcome.excluded_by:
            self.excluded[rule.id] = self.excluded.get(rule.id, 0) + 1
            return
        self.keep(rule, self.finding(rule, outcome, record, source, line, time, evidence))

    def keep(self, rule: Rule, finding: Finding) -> None:
        kept = self.kept.get(rule.id, 0)
        if kept >= self.limits.max_findings_per_rule:
            self.dropped[rule.id] = self.dropped.get(rule.id, 0) + 1
            return
        self.kept[rule.id] = kept + 1
        self.findings.append(finding)

    @staticmethod
    def finding(rule: Rule, outcome: RuleOutcome, record: Record, source: str, line: int | None,
                time: str | None, evidence: Callable[[], str]) -> Finding:
        fields: dict[str, str] = {}
        for name in rule.report_fields:
            value = record.get(name)
            fields[name] = ", ".join(value) if isinstance(value, list) else value
        return Finding(
            rule=rule.id, title=rule.title, attack=rule.attack, cves=tuple(rule.cves), severity=outcome.severity,
            source=source, line=line, time=time, detail=outcome.detail, evidence=evidence()[:EVIDENCE_CHARS],
            fields=fields, observables=finding_observables(rule.source.type, record),
        )

    def resolve_pending(self) -> None:
        # Scanning and Microsoft's own nmap check leave low findings on clean servers; only a
        # medium or worse finding of the attack makes its follow-up rules worth evaluating.
        medium = severity_rank("medium")
        hit = {finding.attack for finding in self.findings if severity_rank(finding.severity) >= medium}
        for item in self.pending:
            if item.rule.requires_attack_hit in hit:
                self.keep(item.rule, item.finding)
        for rule in self.rule_set.rules:
            if rule.requires_attack_hit not in hit:
                continue
            if self.pending_excluded.get(rule.id):
                self.excluded[rule.id] = self.excluded.get(rule.id, 0) + self.pending_excluded[rule.id]
            if self.pending_dropped.get(rule.id):
                self.dropped[rule.id] = self.dropped.get(rule.id, 0) + self.pending_dropped[rule.id]

    def page_on_disk(self, stem: str) -> bool:
        """Whether the requested page (.aspx/.ashx/.asp) is in the evidence under <WWW> or the front end."""
        known = self._pages.get(stem)
        if known is not None:
            return known
        path = stem
        for _round in range(3):
            decoded = unquote(path)
            if decoded == path:
                break
            path = decoded
        path = path.split("?", 1)[0].split("#", 1)[0]
        found = False
        if path.lower().endswith(PAGE_EXTENSIONS):
            relative = "\\".join(part for part in path.replace("\\", "/").split("/") if part and part != ".")
            if ".." not in relative.split("\\"):
                for root in PAGE_ROOTS:
                    windows = expand_tokens(root, self.tokens).rstrip("\\") + "\\" + relative
                    if self.index.find(windows) is not None or self.listing.find(windows) is not None:
                        found = True
                        break
        self._pages[stem] = found
        return found

    def folder_exists(self, windows_path: str) -> bool:
        key = normalise_windows_path(windows_path).rstrip("\\")
        if not key:
            return False
        return (self.index.has_folder(key) or self.listing.has_folder(key) or key.lower() in self.root_folders
                or any(name.startswith(key.lower() + "\\") for name in self.listing.entries))

    # ------------------------------------------------------------------ logs

    def file_stream(self, rule: Rule) -> str:
        # A cmdlet rule reads both Cmdlet logs and events; its log files are the RpsCmdlet stream,
        # never the event stream a "no" needs.
        stream = rule.source.stream
        if rule.source.type == "cmdlet" and stream in EVENT_STREAMS:
            return "RpsCmdlet"
        return stream

    def hunt_logs(self) -> None:
        plan: dict[str, tuple[BundleFile, list[Rule]]] = {}
        for rule in self.rule_set.rules:
            if rule.source.type not in LOG_TYPES or not rule.source.paths:
                continue
            stream = self.file_stream(rule)
            self.stats(stream)
            for pattern in rule.source.paths:
                expanded = expand_tokens(pattern, self.tokens)
                self.stream_folders.setdefault(stream, []).append(glob_folder(expanded))
                for copy in self.index.glob(expanded):
                    entry = plan.setdefault(copy.windows_path.lower(), (copy, []))
                    if rule not in entry[1]:
                        entry[1].append(rule)
        for key in sorted(plan):
            copy, rules = plan[key]
            try:
                self.hunt_log_file(copy, rules)
            except Exception as exc:  # a parser fault on one file must not cost the other files
                for stream in {self.file_stream(rule) for rule in rules}:
                    stats = self.stats(stream)
                    stats.present = True
                    stats.capped = True
                    stats.warn(f"{copy.windows_path}: not fully read ({type(exc).__name__}: {exc})")

    def hunt_log_file(self, copy: BundleFile, rules: list[Rule]) -> None:
        streams: list[str] = []
        for rule in rules:
            stream = self.file_stream(rule)
            if stream not in streams:
                streams.append(stream)
        literals: list[str] = []
        for rule in rules:
            for literal in rule.prefilter:
                if literal and literal not in literals:
                    literals.append(literal)
        live = self.collection.file(copy.windows_path)
        try:
            scanned = scan_file(copy.local_path, literals, max_line_bytes=self.limits.max_line_bytes,
                                max_candidates=self.limits.max_candidates_per_file)
        except OSError as exc:
            for stream in streams:
                stats = self.stats(stream)
                stats.present = True
                stats.files += 1
                stats.capped = True
                stats.warn(f"{copy.windows_path}: unreadable ({exc.strerror or exc})")
            return

        reader = _FileReader(self, streams[0], scanned, {rule.source.type for rule in rules})
        first = self.edge_time(copy, scanned, reader, at_end=False)
        last = self.edge_time(copy, scanned, reader, at_end=True)
        file_warnings = [f"{copy.windows_path}: {warning}" for warning in scanned.warnings]
        if scanned.bytes == 0 or scanned.lines == 0:
            file_warnings.append(f"{copy.windows_path}: empty file")
        elif scanned.first_data is None:
            file_warnings.append(f"{copy.windows_path}: no data lines (directives only)")

        numbers = live.get("line_numbers") if live else None
        numbers = numbers if isinstance(numbers, list) else None

        def original(number: int) -> int:
            if numbers and 0 < number <= len(numbers):
                return _int(numbers[number - 1]) or number
            return number

        # Each distinct literal is looked for once per line; a rule runs when one of its own is
        # there, and rules run in the order given (requires_attack_hit rules are held anyway).
        literal_rules: dict[str, list[int]] = {}
        for position, rule in enumerate(rules):
            for literal in self._literals[rule.id]:
                literal_rules.setdefault(literal, []).append(position)
        file_literals = tuple(literal_rules)
        # The yara-x search says which of the call's literals each candidate holds (bit i is
        # literals[i]); without it, or for a line it could not tell, every literal is tested.
        masks = scanned.candidate_masks
        bit_literals = tuple((1 << index, literal.lower()) for index, literal in enumerate(literals))
        # Most candidates of a file hold the same literal or two: their rules are worked out once.
        mask_positions: dict[int, tuple[int, ...]] = {}
        bad_text = 0
        for index, (number, raw) in enumerate(scanned.candidates):
            text, bad = decode_line(raw)
            bad_text += bad
            mask = masks[index] if masks is not None else 0
            positions: Iterable[int]
            if mask:
                known = mask_positions.get(mask)
                if known is None:
                    named = dict.fromkeys(literal for bit, literal in bit_literals if mask & bit)
                    known = tuple(sorted({position for literal in named
                                          for position in literal_rules.get(literal, ())}))
                    mask_positions[mask] = known
                if not known:
                    continue
                positions = known
            else:
                lower = text.lower()
                found = [literal for literal in file_literals if literal in lower]
                if not found:
                    continue
                if len(found) == 1:
                    positions = literal_rules[found[0]]
                else:
                    positions = sorted({position for literal in found for position in literal_rules[literal]})
            parsed: dict[str, tuple[Record, str | None] | None] = {}
            for position in positions:
                rule = rules[position]
                kind = rule.source.type
                if kind == "text":
                    result = self.text_record(rule, text)
                else:
                    if kind not in parsed:
                        parsed[kind] = reader.record(kind, number, text)
                    result = parsed[kind]
                if result is None:
                    continue
                record, time = result
                outcome = rule.evaluate(record)
                if outcome is not None:
                    self.emit(rule, outcome, record, copy.windows_path, original(number), time,
                              lambda text=text: text)
        if bad_text:
            file_warnings.append(
                f"{copy.windows_path}: {bad_text} lines with non-UTF-8 bytes, decoded with replacement")
        if reader.short_rows:
            file_warnings.append(f"{copy.windows_path}: {reader.short_rows} rows have fewer columns than the header "
                                 "(cut short?); missing columns read as empty")
        file_warnings.extend(f"{copy.windows_path}: {warning}" for warning in reader.warnings)

        for stream in streams:
            stats = self.stats(stream)
            stats.present = True
            stats.files += 1
            stats.lines += _int(live.get("lines")) if live and "lines" in live else scanned.lines
            stats.bytes += _int(live.get("bytes")) if live and "bytes" in live else scanned.bytes
            stats.capped = stats.capped or scanned.capped or bool(live and live.get("capped"))
            stats.see_time(first, last)
            for warning in file_warnings:
                stats.warn(warning)
            if live and live.get("capped"):
                stats.warn(f"{copy.windows_path}: only part of the file was collected (cap reached on the server)")

    def text_record(self, rule: Rule, text: str) -> tuple[Record, str | None] | None:
        captures = rule.captures(text)
        if captures is None:
            return None  # the rule's extract does not match: the line is not of the kind it describes
        return Record(captures, self.tokens, {"line": lambda: text}), leading_time(text)

    def edge_time(self, copy: BundleFile, scanned: ScannedFile, reader: _FileReader, at_end: bool) -> str | None:
        """Time of the first (last) data line; when that line has none (a bare header, a summary
        row, a cut line), the nearest timed line from the file's head (tail)."""
        edge = scanned.last_data if at_end else scanned.first_data
        if edge is None:
            return None
        text, _bad = decode_line(edge[1])
        stamp = reader.time_of(edge[0], text)
        if stamp is not None:
            return stamp
        for size in _EDGE_READS:
            lines = _edge_lines(copy.local_path, size, at_end)
            if lines is None:
                return None
            for raw in reversed(lines) if at_end else lines:
                if not raw.strip() or raw.startswith(b"#"):
                    continue
                text, _bad = decode_line(raw)
                stamp = reader.time_of(scanned.lines if at_end else edge[0], text)
                if stamp is not None:
                    return stamp
            if size >= copy.size:
                break
        return None

    # ------------------------------------------------------------------ events

    def channel_stream(self, channel: str, rules: Iterable[Rule]) -> str:
        stream = _CHANNEL_STREAMS.get(channel.lower())
        if stream:
            return stream
        for rule in rules:
            if rule.source.type == "event" and rule.source.stream not in EVENT_STREAMS:
                return rule.source.stream
        return re.sub(r"[^A-Za-z0-9]", "", channel) or channel

    def hunt_events(self) -> None:
        channels: dict[str, tuple[str, list[Rule]]] = {}
        for stream, channel in EVENT_STREAMS.items():
            self.stats(stream)
            channels.setdefault(channel.lower(), (channel, []))
        for rule in self.rule_set.rules:
            if rule.source.type not in ("event", "cmdlet"):
                continue
            for channel in rule.source.channels:
                entry = channels.setdefault(channel.lower(), (channel, []))
                if rule not in entry[1]:
                    entry[1].append(rule)
        for key in sorted(channels):
            channel, rules = channels[key]
            stream = self.channel_stream(channel, rules)
            stats = self.stats(stream)
            try:
                self.hunt_channel(channel, rules, stats)
            except Exception as exc:
                stats.capped = True
                stats.warn(f"event log {channel}: not fully read ({type(exc).__name__}: {exc})")

    def hunt_channel(self, channel: str, rules: list[Rule], stats: SourceStats) -> None:
        read = read_channel(self.bundle_dir, channel)
        live = self.collection.events.get(channel.lower())
        if read is None:
            if live and live.get("error"):
                stats.capped = True
                stats.warn(f"event log {channel}: not read on the server ({live['error']})")
            else:
                stats.warn(f"event log {channel}: not in the evidence")
            return
        stats.present = True
        stats.files += len(read.files)
        stats.lines += _int(live.get("count")) if live and "count" in live else read.count
        for relative in read.files:
            with contextlib.suppress(OSError):
                stats.bytes += os.path.getsize(os.path.join(self.bundle_dir, *relative.split("/")))
        stats.see_time(utc_timestamp(read.first), utc_timestamp(read.last))
        if live:
            stats.see_time(utc_timestamp(live.get("first")), utc_timestamp(live.get("last")))
            if live.get("capped"):
                stats.capped = True
                stats.warn(f"event log {channel}: only {_int(live.get('kept'))} of {_int(live.get('count'))} "
                           "events were collected (cap reached on the server)")
            if live.get("error"):
                stats.warn(f"event log {channel}: {live['error']}")
        for warning in read.warnings:
            stats.warn(f"event log {channel}: {warning}")
        if not rules:
            return
        event_rules = [rule for rule in rules if rule.source.type == "event"]
        cmdlet_rules = [rule for rule in rules if rule.source.type == "cmdlet"]
        source = f"eventlog:{channel}"
        for event in read.events:
            if not isinstance(event, Mapping):
                continue
            haystack: str | None = None
            line: str | None = None
            plain: Record | None = None
            cmdlet: Record | None = None
            cmdlet_done = False
            time = utc_timestamp(event.get("TimeCreated"))
            for rule in (*event_rules, *cmdlet_rules):
                literals = self._literals[rule.id]
                if literals:
                    if haystack is None:
                        haystack = _event_haystack(event)
                    if not any(literal in haystack for literal in literals):
                        continue
                if line is None:
                    line = json.dumps(event, ensure_ascii=False, default=str)
                if rule.source.type == "event":
                    if plain is None:
                        plain = Record(event_fields(event), self.tokens, {"line": lambda line=line: line})
                    record = plain
                else:
                    if not cmdlet_done:
                        cmdlet_done = True
                        fields = cmdlet_event_fields(event)
                        cmdlet = (Record(fields, self.tokens, {"line": lambda line=line: line})
                                  if fields is not None else None)
                    if cmdlet is None:
                        continue
                    record = cmdlet
                outcome = rule.evaluate(record)
                if outcome is not None:
                    self.emit(rule, outcome, record, source, None, time, lambda line=line: line)

    # ------------------------------------------------------------------ files

    def hunt_files(self) -> None:
        rules = self.rule_set.of_type("file")
        scanner: YaraScanner | None = None
        if self.rule_set.yara_source.strip() and any("yara" in rule.fields_used for rule in rules):
            scanner = yara_scanner(self.rule_set.yara_source)
            if scanner.error:
                for stream in sorted({rule.source.stream for rule in rules if "yara" in rule.fields_used}
                                     | {"WebFolders"}):
                    stats = self.stats(stream)
                    stats.capped = True
                    stats.warn(scanner.error)
        plan: dict[str, tuple[FileItem, list[Rule]]] = {}
        for rule in rules:
            self.stats(rule.source.stream)
            patterns = [expand_tokens(pattern, self.tokens) for pattern in rule.source.paths]
            self.stream_folders.setdefault(rule.source.stream, []).extend(glob_folder(p) for p in patterns)
            for item in collect_files(self.index, self.listing, patterns):
                entry = plan.setdefault(item.windows_path.lower(), (item, []))
                entry[1].append(rule)
        for key in sorted(plan):
            item, item_rules = plan[key]
            record = item.record(self.tokens, scanner)
            for stream in dict.fromkeys(rule.source.stream for rule in item_rules):
                stats = self.stats(stream)
                stats.present = True
                stats.files += 1
                stats.bytes += item.size
            for rule in item_rules:
                try:
                    outcome = rule.evaluate(record)
                except Exception as exc:
                    stats = self.stats(rule.source.stream)
                    stats.capped = True
                    stats.warn(f"{item.windows_path}: {rule.id} could not be evaluated ({type(exc).__name__}: {exc})")
                    continue
                if outcome is not None:
                    self.emit(rule, outcome, record, item.windows_path, None, item.modified,
                              lambda item=item: item.summary(scanner))
            for error in item.errors:
                for stream in dict.fromkeys(rule.source.stream for rule in item_rules):
                    stats = self.stats(stream)
                    stats.capped = True
                    stats.warn(error)

    # ------------------------------------------------------------------ presence

    def web_folders(self) -> None:
        stats = self.stats("WebFolders")
        roots = WEB_FOLDER_ROOTS_14 if self.major == 14 else WEB_FOLDER_ROOTS_15
        missing = []
        for name, folders in roots:
            if any(self.folder_exists(expand_tokens(folder, self.tokens)) for folder in folders):
                stats.present = True
            else:
                missing.append(expand_tokens(name, self.tokens))
        if self.applies("WebFolders"):
            for name in missing:
                stats.warn(f"folder {name} not in the evidence")

    def applies(self, stream: str) -> bool:
        """False for a log stream this kind of server does not have (Edge has no IIS and no front
        end, Exchange 2010 no HttpProxy, ECP, OAB generator or CmdletInfra logs): its absence is no
        gap in the evidence and deserves no warning."""
        if stream in self.required:
            return True
        if stream in STANDARD_STREAMS:
            return False
        if self.edge:
            return stream in ("SystemFiles",)
        return not (self.major == 14 and stream in ("RpsHttp", "RpsCmdlet"))

    def log_presence(self) -> None:
        for stream, stats in self.sources.items():
            if stream == "WebFolders" or stream in EVENT_STREAMS:
                continue
            folders = list(dict.fromkeys(
                [*self.stream_folders.get(stream, []),
                 *(expand_tokens(folder, self.tokens) for folder in STREAM_FOLDERS.get(stream, ()))]))
            if stats.present or not folders:
                continue
            existing = [folder for folder in folders if folder and self.folder_exists(folder)]
            if existing:
                stats.present = True
                stats.warn(f"no {stream} files found in {existing[0]}")
            elif self.applies(stream):
                stats.warn(f"folder {folders[0]} not in the evidence")

    def live_overrides(self) -> None:
        collection = self.collection
        if not collection.present:
            return
        if collection.warning:
            for stream in self.required:
                self.stats(stream).capped = True
        for path, entry in collection.files.items():
            stream = entry.get("stream")
            if not isinstance(stream, str) or not stream:
                continue
            if entry.get("read", True) and (entry.get("bundle_path") or self.index.find(path)):
                continue
            stats = self.stats(stream)
            stats.present = True
            stats.files += 1
            stats.lines += _int(entry.get("lines"))
            stats.bytes += _int(entry.get("bytes"))
            stats.capped = True
            reason = "the collection cap was reached" if not entry.get("read", True) else "it could not be written"
            stats.warn(f"{path}: not in the bundle ({reason})")
        for cap in collection.caps_hit:
            stream = cap.get("stream")
            detail = cap.get("detail") or cap.get("cap") or "a collection cap"
            source = f" ({cap['source']})" if cap.get("source") else ""
            if isinstance(stream, str) and stream:
                stats = self.stats(stream)
                stats.capped = True
                stats.warn(f"collection cap hit{source}: {detail}")
            else:
                # A cap that names no stream may have cut any of them.
                for name in self.required:
                    stats = self.stats(name)
                    stats.capped = True
                    stats.warn(f"collection cap hit{source}: {detail}")
        self.warnings.extend(f"collection: {error}" for error in collection.errors)

    def run(self) -> BundleHunt:
        for stream in STANDARD_STREAMS:
            self.stats(stream)
        self.hunt_logs()
        self.hunt_events()
        self.hunt_files()
        self.live_overrides()
        self.web_folders()
        self.log_presence()
        self.resolve_pending()
        for stream, stats in self.sources.items():
            stats.required = stream in self.required
        return BundleHunt(
            findings=self.findings,
            sources=dict(sorted(self.sources.items())),
            excluded=dict(sorted(self.excluded.items())),
            warnings=self.warnings,
            rules=len(self.rule_set.rules),
            dropped=sum(self.dropped.values()),
            dropped_by_rule=dict(sorted(self.dropped.items())),
        )


def _event_haystack(event: Mapping[str, Any]) -> str:
    """The event's values as plain text (not JSON, whose escaping would hide literals with '\\')."""
    parts = [_text(event.get(name)) for name in ("ProviderName", "Message", "LevelDisplayName")]
    properties = event.get("Properties")
    if isinstance(properties, list | tuple):
        parts.extend(_text(value) for value in properties)
    return "\n".join(parts).lower()


def _edge_lines(path: str, size: int, at_end: bool) -> list[bytes] | None:
    """Whole lines of the first (last) size bytes of a file; a partial line at the cut is dropped."""
    try:
        with open(path, "rb") as handle:
            if at_end:
                handle.seek(0, os.SEEK_END)
                length = handle.tell()
                handle.seek(max(0, length - size))
                data = handle.read(size)
                cut = length > size
            else:
                data = handle.read(size + 1)
                cut = len(data) > size
                data = data[:size]
    except OSError:
        return None
    lines = data.replace(b"\r", b"").split(b"\n")
    if cut:
        lines = lines[1:] if at_end else lines[:-1]
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    return lines


def hunt_bundle(bundle_dir: str, rule_set: RuleSet, server: Mapping[str, Any] | None,
                limits: HuntLimits = HuntLimits()) -> BundleHunt:
    """Hunt one bundle. Never raises on bundle content (see the module docstring)."""
    return _Hunt(bundle_dir, rule_set, server, limits).run()
