"""The indicator data (data/indicators/: rules, lists, log headers, YARA) and its loader.

Besides schema and consistency checks, every fixture is evaluated on a Record built directly from
it, without the engine: this pins the rules' semantics independently of log parsing (the engine
run of the same fixtures is tests/unit/test_hunt_rule_fixtures.py).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
import yara_x

from exchange_remediation import hunt_rule
from exchange_remediation.hunt_record import DEFAULT_TOKENS, Record
from exchange_remediation.hunt_rule import Rule, RuleError, RuleSet, load_rule_set, severity_rank

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
RULES = sorted((DATA / "indicators" / "rules").glob("*.yml"))
LISTS = sorted((DATA / "indicators" / "lists").glob("*.yml"))
YARA = DATA / "indicators" / "webshells.yar"
LEGACY = REPO / "inventories" / "demo" / "evidence" / "ex16-legacy" / "files"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rule_set() -> RuleSet:
    return load_rule_set(str(DATA))


@pytest.fixture(scope="module")
def yara_rules() -> Any:
    return _compiled(YARA.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ schema and consistency


def test_schemas_are_valid_draft_07() -> None:
    for name in ("indicator-rule.schema.json", "indicator-list.schema.json"):
        jsonschema.Draft7Validator.check_schema(json.loads((DATA / "schemas" / name).read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", RULES, ids=[p.stem for p in RULES])
def test_rule_file_follows_the_schema(path: Path) -> None:
    schema = json.loads((DATA / "schemas" / "indicator-rule.schema.json").read_text(encoding="utf-8"))
    data = _yaml(path)
    jsonschema.validate(data, schema)
    assert data["id"] == path.stem


@pytest.mark.parametrize("path", LISTS, ids=[p.stem for p in LISTS])
def test_list_file_follows_the_schema(path: Path) -> None:
    schema = json.loads((DATA / "schemas" / "indicator-list.schema.json").read_text(encoding="utf-8"))
    data = _yaml(path)
    jsonschema.validate(data, schema)
    assert data["name"] == path.stem


def test_rule_set_loads_with_unique_ids(rule_set: RuleSet) -> None:
    ids = [rule.id for rule in rule_set.rules]
    assert len(ids) == len(set(ids)) == len(RULES) >= 60
    assert {path.stem for path in RULES} == set(ids)
    assert set(rule_set.lists) == {path.stem for path in LISTS}


def test_every_rule_has_positive_and_negative_fixtures(rule_set: RuleSet) -> None:
    for rule in rule_set.rules:
        assert rule.fixtures["positive"], rule.id
        assert rule.fixtures["negative"], rule.id


def test_fixture_expectations_name_real_things(rule_set: RuleSet) -> None:
    for rule in rule_set.rules:
        for fixture in (*rule.fixtures["positive"], *rule.fixtures["negative"]):
            if "excluded_by" in fixture:
                assert fixture["excluded_by"] in rule.exclusion_names, (rule.id, fixture["excluded_by"])
        for fixture in rule.fixtures["negative"]:
            assert "severity" not in fixture, rule.id


def test_the_issue_rules_are_present(rule_set: RuleSet) -> None:
    ids = {rule.id for rule in rule_set.rules}
    required = {
        "PL-26855-HTTPPROXY", "PL-26855-BLOG", "PL-26855-BECOOKIE", "PL-26855-PROBE", "PL-26855-STATIC-PATHS",
        "PL-26857-UM", "PL-26858-OABGEN", "PL-27065-RESETVDIR", "PL-27065-ECPSERVER", "PL-27065-CISA-LITERAL",
        "PL-WEBSHELL-ACCESS", "PL-WEBSHELL-QUERY", "PS-IIS-AUTODISCOVER", "PS-HTTPPROXY-AUTODISCOVER", "PS-RPSHTTP",
        "PNS-IIS-AUTODISCOVER-POWERSHELL", "PNS-OWASSRF-IIS", "PNS-RPSHTTP-CLIENTINFO", "PROXYTOKEN-ECP",
        "CVE-2021-42321", "CVE-2021-28480", "CVE-2020-0688-STATIC-KEY", "TRANSPORT-AGENT-INSTALL", "WEBSHELL-CONTENT",
        "MSTIC-MARCH2021-PATH", "MSTIC-MARCH2021-SHA256",
    }
    assert required <= ids
    prefixes = ("PL-IIS-VOLEXITY-", "PL-POST-EXPLOIT-", "PS-EXPORT-", "PS-FILE-HEADERS-", "PNS-POST-EXPLOIT-",
                "WEBSHELL-LOCATION-", "CONTEXT-")
    for prefix in prefixes:
        assert any(rule_id.startswith(prefix) for rule_id in ids), prefix


def test_the_proxylogon_headline_rules(rule_set: RuleSet) -> None:
    rule = rule_set.get("PL-26855-HTTPPROXY")
    assert rule is not None and rule.exclusion_names == ("autodiscover-only", "localhost-probe")
    oab = rule_set.get("PL-26858-OABGEN")
    assert oab is not None and oab.source.type == "text" and oab.source.extract
    archive = rule_set.get("PL-POST-EXPLOIT-ARCHIVE-STAGING")
    assert archive is not None and archive.requires_attack_hit == "ProxyLogon"
    for rule_id in ("PL-WEBSHELL-ACCESS", "PL-WEBSHELL-ACCESS-HTTPPROXY"):
        access = rule_set.get(rule_id)
        assert access is not None and "page_on_disk" in access.fields_used  # the collector lists pages for it


def test_log_prefilters_are_literals_every_hit_contains(rule_set: RuleSet) -> None:
    # A positive log fixture must hold one of its rule's literals, or the engine never sees the line.
    for rule in rule_set.rules:
        if rule.source.type not in ("exchange_log", "iis_log", "text", "cmdlet"):
            continue
        assert rule.prefilter, rule.id
        for fixture in rule.fixtures["positive"]:
            haystack = (fixture["line"] if "line" in fixture else _event_text(fixture["record"])).lower()
            assert any(literal.lower() in haystack for literal in rule.prefilter), rule.id


def _event_text(event: Mapping[str, Any]) -> str:
    return "\n".join([str(event.get("ProviderName", "")), str(event.get("Message", "")),
                      *[str(value) for value in event.get("Properties") or []]])


# ------------------------------------------------------------------ headers and lists


def test_default_headers_are_the_published_layouts(rule_set: RuleSet) -> None:
    headers = rule_set.headers
    http_proxy = headers["HttpProxy"].split(",")
    assert len(http_proxy) == 74
    positions = {"DateTime": 0, "RequestId": 1, "Protocol": 7, "UrlStem": 9, "AuthenticatedUser": 13,
                 "AnchorMailbox": 15, "UserAgent": 16, "ClientIpAddress": 17, "HttpStatus": 19, "Method": 22,
                 "RoutingHint": 27, "BackEndCookie": 28, "UrlQuery": 65, "GenericInfo": 67, "RoutingStatus": 73}
    for name, position in positions.items():
        assert http_proxy[position] == name
    assert headers["ECP"] == "TimeStamp,ServerName,EventId,EventData"
    assert len(headers["RpsHttp"].split(",")) == 38 and headers["RpsHttp"].split(",")[29] == "ClientInfo"
    rps_cmdlet = headers["RpsCmdlet"].split(",")
    assert len(rps_cmdlet) == 67 and rps_cmdlet[20:22] == ["Cmdlet", "Parameters"]
    assert headers["IIS"] == ("#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
                              "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken")


def test_url_lists_follow_the_name_lists(rule_set: RuleSet) -> None:
    lists = rule_set.lists
    assert lists["known-shell-urls"] == tuple("*/" + name for name in lists["known-shell-names"])
    assert lists["legitimate-owa-auth-urls"] == tuple("/owa/auth/" + n for n in lists["legitimate-owa-auth-pages"])


def test_published_lists_are_complete(rule_set: RuleSet) -> None:
    lists = rule_set.lists
    assert len(lists["mstic-march2021-paths"]) == 42  # the feed's 47 filepath rows, 42 unique
    assert all(entry.startswith(("<EX>", "<WWW>", "<SYS>")) for entry in lists["mstic-march2021-paths"])
    assert len(lists["mstic-march2021-sha256"]) == 14
    assert all(re.fullmatch(r"[0-9a-f]{64}", entry) for entry in lists["mstic-march2021-sha256"])
    assert len(lists["volexity-ips"]) == 15
    assert len(lists["crawler-user-agents"]) == 9
    assert "ExchangeServicesClient/15.00.0913.015" not in lists["exploit-user-agents"]


# ------------------------------------------------------------------ YARA


def _yara_names() -> list[str]:
    return re.findall(r"^rule\s+(\w+)", YARA.read_text(encoding="utf-8"), re.M)


def _yara_severities() -> dict[str, str]:
    text = YARA.read_text(encoding="utf-8")
    return dict(re.findall(r'^rule\s+(\w+)\s*\{\s*meta:\s*severity\s*=\s*"(\w+)"', text, re.M))


def test_yara_rules_compile_with_meta(yara_rules: Any) -> None:
    names = _yara_names()
    severities = _yara_severities()
    assert len(names) >= 12 and set(severities) == set(names)
    assert set(severities.values()) <= {"critical", "high"}
    text = YARA.read_text(encoding="utf-8")
    assert text.count("description = ") == len(names)


def test_webshell_content_names_every_critical_yara_rule(rule_set: RuleSet) -> None:
    data = _yaml(DATA / "indicators" / "rules" / "WEBSHELL-CONTENT.yml")
    critical = {name for name, severity in _yara_severities().items() if severity == "critical"}
    assert set(data["severity_when"][0]["condition"]["in"]) == critical


def _fixture_files(rule_set: RuleSet, kind: str) -> list[tuple[str, bytes]]:
    files = []
    for rule in rule_set.rules:
        for fixture in rule.fixtures[kind]:
            items = [fixture.get("file")] + [item.get("file") for item in fixture.get("also") or []]
            files += [(rule.id, _file_bytes(item)) for item in items if item]
    return files


def test_every_yara_rule_has_a_positive_sample(rule_set: RuleSet, yara_rules: Any) -> None:
    matched: set[str] = set()
    for _rule_id, content in _fixture_files(rule_set, "positive"):
        matched |= {rule.identifier for rule in yara_rules.scan(content).matching_rules}
    assert matched == set(_yara_names())


def test_legitimate_pages_match_no_yara_rule(rule_set: RuleSet, yara_rules: Any) -> None:
    samples = [content for rule_id, content in _fixture_files(rule_set, "negative")
               if rule_id in ("WEBSHELL-CONTENT", "PNS-POST-EXPLOIT-REDIRSUITE")]
    # The Exchange pages of the demo estate's compromised server must stay clean too.
    samples += [path.read_bytes() for path in LEGACY.rglob("*.aspx") if "aspnet_client" not in path.parts]
    assert len(samples) >= 10
    for content in samples:
        assert not yara_rules.scan(content).matching_rules, content[:80]


# ------------------------------------------------------------------ fixtures on Records (no engine)


@functools.lru_cache(maxsize=2)
def _compiled(source: str) -> Any:
    return yara_x.compile(source)


def _file_bytes(data: Mapping[str, Any]) -> bytes:
    if "text" in data:
        return str(data["text"]).encode("utf-8")
    if "text_utf16" in data:
        return b"\xff\xfe" + str(data["text_utf16"]).encode("utf-16-le")
    return bytes.fromhex(str(data["content_hex"]))


def _expand(text: str, tokens: Mapping[str, str]) -> str:
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


_PARAM = re.compile(r"-(\w+)(?::(\S+)|\s+(\"[^\"]*\"|'[^']*'|[^-\s]\S*))?")


def _params(text: str) -> dict[str, str]:
    return {f"param.{name}": (colon or value or "True").strip("\"'")
            for name, colon, value in _PARAM.findall(text)}


def _uri(stem: str, query: str) -> str:
    query = "" if query in ("", "-") else query
    if query and not query.startswith("?"):
        query = "?" + query
    return stem + query


def _page_on_disk(stem: str, files: list[str], tokens: Mapping[str, str]) -> str:
    wanted = {(_expand(root, tokens).rstrip("\\") + stem.replace("/", "\\")).lower()
              for root in ("<WWW>", "<EX>FrontEnd\\HttpProxy")}
    return "true" if any(path.lower() in wanted for path in files) else "false"


def _record(rule: Rule, rule_set: RuleSet, fixture: Mapping[str, Any], tokens: Mapping[str, str]) -> Record | None:
    also_files = [_expand(item["file"]["path"], tokens) for item in fixture.get("also") or [] if "file" in item]
    if "file" in fixture:
        data = fixture["file"]
        path = _expand(str(data["path"]), tokens)
        content = _file_bytes(data)
        folder, _sep, name = path.rpartition("\\")
        text = content[:65536].decode("latin-1")
        if content[:2] == b"\xff\xfe":
            text += "\n" + content[2:65536].decode("utf-16-le", "replace")
        yara = sorted(m.identifier for m in _compiled(rule_set.yara_source).scan(content).matching_rules)
        return Record({"path": path, "name": name, "extension": Path(name).suffix.lower(), "folder": folder,
                       "size": str(len(content)), "sha256": data.get("sha256") or hashlib.sha256(content).hexdigest(),
                       "head_hex": content[:16].hex(), "yara": yara, "text": text}, tokens)
    if "record" in fixture:
        event = fixture["record"]
        fields: dict[str, Any] = {key: str(value) for key, value in event.items() if key != "Properties"}
        for index, value in enumerate(event.get("Properties") or []):
            fields[f"Properties.{index}"] = str(value)
        if rule.source.type == "cmdlet":
            properties = event.get("Properties") or []
            fields.update(Cmdlet=properties[0], Parameters=properties[1], DateTime=event["TimeCreated"])
            fields.update(_params(properties[1]))
        return Record(fields, tokens, {"line": lambda: json.dumps(event)})
    line = str(fixture["line"])
    if rule.source.type == "text":
        captures = rule.captures(line)
        return None if captures is None else Record(captures, tokens, {"line": lambda: line})
    if rule.source.type == "iis_log":
        names = (fixture.get("header") or rule_set.headers["IIS"])[len("#Fields: "):].split()
        fields = {name: ("" if value == "-" else value) for name, value in zip(names, line.split(), strict=False)}
        stem, query = fields.get("cs-uri-stem", ""), fields.get("cs-uri-query", "")
    else:
        stream = "RpsCmdlet" if rule.source.type == "cmdlet" else rule.source.stream
        names = (fixture.get("header") or rule_set.headers[stream]).split(",")
        fields = dict(zip(names, next(csv.reader([line])), strict=False))
        if rule.source.type == "cmdlet":
            fields.update(_params(fields.get("Parameters", "")))
        stem, query = fields.get("UrlStem", ""), fields.get("UrlQuery", "")
    return Record(fields, tokens, {"line": lambda: line, "uri": lambda: _uri(stem, query),
                                   "page_on_disk": lambda: _page_on_disk(stem, also_files, tokens)})


CASES = [(rule_id, kind, index) for rule_id, kind, index in
         ((r.id, k, i) for r in load_rule_set(str(DATA)).rules for k in ("positive", "negative")
          for i in range(len(r.fixtures[k])))]


@pytest.mark.parametrize(("rule_id", "kind", "index"), CASES, ids=[f"{r}/{k}/{i}" for r, k, i in CASES])
def test_fixture_on_a_record(rule_set: RuleSet, rule_id: str, kind: str, index: int) -> None:
    rule = rule_set.get(rule_id)
    assert rule is not None
    fixture = rule.fixtures[kind][index]
    tokens = dict(DEFAULT_TOKENS)
    if fixture.get("install_path"):
        tokens["<EX>"] = fixture["install_path"]
    record = _record(rule, rule_set, fixture, tokens)
    outcome = rule.evaluate(record) if record is not None else None
    if kind == "positive":
        assert outcome is not None and outcome.excluded_by is None, (rule_id, index, outcome)
        if fixture.get("severity"):
            assert outcome.severity == fixture["severity"], (rule_id, index, outcome)
        placeholders = re.findall(r"\{[A-Za-z0-9_.()\-]+\}", rule.detail)
        assert outcome.detail.strip() and not [p for p in placeholders if p in outcome.detail], outcome.detail
    elif fixture.get("excluded_by"):
        assert outcome is not None and outcome.excluded_by == fixture["excluded_by"], (rule_id, index, outcome)
    elif rule.requires_attack_hit and not fixture.get("also"):
        # Only the engine can tell that no rule of the attack hit: on its own the record would be reported.
        assert outcome is not None and outcome.excluded_by is None, (rule_id, index, outcome)
    else:
        assert outcome is None, (rule_id, index, outcome)


# ------------------------------------------------------------------ loader errors


def _data_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(DATA / "schemas", data / "schemas")
    shutil.copytree(DATA / "indicators" / "lists", data / "indicators" / "lists")
    shutil.copy(DATA / "indicators" / "log-headers.yml", data / "indicators" / "log-headers.yml")
    shutil.copy(YARA, data / "indicators" / "webshells.yar")
    (data / "indicators" / "rules").mkdir()
    shutil.copy(DATA / "indicators" / "rules" / "PL-26855-PROBE.yml", data / "indicators" / "rules")
    return data


def _write_rule(data: Path, name: str, changes: Mapping[str, Any]) -> None:
    rule = _yaml(DATA / "indicators" / "rules" / "PL-26855-HTTPPROXY.yml")
    rule.update(changes)
    (data / "indicators" / "rules" / f"{name}.yml").write_text(yaml.safe_dump(rule), encoding="utf-8")


def test_a_copy_of_the_data_loads(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    _write_rule(data, "PL-26855-HTTPPROXY", {})
    assert [rule.id for rule in load_rule_set(str(data)).rules] == ["PL-26855-HTTPPROXY", "PL-26855-PROBE"]


@pytest.mark.parametrize(("name", "changes", "message"), [
    ("PL-OTHER-NAME", {}, "differs from the file name"),
    ("PL-26855-HTTPPROXY", {"condition": {"field": "AnchorMailbox", "in_list": "no-such-list"}}, "unknown list"),
    ("PL-26855-HTTPPROXY", {"condition": {"field": "AnchorMailbox", "regex": "(["}}, "invalid regex"),
    ("PL-26855-HTTPPROXY", {"detail": "SSRF {AnchorMailbox"}, "brace"),
    ("PL-26855-HTTPPROXY", {"detail": "SSRF {AnchorMailbx}"}, "'anchormailbx'"),
    ("PL-26855-HTTPPROXY", {"condition": {"field": "cs-uri-stem", "equals": "/"}}, "'cs-uri-stem'"),
    ("PL-26855-HTTPPROXY", {"prefilter": []}, "prefilter"),
    ("PL-26855-HTTPPROXY", {"severity": "urgent"}, "severity"),
    ("PL-26855-HTTPPROXY", {"requires_attack_hit": "Hafnium"}, "requires_attack_hit"),
    ("PL-26855-HTTPPROXY", {"condition": {"field": "AnchorMailbox", "like": "x", "equals": "y"}}, "exactly one"),
    ("PL-26855-HTTPPROXY", {"source": {"type": "text", "stream": "OABGenerator", "paths": ["<EX>x\\*"],
                                       "extract": "("}}, "extract"),
])
@pytest.mark.parametrize("with_schema", [True, False])
def test_bad_rules_are_refused_with_file_and_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                    changes: dict, message: str, with_schema: bool) -> None:
    if not with_schema:
        # Without jsonschema the loader's own checks must still catch these.
        monkeypatch.setattr(hunt_rule, "_validator", lambda path: None)
    data = _data_copy(tmp_path)
    _write_rule(data, name, changes)
    with pytest.raises(RuleError) as error:
        load_rule_set(str(data))
    assert f"{name}.yml" in str(error.value)
    if not with_schema:
        assert message in str(error.value)


def test_duplicate_list_entries_and_missing_headers_are_refused(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    (data / "indicators" / "lists" / "volexity-ips.yml").write_text(yaml.safe_dump(
        {"name": "volexity-ips", "description": "addresses, twice the same", "source": "test",
         "entries": ["5.2.69.14", "5.2.69.14"]}), encoding="utf-8")
    with pytest.raises(RuleError, match="volexity-ips"):
        load_rule_set(str(data))
    data = _data_copy(tmp_path / "again")
    (data / "indicators" / "log-headers.yml").write_text("headers: {HttpProxy: [DateTime]}\n", encoding="utf-8")
    with pytest.raises(RuleError, match="missing header"):
        load_rule_set(str(data))


def test_the_rule_documentation_lists_every_rule(rule_set: RuleSet) -> None:
    text = (REPO / "docs" / "hunt-rules.md").read_text(encoding="utf-8")
    table = text[text.index("## Rules by attack"):]
    for rule in rule_set.rules:
        assert re.search(rf"\b{re.escape(rule.id)}\b(?!-)", table), rule.id
    for key in ("requires_attack_hit", "severity_when", "exclusions", "in_list", "decode: url", "decode: ua",
                "excluded_by", "also", "prefilter"):
        assert f"`{key}`" in text, key


def test_rule_set_accessors(rule_set: RuleSet) -> None:
    assert {rule.source.type for rule in rule_set.of_type("file")} == {"file"}
    assert len(rule_set.of_type("iis_log")) >= 15
    assert rule_set.get("NO-SUCH-RULE") is None
    assert "exchange_jscript_china_chopper" in rule_set.yara_source
    assert [severity_rank(s) for s in ("low", "medium", "high", "critical", "bogus")] == [0, 1, 2, 3, -1]
    assert "autodiscover-only" in rule_set.get("PL-26855-HTTPPROXY").exclusion_names
    probe = rule_set.get("PL-26855-PROBE")
    assert probe.fields_used == {"anchormailbox", "clientipaddress", "useragent", "urlstem", "httpstatus",
                                 "datetime", "requestid", "urlhost", "routinghint"}
