"""Indicator rules: load data/indicators/ (rules, named lists, default log headers, YARA source)
and evaluate one rule against one Record (docs/hunt-rules.md).

Everything a rule can get wrong is checked here, when the set is loaded: schema, id equal to the
file name, unique ids, known list names, operators and values, regexes, detail placeholders and
field names the rule's source type cannot produce. A hunt that starts therefore never trips over
a rule.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .hunt_condition import Condition, ConditionError, compile_condition, condition_fields
from .hunt_record import Record

RULES_DIR = os.path.join("indicators", "rules")
LISTS_DIR = os.path.join("indicators", "lists")
HEADERS_FILE = os.path.join("indicators", "log-headers.yml")
YARA_FILE = os.path.join("indicators", "webshells.yar")
RULE_SCHEMA = os.path.join("schemas", "indicator-rule.schema.json")
LIST_SCHEMA = os.path.join("schemas", "indicator-list.schema.json")

SEVERITIES = ("low", "medium", "high", "critical")
ATTACKS = ("ProxyLogon", "ProxyShell", "ProxyNotShell", "OWASSRF", "ProxyToken", "Webshell",
           "PostExploitation", "Context", "Other")
SOURCE_TYPES = ("exchange_log", "iis_log", "cmdlet", "event", "text", "file")
# Types whose records are lines of text files: the collector and the engine keep only lines that
# hold a prefilter literal, so such a rule must name at least one.
LINE_TYPES = ("exchange_log", "iis_log", "text")
HEADER_KEYS = ("HttpProxy", "ECP", "RpsHttp", "RpsCmdlet", "IIS")

_ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)+$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.()\-]+)\}")
_DETAIL_CUT = 200

# Fields each source type produces (hunt-spec section 2), besides the columns of its log header.
_IIS_FIELDS = frozenset({
    "date", "time", "s-sitename", "s-computername", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query",
    "s-port", "cs-username", "c-ip", "cs-version", "cs(user-agent)", "cs(cookie)", "cs(referer)", "cs-host",
    "sc-status", "sc-substatus", "sc-win32-status", "sc-bytes", "cs-bytes", "time-taken",
})
_WEB_VIRTUAL = frozenset({"uri", "page_on_disk"})
_EVENT_FIELDS = frozenset({"timecreated", "id", "providername", "leveldisplayname", "level", "message", "line"})
_CMDLET_FIELDS = frozenset({"cmdlet", "parameters", "executionresult", "authenticateduser", "timecreated",
                            "datetime", "line"})
_FILE_FIELDS = frozenset({"path", "name", "extension", "folder", "size", "sha256", "head_hex", "yara", "text"})
_PREFIXED = {"event": ("properties.",), "cmdlet": ("param.", "properties."), "text": ("capture.",)}


class RuleError(ValueError):
    """A rule, list or data file is invalid; the message names the file and the problem."""


def severity_rank(severity: str) -> int:
    """critical 3, high 2, medium 1, low 0 (anything else -1, sorting below every real severity)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


@dataclass(frozen=True)
class RuleSource:
    type: str
    stream: str
    paths: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    extract: str | None = None


@dataclass(frozen=True)
class RuleOutcome:
    severity: str
    excluded_by: str | None
    detail: str


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    title: str
    attack: str
    cves: tuple[str, ...]
    severity: str
    references: tuple[str, ...]
    source: RuleSource
    prefilter: tuple[str, ...]
    report_fields: tuple[str, ...]
    requires_attack_hit: str | None
    fields_used: frozenset[str]
    detail: str = ""
    exclusion_names: tuple[str, ...] = ()
    # The raw fixtures of the rule file (tests run them through the engine).
    fixtures: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict, repr=False)
    _condition: Condition | None = field(default=None, repr=False)
    _exclusions: tuple[tuple[str, Condition], ...] = field(default=(), repr=False)
    _severity_when: tuple[tuple[str, Condition], ...] = field(default=(), repr=False)
    _extract: re.Pattern[str] | None = field(default=None, repr=False)
    _detail_parts: tuple[str, ...] = field(default=(), repr=False)

    def evaluate(self, record: Record) -> RuleOutcome | None:
        """None when the condition is false; otherwise the severity, the exclusion that dropped
        the record (if any: the engine counts it and reports nothing) and the detail text."""
        if self._condition is None or not self._condition(record):
            return None
        for name, exclusion in self._exclusions:
            if exclusion(record):
                return RuleOutcome(self.severity, name, self.render_detail(record))
        severity = self.severity
        for candidate, condition in self._severity_when:
            if condition(record):
                severity = candidate
                break
        return RuleOutcome(severity, None, self.render_detail(record))

    def render_detail(self, record: Record) -> str:
        """The detail template with {Field} placeholders filled from the record (values cut short)."""
        # re.split with one group alternates literal text and field names: even items are text.
        parts = self._detail_parts or tuple(_PLACEHOLDER.split(self.detail))
        out = []
        for index, part in enumerate(parts):
            if index % 2 == 0:
                out.append(part)
                continue
            raw = record.get(part)
            text = ", ".join(raw) if isinstance(raw, list) else raw
            out.append(text if len(text) <= _DETAIL_CUT else text[: _DETAIL_CUT - 1] + "…")
        return "".join(out)

    def captures(self, line: str) -> dict[str, str] | None:
        """text rules: the `capture.N` fields source.extract finds in a line (None: no match)."""
        if self._extract is None:
            return {}
        match = self._extract.search(line)
        if match is None:
            return None
        return {f"capture.{index}": group or "" for index, group in enumerate(match.groups(), start=1)}


@dataclass(frozen=True, eq=False)
class RuleSet:
    rules: tuple[Rule, ...]
    lists: Mapping[str, tuple[str, ...]]
    yara_source: str
    headers: Mapping[str, str]

    def of_type(self, type: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.source.type == type)

    def get(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)


# ---------------------------------------------------------------- loading


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise RuleError(f"cannot read {path}: {exc.strerror}") from exc


def _read_yaml(path: str) -> Any:
    try:
        # The C loader, where PyYAML has it, parses the ~90 rule files several times faster.
        return yaml.load(_read_text(path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise RuleError(f"{path} is not valid YAML: {exc}") from exc


def _validator(path: str) -> Any:
    """A draft-07 validator for the schema, or None when jsonschema is not installed (the
    structural checks below still run; the schema only adds precise messages and strictness)."""
    try:
        import jsonschema
    except ImportError:
        return None
    try:
        schema = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise RuleError(f"{path} is not valid JSON: {exc}") from exc
    return jsonschema.Draft7Validator(schema)


def _validate(validator: Any, data: Any, path: str) -> None:
    if validator is None:
        return
    errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
    if errors:
        error = errors[0]
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise RuleError(f"{path}: {where}: {error.message}")


def _yaml_files(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise RuleError(f"cannot read {folder}: {exc.strerror}") from exc
    return sorted(os.path.join(folder, name) for name in names if name.endswith((".yml", ".yaml")))


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def load_lists(data_dir: str) -> dict[str, tuple[str, ...]]:
    validator = _validator(os.path.join(data_dir, LIST_SCHEMA))
    lists: dict[str, tuple[str, ...]] = {}
    for path in _yaml_files(os.path.join(data_dir, LISTS_DIR)):
        data = _read_yaml(path)
        _validate(validator, data, path)
        if not isinstance(data, Mapping) or not isinstance(data.get("entries"), list):
            raise RuleError(f"{path}: expected a mapping with name and entries")
        name = data.get("name")
        if name != _stem(path):
            raise RuleError(f"{path}: name {name!r} differs from the file name {_stem(path)!r}")
        entries = data["entries"]
        if not entries or not all(isinstance(entry, str) and entry for entry in entries):
            raise RuleError(f"{path}: entries must be a non-empty list of non-empty strings")
        lowered = [entry.lower() for entry in entries]
        if len(set(lowered)) != len(lowered):
            duplicate = next(entry for entry in lowered if lowered.count(entry) > 1)
            raise RuleError(f"{path}: duplicate entry {duplicate!r}")
        lists[name] = tuple(entries)
    return lists


def load_headers(data_dir: str) -> dict[str, str]:
    path = os.path.join(data_dir, HEADERS_FILE)
    data = _read_yaml(path)
    headers = data.get("headers") if isinstance(data, Mapping) else None
    if not isinstance(headers, Mapping):
        raise RuleError(f"{path}: expected a mapping 'headers'")
    missing = [key for key in HEADER_KEYS if key not in headers]
    if missing:
        raise RuleError(f"{path}: missing header(s) {', '.join(missing)}")
    result: dict[str, str] = {}
    for key, names in headers.items():
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise RuleError(f"{path}: headers.{key} must be a non-empty list of field names")
        if len({name.lower() for name in names}) != len(names):
            raise RuleError(f"{path}: headers.{key} names a field twice")
        # IIS logs are space-separated under a '#Fields:' directive; Exchange logs are CSV.
        result[str(key)] = "#Fields: " + " ".join(names) if key == "IIS" else ",".join(names)
    return result


def header_fields(header: str) -> list[str]:
    """Column names of a bare CSV header, a '#Fields: ' CSV line or an IIS '#Fields:' line."""
    text = header.strip()
    if text.startswith("#Fields:"):
        text = text[len("#Fields:"):].strip()
        if "," not in text:
            return text.split()
    return [name.strip() for name in text.split(",")]


_Known = tuple[frozenset[str], tuple[str, ...]]


def _known_fields(source: RuleSource, headers: Mapping[str, str], extract_groups: int) -> _Known | None:
    """(field names, allowed name prefixes) the source type produces; None when not knowable."""
    kind = source.type
    prefixes = _PREFIXED.get(kind, ())
    if kind == "iis_log":
        return _IIS_FIELDS | _WEB_VIRTUAL | {"line"}, prefixes
    if kind == "event":
        return _EVENT_FIELDS, prefixes
    if kind == "file":
        return _FILE_FIELDS, prefixes
    if kind == "text":
        return frozenset({"line"} | {f"capture.{i}" for i in range(1, extract_groups + 1)}), ()
    if kind == "cmdlet":
        columns = {name.lower() for name in header_fields(headers.get("RpsCmdlet", ""))}
        return frozenset(columns) | _CMDLET_FIELDS | _EVENT_FIELDS, prefixes
    if kind == "exchange_log":
        header = headers.get(source.stream)
        if header is None:
            return None  # a log without a default header: its columns are only known from the file
        columns = {name.lower() for name in header_fields(header)} | {"line"}
        if source.stream == "HttpProxy":
            columns |= _WEB_VIRTUAL
        return frozenset(columns), prefixes
    return None


def _check_fields(rule_id: str, path: str, used: set[str], known: _Known | None) -> None:
    if known is None:
        return
    names, prefixes = known
    for name in sorted(used):
        if name not in names and not name.startswith(prefixes):
            raise RuleError(f"{path}: {rule_id} uses field {name!r}, which its source type does not produce")


def _compile(node: Any, lists: Mapping[str, Sequence[str]], path: str, where: str) -> Condition:
    try:
        return compile_condition(node, lists, where)
    except ConditionError as exc:
        raise RuleError(f"{path}: {exc}") from exc


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def build_rule(data: Any, path: str, lists: Mapping[str, Sequence[str]], headers: Mapping[str, str]) -> Rule:
    """One rule from its parsed YAML (already schema-validated when jsonschema is available)."""
    if not isinstance(data, Mapping):
        raise RuleError(f"{path}: expected a mapping")
    for key in ("id", "title", "attack", "severity", "source", "condition"):
        if key not in data:
            raise RuleError(f"{path}: missing key {key!r}")
    rule_id = data["id"]
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise RuleError(f"{path}: id {rule_id!r} must look like PL-26855-HTTPPROXY")
    if rule_id != _stem(path):
        raise RuleError(f"{path}: id {rule_id!r} differs from the file name {_stem(path)!r}")
    if data["attack"] not in ATTACKS:
        raise RuleError(f"{path}: attack {data['attack']!r} is not one of {', '.join(ATTACKS)}")
    if data["severity"] not in SEVERITIES:
        raise RuleError(f"{path}: severity {data['severity']!r} is not one of {', '.join(SEVERITIES)}")

    raw_source = data["source"]
    if not isinstance(raw_source, Mapping) or raw_source.get("type") not in SOURCE_TYPES:
        raise RuleError(f"{path}: source.type must be one of {', '.join(SOURCE_TYPES)}")
    source = RuleSource(
        type=raw_source["type"],
        stream=str(raw_source.get("stream") or ""),
        paths=_strings(raw_source.get("paths")),
        channels=_strings(raw_source.get("channels")),
        extract=raw_source.get("extract"),
    )
    if not source.stream:
        raise RuleError(f"{path}: source.stream is required (the statistics bucket)")
    if source.type in (*LINE_TYPES, "file") and not source.paths:
        raise RuleError(f"{path}: a {source.type} rule needs source.paths")
    if source.type == "event" and not source.channels:
        raise RuleError(f"{path}: an event rule needs source.channels")
    if source.type == "cmdlet" and not (source.paths or source.channels):
        raise RuleError(f"{path}: a cmdlet rule needs source.paths or source.channels")
    if source.extract is not None and source.type != "text":
        raise RuleError(f"{path}: source.extract is only for text rules")
    extract = None
    if source.extract is not None:
        try:
            extract = re.compile(source.extract, re.I)
        except re.error as exc:
            raise RuleError(f"{path}: source.extract is not a valid regex: {exc}") from exc

    prefilter = _strings(data.get("prefilter"))
    if any(not literal for literal in prefilter):
        raise RuleError(f"{path}: prefilter literals must not be empty")
    needs_prefilter = source.type in LINE_TYPES or (source.type == "cmdlet" and source.paths)
    if needs_prefilter and not prefilter:
        raise RuleError(f"{path}: a {source.type} rule reading log files needs a prefilter literal")

    requires = data.get("requires_attack_hit")
    if requires is not None and requires not in ATTACKS:
        raise RuleError(f"{path}: requires_attack_hit {requires!r} is not one of {', '.join(ATTACKS)}")

    used = condition_fields(data["condition"])
    condition = _compile(data["condition"], lists, path, "condition")

    exclusions: list[tuple[str, Condition]] = []
    for index, item in enumerate(data.get("exclusions") or []):
        if not isinstance(item, Mapping) or not item.get("name") or "condition" not in item:
            raise RuleError(f"{path}: exclusions[{index}] needs name, reason and condition")
        if any(item["name"] == name for name, _ in exclusions):
            raise RuleError(f"{path}: exclusion name {item['name']!r} used twice")
        exclusions.append((str(item["name"]), _compile(item["condition"], lists, path, f"exclusions[{index}]")))
        used |= condition_fields(item["condition"])

    severity_when: list[tuple[str, Condition]] = []
    for index, item in enumerate(data.get("severity_when") or []):
        if not isinstance(item, Mapping) or item.get("severity") not in SEVERITIES or "condition" not in item:
            raise RuleError(f"{path}: severity_when[{index}] needs a severity ({'/'.join(SEVERITIES)}) and a condition")
        severity_when.append((item["severity"], _compile(item["condition"], lists, path, f"severity_when[{index}]")))
        used |= condition_fields(item["condition"])

    detail = str(data.get("detail") or "")
    placeholders = _PLACEHOLDER.findall(detail)
    leftover = _PLACEHOLDER.sub("", detail)
    if "{" in leftover or "}" in leftover:
        raise RuleError(f"{path}: detail has a brace that is not a {{Field}} placeholder: {detail!r}")
    report_fields = _strings(data.get("report_fields"))
    used |= {name.lower() for name in placeholders}
    used |= {name.lower() for name in report_fields}
    _check_fields(rule_id, path, used, _known_fields(source, headers, extract.groups if extract else 0))

    fixtures = data.get("fixtures") or {}
    return Rule(
        id=rule_id,
        title=str(data["title"]),
        attack=data["attack"],
        cves=_strings(data.get("cves")),
        severity=data["severity"],
        references=_strings(data.get("references")),
        source=source,
        prefilter=prefilter,
        report_fields=report_fields,
        requires_attack_hit=requires,
        fields_used=frozenset(used),
        detail=detail,
        exclusion_names=tuple(name for name, _ in exclusions),
        fixtures={kind: tuple(fixtures.get(kind) or ()) for kind in ("positive", "negative")},
        _condition=condition,
        _exclusions=tuple(exclusions),
        _severity_when=tuple(severity_when),
        _extract=extract,
        _detail_parts=tuple(_PLACEHOLDER.split(detail)),
    )


def load_rule_set(data_dir: str) -> RuleSet:
    """Load and check every rule under data_dir/indicators/rules (data_dir = the repository's data/)."""
    lists = load_lists(data_dir)
    headers = load_headers(data_dir)
    yara_source = _read_text(os.path.join(data_dir, YARA_FILE))
    validator = _validator(os.path.join(data_dir, RULE_SCHEMA))
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in _yaml_files(os.path.join(data_dir, RULES_DIR)):
        data = _read_yaml(path)
        _validate(validator, data, path)
        rule = build_rule(data, path, lists, headers)
        if rule.id in seen:
            raise RuleError(f"{path}: id {rule.id} already used by {seen[rule.id]}")
        seen[rule.id] = path
        rules.append(rule)
    if not rules:
        raise RuleError(f"{os.path.join(data_dir, RULES_DIR)}: no rules")
    return RuleSet(rules=tuple(rules), lists=lists, yara_source=yara_source, headers=headers)
