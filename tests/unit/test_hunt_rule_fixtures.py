"""Every rule fixture through the real engine (docs/hunt-rules.md, "Fixtures").

For each fixture a tiny evidence bundle is built in tmp_path and hunted with hunt_bundle: a
positive fixture must give at least one finding of its rule (with the severity it names), a
negative one none (and, when it names an exclusion, be counted as excluded). A fixture's log
line goes under its stream's header into a log file in the folder of the rule's first path, an
event into eventlogs/<Channel>.jsonl, a file under files/<Drive>/..., and the fixture's `also`
evidence next to it. Written like the real thing: Exchange logs with the directive block (Layout
A, UTF-8 BOM) or the bare header first (Layout B), CRLF line ends, upper-case .LOG names; IIS
logs with their directives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.hunt_engine import hunt_bundle
from exchange_remediation.hunt_record import DEFAULT_TOKENS
from exchange_remediation.hunt_rule import Rule, RuleSet, load_rule_set

SERVER_BUILD = "15.1.2176.2"
HOSTNAME = "EX01"

# A realistic file for each stream; used when it matches one of the rule's paths.
TYPICAL_LOG = {
    "HttpProxy": "<EX>Logging\\HttpProxy\\Ecp\\HttpProxy_2021030306-1.LOG",
    "ECP": "<EX>Logging\\ECP\\Server\\ECPServer20210303-1.LOG",
    "OABGenerator": "<EX>Logging\\OABGeneratorLog\\OABGenerator20210303-1.LOG",
    "IIS": "<IISLOG>\\W3SVC1\\u_ex210303.log",
    "RpsHttp": "<EX>Logging\\CmdletInfra\\Powershell-Proxy\\Http\\Rps_Http_2021081022-1.LOG",
    "RpsCmdlet": "<EX>Logging\\CmdletInfra\\Powershell-Proxy\\Cmdlet\\Rps_Cmdlet_2021081022-1.LOG",
}
LOG_TYPES = {"HttpProxy": "HttpProxy Logs", "ECP": "ECP Server Log", "RpsHttp": "Rps Http Logs",
             "RpsCmdlet": "Rps Cmdlet Logs", "OABGenerator": "OABGenerator Log"}


def tokens_for(install_path: str | None) -> dict[str, str]:
    tokens = dict(DEFAULT_TOKENS)
    if install_path:
        tokens["<EX>"] = install_path
    return tokens


def expand(text: str, tokens: Mapping[str, str]) -> str:
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


def glob_matches(pattern: str, path: str) -> bool:
    """Windows glob ('*', '?' within a component, '**' any number of components), case-insensitive."""
    regex = ""
    parts = pattern.split("\\")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            regex += "(?:[^\\\\]+\\\\)*" if not last else ".*"
            continue
        piece = "".join("[^\\\\]*" if c == "*" else "[^\\\\]" if c == "?" else re.escape(c) for c in part)
        regex += piece + ("" if last else "\\\\")
    return re.fullmatch(regex, path, re.IGNORECASE) is not None


def log_path(rule: Rule, tokens: Mapping[str, str]) -> str:
    """Where a fixture line of this rule is written: the stream's usual file when the rule's first
    path takes it, else that path with the wildcards filled in."""
    first = expand(rule.source.paths[0], tokens)
    typical = TYPICAL_LOG.get(rule.source.stream)
    if typical is not None and glob_matches(first, expand(typical, tokens)):
        return expand(typical, tokens)
    first = first.replace("\\**\\", "\\")
    return first.replace("*", "2021030306-1").replace("?", "x")


def bundle_file(bundle: Path, windows_path: str) -> Path:
    drive, _colon, rest = windows_path.partition(":")
    return bundle.joinpath("files", drive.upper(), *[p for p in rest.split("\\") if p])


def _header_block(rule_stream: str, kind: str, header: str | None, layout_b: bool) -> tuple[str, list[str]]:
    """(BOM or '', the lines before the data) for a log of this stream."""
    if kind == "iis_log" or ((header or "").startswith("#Fields: ") and "," not in (header or "")):
        fields = header or ""
        return "", ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
                    "#Date: 2021-03-03 00:00:00", fields]
    directives = ["#Software: Microsoft Exchange Server", "#Version: 15.01.2176.002",
                  f"#Log-type: {LOG_TYPES.get(rule_stream, 'Exchange Log')}", "#Date: 2021-03-03T00:00:00.011Z"]
    if kind == "text" or not header:
        return "\ufeff", directives
    bare = header[len("#Fields: "):] if header.startswith("#Fields: ") else header
    if layout_b:
        return "", [bare, *directives, f"#Fields: {bare}"]
    return "\ufeff", [*directives, f"#Fields: {bare}"]


class BundleWriter:
    def __init__(self, bundle: Path, rule_set: RuleSet, install_path: str | None) -> None:
        self.bundle = bundle
        self.rule_set = rule_set
        self.install_path = install_path
        self.tokens = tokens_for(install_path)
        self.logs: dict[str, tuple[str, list[str], list[str]]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.listing: list[dict[str, Any]] = []

    def server(self) -> dict[str, Any]:
        exchange: dict[str, Any] = {"exsetup_version": SERVER_BUILD, "roles": ["Mailbox"],
                                    "install_path": self.tokens["<EX>"]}
        return {"schema": 1, "hostname": HOSTNAME, "fqdn": "ex01.contoso.local", "exchange": exchange}

    def add_line(self, rule: Rule, text: str, path: str | None, header: str | None, layout_b: bool) -> None:
        windows = expand(path, self.tokens) if path else log_path(rule, self.tokens)
        if windows.lower() not in self.logs:
            if header is None and rule.source.type != "text":
                stream = "RpsCmdlet" if rule.source.type == "cmdlet" else rule.source.stream
                header = self.rule_set.headers.get("IIS" if rule.source.type == "iis_log" else stream)
            bom, head = _header_block(rule.source.stream, rule.source.type, header, layout_b)
            self.logs[windows.lower()] = (windows, [bom], head)
        self.logs[windows.lower()][2].append(text)

    def add_event(self, channel: str, event: Mapping[str, Any]) -> None:
        self.events.setdefault(channel, []).append(dict(event))

    def add_file(self, data: Mapping[str, Any]) -> None:
        windows = expand(str(data["path"]), self.tokens)
        if "text" in data:
            content = str(data["text"]).encode("utf-8")
        elif "text_utf16" in data:
            content = b"\xff\xfe" + str(data["text_utf16"]).encode("utf-16-le")
        else:
            content = bytes.fromhex(str(data["content_hex"]))
        target = bundle_file(self.bundle, windows)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        if data.get("sha256"):
            # The hash a live collection's listing recorded for the whole file on the server.
            self.listing.append({"path": windows, "size": len(content), "sha256": data["sha256"],
                                 "modified": "2021-03-03T06:55:00Z", "copied": True, "truncated": False})

    def add_evidence(self, rule: Rule, item: Mapping[str, Any], layout_b: bool = False) -> None:
        if "line" in item:
            self.add_line(rule, str(item["line"]), item.get("path"), item.get("header"), layout_b)
        elif "record" in item:
            self.add_event(str(item.get("channel") or rule.source.channels[0]), item["record"])
        else:
            self.add_file(item["file"])

    def add_also(self, rule: Rule, item: Mapping[str, Any]) -> None:
        if "line" in item:
            # Evidence for another rule: written under the header of the stream its path belongs to.
            windows = expand(str(item["path"]), self.tokens)
            owner = next((other for other in self.rule_set.rules if other.source.type in ("exchange_log", "iis_log")
                          and any(glob_matches(expand(p, self.tokens), windows) for p in other.source.paths)), rule)
            self.add_line(owner, str(item["line"]), item["path"], item.get("header"), False)
        else:
            self.add_evidence(rule, item)

    def write(self) -> dict[str, Any]:
        for windows, bom, lines in self.logs.values():
            target = bundle_file(self.bundle, windows)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((bom[0] + "\r\n".join(lines) + "\r\n").encode("utf-8"))
        for channel, events in self.events.items():
            folder = self.bundle / "eventlogs"
            folder.mkdir(parents=True, exist_ok=True)
            name = channel.replace("/", "%4") + ".jsonl"
            (folder / name).write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        if self.listing:
            (self.bundle / "listing.jsonl").write_text("".join(json.dumps(e) + "\n" for e in self.listing),
                                                       encoding="utf-8")
        server = self.server()
        self.bundle.mkdir(parents=True, exist_ok=True)
        (self.bundle / "server.json").write_text(json.dumps(server), encoding="utf-8")
        return server


def build_bundle(bundle: Path, rule_set: RuleSet, rule: Rule, fixture: Mapping[str, Any],
                 layout_b: bool = False) -> dict[str, Any]:
    """Write the fixture (and its `also` evidence) as a bundle; returns the server.json written."""
    writer = BundleWriter(bundle, rule_set, fixture.get("install_path"))
    writer.add_evidence(rule, fixture, layout_b)
    for item in fixture.get("also") or ():
        writer.add_also(rule, item)
    return writer.write()


def fixture_cases(rule_set: RuleSet) -> list[tuple[str, str, int]]:
    """(rule id, 'positive'|'negative', index) of every fixture, for parametrisation."""
    return [(rule.id, kind, index) for rule in rule_set.rules for kind in ("positive", "negative")
            for index in range(len(rule.fixtures.get(kind, ())))]


# ------------------------------------------------------------------ the tests

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rule_set() -> RuleSet:
    return load_rule_set(str(REPO / "data"))


CASES = fixture_cases(load_rule_set(str(REPO / "data")))


@pytest.mark.parametrize(("rule_id", "kind", "index"), CASES, ids=[f"{r}/{k}/{i}" for r, k, i in CASES])
def test_fixture_through_the_engine(rule_set: RuleSet, tmp_path: Path, rule_id: str, kind: str, index: int) -> None:
    rule = next(r for r in rule_set.rules if r.id == rule_id)
    fixture = rule.fixtures[kind][index]
    # Alternate the two Exchange log layouts so both are exercised.
    server = build_bundle(tmp_path / "bundle", rule_set, rule, fixture, layout_b=index % 2 == 1)
    hunt = hunt_bundle(str(tmp_path / "bundle"), rule_set, server)
    hits = [finding for finding in hunt.findings if finding.rule == rule_id]
    note = fixture.get("note", "")
    if kind == "positive":
        assert hits, (f"{rule_id} positive #{index} ({note}) gave no finding; warnings: "
                      f"{[w for s in hunt.sources.values() for w in s.warnings][:5]}, excluded {hunt.excluded}")
        if fixture.get("severity"):
            assert fixture["severity"] in {finding.severity for finding in hits}, (
                f"{rule_id} positive #{index}: severities {[f.severity for f in hits]}, expected {fixture['severity']}")
    else:
        assert not hits, f"{rule_id} negative #{index} ({note}) gave {[(f.severity, f.detail) for f in hits]}"
        if fixture.get("excluded_by"):
            assert hunt.excluded.get(rule_id, 0) >= 1, f"{rule_id} negative #{index}: not counted as excluded"
