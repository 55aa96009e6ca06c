"""Tests of the live half of exchange_facts: the collector script and tasks/live.yml.

There is no Windows host here, so the collector is checked statically (tree-sitter parse,
read-only command allowlist) and live.yml is checked both statically (FQCN, documented
options, check mode, server.json keys) and by running it with ansible-playbook against
localhost, with ansible.windows.win_powershell replaced by a stand-in module that returns a
canned collector result.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "exchange_facts"
SCRIPT = ROLE / "files" / "Get-ExchangeServerFacts.ps1"
LIVE = ROLE / "tasks" / "live.yml"

# server.json format 1 (DESIGN.md, "Evidence bundle"): every key of the documented example.
# The contract may only be extended, so these must all be present; more keys are allowed.
SERVER_JSON_KEYS = {
    "schema",
    "hostname",
    "fqdn",
    "collected_at",
    "exchange",
    "os",
    "dotnet_release",
    "iis",
    "mitigation_service",
    "endpoint_protection",
}
SERVER_JSON_NESTED_KEYS = {
    "exchange": {"install_path", "exsetup_version", "roles", "dag", "site", "installed_updates"},
    "os": {"caption", "version"},
    "iis": {"url_rewrite_version", "rewrite_rules"},
    "mitigation_service": {"enabled", "applied"},
    "endpoint_protection": {"product", "real_time", "signature_age_days"},
}
# Added by the live collector on top of the DESIGN example (extensions of the contract).
LIVE_EXTRA_KEYS = {"collection_errors"}
LIVE_EXTRA_NESTED_KEYS = {"exchange": {"setup_registry"}}
SETUP_REGISTRY_VALUES = {"MsiProductMajor", "MsiProductMinor", "MsiBuildMajor", "MsiBuildMinor"}

# Cmdlets the collector may call: reads only. Loading a snap-in or module affects the
# runspace of the collector alone. Set-StrictMode only changes parsing rules of the script.
READ_ONLY_COMMANDS = {
    "add-pssnapin",
    "foreach-object",
    "get-childitem",
    "get-ciminstance",
    "get-command",
    "get-date",
    "get-exchangeserver",
    "get-item",
    "get-itemproperty",
    "get-mailboxserver",
    "get-module",
    "get-mpcomputerstatus",
    "get-organizationconfig",
    "get-pssnapin",
    "get-variable",
    "get-webconfigurationproperty",
    "import-module",
    "join-path",
    "set-strictmode",
    "test-path",
    "where-object",
}
STATE_CHANGING = re.compile(
    r"\b(?:(?:Set|New|Remove|Enable|Disable|Start|Stop|Restart|Install|Uninstall|Clear|Add|Rename|Move|"
    r"Copy|Suspend|Resume|Register|Unregister|Update|Write|Out|Export|Invoke)-[A-Za-z]+|iex)\b",
    re.IGNORECASE,
)
# Verbs that are allowed only for these exact commands: Set-StrictMode and Add-PSSnapin affect
# the collector's own runspace; Add-CollectionError is the script's function that appends to
# its in-memory error list.
STATE_CHANGING_ALLOWED = {"set-strictmode", "add-pssnapin", "add-collectionerror"}
MUTATING_METHODS = re.compile(
    r"\.(?:SetValue|DeleteValue|DeleteSubKey\w*|CreateSubKey|Delete|Create|Put|InvokeMethod|"
    r"Kill|Start|Stop|WriteAll\w*|AppendAll\w*|Move|CopyTo|MoveTo|Invoke)\s*\(",
    re.IGNORECASE,
)
# .ps1 modules and the controller-side modules live.yml may use.
SHELL_MODULES = {
    "ansible.windows.win_powershell",
    "ansible.windows.win_shell",
    "ansible.windows.win_command",
    "ansible.builtin.command",
    "ansible.builtin.shell",
}


# --------------------------------------------------------------------------- helpers


def _script_bytes() -> bytes:
    return SCRIPT.read_bytes()


def _script_text() -> str:
    return _script_bytes().decode("utf-8-sig")


def _parse_powershell(source: bytes):
    tree_sitter = pytest.importorskip("tree_sitter")
    tree_sitter_powershell = pytest.importorskip("tree_sitter_powershell")
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    return parser.parse(source)


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _script_tree():
    raw = _script_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return _parse_powershell(raw)


def _code_without_comments() -> str:
    """Script text with every comment node blanked out (keeps strings and code)."""
    raw = _script_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    tree = _parse_powershell(raw)
    out = bytearray(raw)
    for node in _walk(tree.root_node):
        if node.type == "comment":
            out[node.start_byte : node.end_byte] = b" " * (node.end_byte - node.start_byte)
    return out.decode("utf-8")


def _function_names(tree) -> set[str]:
    names = set()
    for node in _walk(tree.root_node):
        if node.type == "function_statement":
            for child in node.children:
                if child.type == "function_name":
                    names.add(child.text.decode().lower())
    return names


def _load_live() -> list:
    data = yaml.safe_load(LIVE.read_text(encoding="utf-8"))
    assert isinstance(data, list) and data, "live.yml must be a non-empty task list"
    return data


def _iter_tasks(tasks):
    for task in tasks or []:
        yield task
        for section in ("block", "rescue", "always"):
            if section in task:
                yield from _iter_tasks(task[section])


def _task_keywords() -> set[str]:
    from ansible.playbook.task import Task

    keywords = set(Task.fattributes) | {"block", "rescue", "always", "local_action"}
    return {k for k in keywords if k != "loop_with"}


def _module_of(task) -> str | None:
    if any(section in task for section in ("block", "rescue", "always")):
        return None
    keywords = _task_keywords()
    candidates = [k for k in task if k not in keywords and not k.startswith("with_")]
    assert len(candidates) == 1, f"task {task.get('name')!r}: cannot tell the module from {candidates}"
    return candidates[0]


def _module_tasks():
    for task in _iter_tasks(_load_live()):
        module = _module_of(task)
        if module:
            yield module, task


def _collector_task():
    found = [t for m, t in _module_tasks() if m == "ansible.windows.win_powershell"]
    assert len(found) == 1, "live.yml must run exactly one win_powershell collector task"
    return found[0]


def _server_fact_template() -> dict:
    found = [
        t["ansible.builtin.set_fact"]["exchange_facts_server"]
        for m, t in _module_tasks()
        if m == "ansible.builtin.set_fact" and "exchange_facts_server" in t["ansible.builtin.set_fact"]
    ]
    assert len(found) == 1, "exactly one set_fact must build exchange_facts_server"
    return found[0]


# --------------------------------------------------------------------------- (a) syntax


def test_collector_parses_without_error_or_missing_nodes():
    tree = _script_tree()
    bad = [
        f"{node.type}{' (missing)' if node.is_missing else ''} at line {node.start_point[0] + 1}"
        for node in _walk(tree.root_node)
        if node.type == "ERROR" or node.is_missing
    ]
    assert not bad, f"tree-sitter PowerShell parse problems: {bad}"
    assert not tree.root_node.has_error


def test_collector_style():
    raw = _script_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "the .ps1 must be UTF-8 with BOM (CSS-Exchange style)"
    assert raw.endswith(b"\n"), "newline at end of file"
    text = _script_text()
    assert "\r" not in text
    assert not re.search(r"[\u2018\u2019\u201c\u201d]", text), "no curly quotes"
    assert re.match(r"\s*<#.*?\.SYNOPSIS.*?\.DESCRIPTION.*?#>", text, re.S), "comment-based help first"
    code = _code_without_comments()
    assert re.search(r"^Set-StrictMode -Version 2\s*$", code, re.M)
    assert not re.search(r"\bWrite-Host\b", code, re.I)
    assert re.search(r"^\s*\$Ansible\.Changed = \$false\s*$", code, re.M)
    assert re.search(r"^\s*\$Ansible\.Result = \$result\s*$", code, re.M)


def test_every_collector_function_has_help():
    text = _script_text()
    functions = re.findall(r"^function ([\w-]+) \{\n(.*?)^\}", text, re.M | re.S)
    assert len(functions) >= 15, "one concern per function"
    for name, body in functions:
        assert re.match(r"\s*<#\s*\.SYNOPSIS", body), f"{name} lacks comment-based help"


def test_sections_are_guarded_by_try_catch():
    # Every function that runs a cmdlet which can fail on a missing fact catches it itself.
    text = _script_text()
    functions = dict(re.findall(r"^function ([\w-]+) \{\n(.*?)^\}", text, re.M | re.S))
    guarded = [
        "Get-HostIdentity",
        "Get-ExchangeSetupFacts",
        "Get-ExSetupFileVersion",
        "Get-ExchangeRoleNames",
        "Get-ExchangeInstalledUpdates",
        "Import-ExchangeSnapIn",
        "Get-ExchangeServerObjectFacts",
        "Get-DagMembership",
        "Get-NetlogonSiteName",
        "Get-OrganizationMitigationSetting",
        "Get-MitigationServiceState",
        "Get-OperatingSystemFacts",
        "Get-DotNetFrameworkRelease",
        "Get-UrlRewriteVersion",
        "Get-IisRewriteRules",
        "Get-DefenderStatus",
        "Get-SecurityCenterAntivirus",
        "Get-EndpointProtectionFacts",
    ]
    for name in guarded:
        assert name in functions, f"missing collector function {name}"
        assert re.search(r"\btry \{.*?\bcatch \{", functions[name], re.S), f"{name} has no try/catch"


# --------------------------------------------------------------------------- (b) read-only


def test_collector_calls_no_state_changing_cmdlet():
    code = _code_without_comments()
    hits = sorted(
        {m.group(0) for m in STATE_CHANGING.finditer(code) if m.group(0).lower() not in STATE_CHANGING_ALLOWED}
    )
    assert not hits, f"state-changing cmdlets in the collector: {hits}"
    dynamic = r"Invoke-Expression|\biex\b|Invoke-WmiMethod|Invoke-CimMethod|\[ScriptBlock\]::Create"
    assert not re.search(dynamic, code, re.I)
    assert not MUTATING_METHODS.findall(code), "the collector calls a mutating .NET/WMI method"
    assert not re.search(r"OpenSubKey\([^)]*\$true", code, re.I), "registry keys are opened read-only"
    assert not re.search(r"(^|[^\w$-])(>>?|Out-File|Set-Content|Add-Content)\s", code, re.M), "no file writes"


def test_collector_commands_are_an_allowlist_of_reads():
    tree = _script_tree()
    own = _function_names(tree)
    commands = set()
    for node in _walk(tree.root_node):
        if node.type == "command_name":
            commands.add(node.text.decode().lower())
        elif node.type == "command_name_expr":
            pytest.fail(f"dynamic command invocation is not allowed: {node.text.decode()}")
    unknown = sorted(commands - own - READ_ONLY_COMMANDS)
    assert not unknown, f"commands outside the read-only allowlist: {unknown}"
    # Every function the script defines is a reader, formatter or recorder by its verb.
    for name in own:
        verb = name.split("-", 1)[0]
        assert verb in {"get", "convertto", "add", "import"}, f"unexpected verb in {name}"
    assert {n for n in own if n.startswith("add-")} == {"add-collectionerror"}
    assert {n for n in own if n.startswith("import-")} == {"import-exchangesnapin"}


def test_safety_scan_catches_a_mutating_script():
    # The scan itself must fire on the kinds of calls it is meant to keep out.
    for sample in (
        "Set-OrganizationConfig -MitigationsEnabled $true",
        "Stop-Service MSExchangeMitigation",
        "Remove-Item C:\\x",
        "New-ItemProperty -Path HKLM:\\X -Name Y",
        "Restart-WebAppPool MSExchangeECPAppPool",
        "Install-Module Foo",
        "Invoke-Expression $x",
        "iex $x",
    ):
        assert STATE_CHANGING.search(sample), sample
    assert MUTATING_METHODS.search("$key.SetValue('a', 1)")
    assert not STATE_CHANGING.search("Get-ExchangeServer -Identity $env:COMPUTERNAME")


def test_collector_reads_every_documented_source():
    code = _code_without_comments()
    for needle in (
        r"ExchangeServer\{0}",
        "'v15', 'v14'",
        "MsiInstallPath",
        "MsiProductMajor",
        "MsiProductMinor",
        "MsiBuildMajor",
        "MsiBuildMinor",
        r"bin\ExSetup.exe",
        "VersionInfo.FileVersion",
        "'*Role'",
        r"HKLM:\SOFTWARE\Microsoft\Updates",
        "'Exchange 20*'",
        "PackageName",
        "InstalledDate",
        "Microsoft.Exchange.Management.PowerShell.SnapIn",
        "Get-MailboxServer",
        "DatabaseAvailabilityGroup",
        "Win32_OperatingSystem",
        r"NDP\v4\Full",
        r"IIS Extensions\URL Rewrite",
        r"inetsrv\rewrite.dll",
        "system.webServer/rewrite/rules/rule",
        "system.webServer/rewrite/globalRules/rule",
        "MACHINE/WEBROOT/APPHOST/Default Web Site",
        "MSExchangeMitigation",
        "MitigationsEnabled",
        "MitigationsApplied",
        "RealTimeProtectionEnabled",
        "AntivirusSignatureAge",
        "AntivirusSignatureLastUpdated",
        "AMProductVersion",
        "root/SecurityCenter2",
        "no endpoint protection found",
    ):
        assert needle in code, f"collector does not read {needle!r}"


# --------------------------------------------------------------------------- (c) live.yml


def test_live_yml_uses_fqcn_for_every_module():
    for module, task in _module_tasks():
        assert module.count(".") >= 2, f"task {task.get('name')!r} uses {module!r}: use the FQCN"
        assert task.get("name"), f"{module} task has no name"


def test_live_yml_module_options_are_documented():
    from ansible.plugins.loader import fragment_loader, init_plugin_loader, module_loader
    from ansible.utils.plugin_docs import get_docstring

    init_plugin_loader([])
    for module, task in _module_tasks():
        args = task[module]
        if module == "ansible.builtin.set_fact":
            assert isinstance(args, dict) and args
            assert all(k.startswith("exchange_facts_") for k in args if k != "cacheable")
            continue
        ctx = module_loader.find_plugin_with_context(module)
        assert ctx.resolved, module
        path = ctx.plugin_resolved_path
        if path.endswith(".ps1"):
            path = path[: -len(".ps1")] + ".py"
        doc = get_docstring(path, fragment_loader, collection_name=ctx.plugin_resolved_collection or None)[0]
        options = doc.get("options") or {}
        known = set(options)
        for spec in options.values():
            known.update(spec.get("aliases") or [])
        unknown = set(args) - known
        assert not unknown, f"{module}: undocumented options {sorted(unknown)}"
        for name, spec in options.items():
            if spec.get("required"):
                assert name in args, f"{module}: required option {name} missing"
            if "choices" in spec and name in args and "{{" not in str(args[name]):
                assert args[name] in spec["choices"], f"{module}.{name}={args[name]!r}"


def test_shell_tasks_have_changed_when():
    for module, task in _module_tasks():
        if module in SHELL_MODULES:
            assert "changed_when" in task, f"task {task['name']!r} lacks changed_when"


def test_collector_task_settings():
    task = _collector_task()
    args = task["ansible.windows.win_powershell"]
    assert task["check_mode"] is False
    assert task["changed_when"] is False
    assert task["ignore_unreachable"] is True
    assert task["register"] == "exchange_facts_collector"
    assert "exchange_facts_script_timeout" in str(task["timeout"])
    assert "Get-ExchangeServerFacts.ps1" in args["script"]
    assert "lookup('ansible.builtin.file'" in args["script"]
    assert "exchange_facts_collect_endpoint_protection" in str(args["parameters"]["CollectEndpointProtection"])
    assert int(args["depth"]) >= 4, "result -> exchange -> installed_updates -> item needs depth >= 4"
    # The script's only parameter is the one passed in.
    assert re.search(r"\[bool\]\s*\$CollectEndpointProtection", _script_text())
    raw = LIVE.read_text(encoding="utf-8")
    assert re.search(r"#.*read-only", raw, re.I) and re.search(r"#.*--check", raw), "check_mode false needs a why"


def test_controller_writes_are_delegated_and_run_in_check_mode():
    writers = [(m, t) for m, t in _module_tasks() if m in {"ansible.builtin.file", "ansible.builtin.copy"}]
    assert {m for m, _ in writers} == {"ansible.builtin.file", "ansible.builtin.copy"}
    for module, task in writers:
        assert task["delegate_to"] == "localhost", module
        assert task["check_mode"] is False, module
        assert task["become"] is False, module
        assert "mode" in task[module], module
    copy = next(t["ansible.builtin.copy"] for m, t in writers if m == "ansible.builtin.copy")
    assert copy["dest"] == "{{ exchange_facts_evidence_root }}/{{ inventory_hostname }}/server.json"
    assert "exchange_facts_server | to_nice_json" in copy["content"]


def test_server_fact_matches_server_json_contract():
    server = _server_fact_template()
    assert server["schema"] == 1
    missing = (SERVER_JSON_KEYS | LIVE_EXTRA_KEYS) - set(server)
    assert not missing, f"exchange_facts_server lacks {sorted(missing)}"
    for section, keys in SERVER_JSON_NESTED_KEYS.items():
        assert isinstance(server[section], dict), section
        need = keys | LIVE_EXTRA_NESTED_KEYS.get(section, set())
        missing = need - set(server[section])
        assert not missing, f"exchange_facts_server.{section} lacks {sorted(missing)}"


def test_variables_are_role_prefixed():
    for _module, task in _module_tasks():
        if "register" in task:
            assert task["register"].startswith("exchange_facts_")
        for name in task.get("vars", {}):
            assert name.startswith("exchange_facts_"), name


# --------------------------------------------------------------------------- (d) block/rescue


def test_live_yml_has_block_and_rescue_setting_the_error():
    tasks = _load_live()
    outer = [t for t in tasks if "block" in t]
    assert outer, "live.yml must wrap the collection in a block"
    assert len(outer) == len(tasks), "every task of live.yml must be inside the block/rescue"
    for top in outer:
        assert top.get("rescue"), "the block needs a rescue"
        rescue_facts = [t["ansible.builtin.set_fact"] for t in top["rescue"] if "ansible.builtin.set_fact" in t]
        assert any("exchange_facts_error" in f for f in rescue_facts)
        text = json.dumps(top["rescue"])
        assert "ansible_failed_task" in text and "ansible_failed_result" in text
    unreachable = [
        t
        for t in _iter_tasks(tasks)
        if "exchange_facts_error" in t.get("ansible.builtin.set_fact", {}) and "unreachable" in str(t.get("when"))
    ]
    assert unreachable, "an unreachable host must set exchange_facts_error"


# --------------------------------------------------------------------------- run live.yml


FAKE_WIN_POWERSHELL = textwrap.dedent(
    '''
    #!/usr/bin/python
    """Test stand-in for ansible.windows.win_powershell: returns a canned collector result."""
    import json
    import os
    import sys

    from ansible.module_utils.basic import AnsibleModule


    def main():
        module = AnsibleModule(
            argument_spec=dict(
                script=dict(type="str"),
                parameters=dict(type="dict"),
                depth=dict(type="int", default=2),
            ),
            supports_check_mode=True,
        )
        if module.check_mode:
            module.fail_json(msg="collector ran in check mode: it would have been skipped")
        script = module.params["script"] or ""
        if script.startswith("\\ufeff") or "function Get-ExchangeSetupFacts" not in script:
            module.fail_json(msg="script is not the collector without its BOM")
        if not isinstance(module.params["parameters"]["CollectEndpointProtection"], bool):
            module.fail_json(msg="CollectEndpointProtection is not a bool")
        with open(os.environ["EXCHANGE_FACTS_FAKE_RESULT"], encoding="utf-8") as handle:
            case = json.load(handle)
        if case.get("fail"):
            # Like win_powershell after a terminating error: failed, no msg, the error records.
            print(json.dumps({
                "changed": False,
                "failed": True,
                "result": {},
                "host_out": "",
                "host_err": "",
                "output": [],
                "error": [{"output": "x", "exception": {"message": case["fail"]}}],
            }))
            sys.exit(0)
        module.exit_json(changed=True, result=case["result"], host_out="", host_err="", output=[], error=[])


    if __name__ == "__main__":
        main()
    '''
).lstrip()

COLLECTOR_RESULT = {
    "collector": "Get-ExchangeServerFacts",
    "hostname": "EX01",
    "fqdn": "ex01.contoso.local",
    "collected_at": "2021-03-08T10:00:00Z",
    "exchange": {
        "version_key": "v15",
        "install_path": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
        "exsetup_version": "15.01.2176.009",
        "admin_display_version": "Version 15.1 (Build 2176.2)",
        "roles": ["AdminTools", "ClientAccess", "Mailbox"],
        "dag": "DAG01",
        "site": "HQ",
        "site_source": "Get-ExchangeServer",
        "cmdlets_loaded": True,
        "installed_updates": [
            {
                "package": "Security Update for Exchange Server 2016 CU19 (KB5000871)",
                "installed": "2021-03-05",
                "installed_raw": "3/5/2021",
                "update_key": "Exchange 2016",
            }
        ],
        "setup_registry": {
            "version_key": "v15",
            "MsiInstallPath": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
            "MsiProductMajor": 15,
            "MsiProductMinor": 1,
            "MsiBuildMajor": 2176,
            "MsiBuildMinor": 2,
            "services_present": True,
        },
    },
    "os": {"caption": "Microsoft Windows Server 2016 Standard", "version": "10.0.14393"},
    "dotnet_release": 528049,
    "iis": {
        "url_rewrite_version": "7.2.1993",
        "url_rewrite_dll_version": "7.1.1993.2351",
        "rewrite_rules": ["EOMT Mitigation"],
        "global_rewrite_rules": [],
    },
    "mitigation_service": {
        "enabled": None,
        "applied": None,
        "blocked": None,
        "organization_enabled": None,
        "server_enabled": None,
        "service_present": False,
        "service_status": None,
        "service_start_mode": None,
    },
    "endpoint_protection": {
        "product": "Microsoft Defender Antivirus",
        "real_time": True,
        "signature_age_days": 1,
        "signature_last_updated": "2021-03-07T02:00:00Z",
        "product_version": "4.18.2102.4",
        "running_mode": "Normal",
        "source": "Get-MpComputerStatus",
        "note": None,
    },
    "errors": ["exchange.cmdlets: example"],
}


def _unreachable_connection() -> dict:
    """Connection variables of a host that refuses connections (closed port on loopback).

    pypsrp is in requirements.txt, so the PSRP connection plugin is always usable here."""
    assert importlib.util.find_spec("pypsrp") is not None, "pypsrp missing: run make setup"
    return {
        "ansible_connection": "ansible.builtin.psrp",
        "ansible_host": "127.0.0.1",
        "ansible_port": 1,
        "ansible_psrp_protocol": "http",
        "ansible_user": "nobody",
        "ansible_password": "unused",
        "ansible_psrp_connection_timeout": 5,
    }


def _run_live(base: Path):
    """Run live.yml for three hosts: a good one, one whose collector fails, one unreachable.

    Returns ({"normal"|"check": (process, facts per host, server.json per host)}, evidence root).
    """
    fake_modules = base / "collections" / "ansible_collections" / "ansible" / "windows" / "plugins" / "modules"
    fake_modules.mkdir(parents=True)
    (fake_modules / "win_powershell.py").write_text(FAKE_WIN_POWERSHELL, encoding="utf-8")

    good = base / "good.json"
    good.write_text(json.dumps({"result": COLLECTOR_RESULT}), encoding="utf-8")
    broken = base / "broken.json"
    broken.write_text(json.dumps({"fail": "Get-ItemProperty : Access is denied.\r\nAt line:1"}), encoding="utf-8")
    evidence = base / "evidence"
    state = base / "state"
    state.mkdir()

    python = sys.executable
    inventory = {
        "all": {
            "hosts": {
                "ex01": {"ansible_connection": "local", "fake_result": str(good)},
                "ex02": {"ansible_connection": "local", "fake_result": str(broken)},
                "ex03": {**_unreachable_connection(), "fake_result": str(good)},
            },
            "vars": {"ansible_python_interpreter": python},
        }
    }
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    playbook = [
        {
            "name": "Run live.yml",
            "hosts": "all",
            "gather_facts": False,
            "environment": {"EXCHANGE_FACTS_FAKE_RESULT": "{{ fake_result }}"},
            "vars": {
                "exchange_facts_evidence_root": str(evidence),
                "exchange_facts_collect_endpoint_protection": True,
                "exchange_facts_script_timeout": 60,
            },
            "tasks": [
                {
                    "name": "Include live.yml",
                    "ansible.builtin.include_role": {"name": "exchange_facts", "tasks_from": "live"},
                },
                {
                    "name": "Dump the facts",
                    "ansible.builtin.copy": {
                        "content": "{{ {'error': exchange_facts_error | default(none),"
                        " 'bundle_dir': exchange_facts_bundle_dir | default(none),"
                        " 'server': exchange_facts_server | default(none)} | to_json }}",
                        "dest": f"{state}/{{{{ inventory_hostname }}}}.json",
                        "mode": "0600",
                    },
                    "delegate_to": "localhost",
                    "check_mode": False,
                },
            ],
        }
    ]
    (base / "playbook.yml").write_text(yaml.safe_dump(playbook, sort_keys=False), encoding="utf-8")

    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_COLLECTIONS_PATH": str(base / "collections"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
            "ANSIBLE_HOME": str(base / "home"),
        }
    )
    ansible_playbook = str(Path(python).with_name("ansible-playbook"))
    results = {}
    for mode in ("normal", "check"):
        for leftover in list(evidence.glob("*/server.json")) + list(state.glob("*.json")):
            leftover.unlink()
        cmd = [ansible_playbook, "-i", str(base / "inventory.yml"), str(base / "playbook.yml")]
        if mode == "check":
            cmd.append("--check")
        proc = subprocess.run(cmd, cwd=base, env=env, capture_output=True, text=True, timeout=300)
        states = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in state.glob("*.json")}
        bundles = {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in evidence.glob("*/server.json")}
        results[mode] = (proc, states, bundles)
    return results, evidence


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    pytest.importorskip("ansible")
    return _run_live(tmp_path_factory.mktemp("live"))


@pytest.mark.parametrize("mode", ["normal", "check"])
def test_live_run_writes_server_json(live_run, mode):
    results, evidence = live_run
    proc, states, bundles = results[mode]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert set(states) == {"ex01", "ex02", "ex03"}, proc.stdout[-4000:]
    assert set(bundles) == {"ex01"}, "only the good host gets a bundle"

    server = bundles["ex01"]
    assert server == states["ex01"]["server"]
    # The manifest proves the evidence: sha256sum format, digest of the file as written.
    digest = hashlib.sha256((evidence / "ex01" / "server.json").read_bytes()).hexdigest()
    assert (evidence / "ex01" / "manifest.sha256").read_text(encoding="utf-8") == f"{digest}  server.json\n"
    assert states["ex01"]["error"] is None
    assert states["ex01"]["bundle_dir"] == f"{evidence}/ex01"
    assert server["schema"] == 1 and isinstance(server["schema"], int)
    assert server["hostname"] == "EX01"
    assert server["fqdn"] == "ex01.contoso.local"
    assert server["collected_at"] == "2021-03-08T10:00:00Z"
    exchange = server["exchange"]
    assert exchange["exsetup_version"] == "15.01.2176.009"
    assert exchange["install_path"] == COLLECTOR_RESULT["exchange"]["install_path"]
    assert exchange["roles"] == ["AdminTools", "ClientAccess", "Mailbox"]
    assert exchange["dag"] == "DAG01" and exchange["site"] == "HQ"
    assert exchange["installed_updates"][0]["package"].endswith("(KB5000871)")
    assert exchange["installed_updates"][0]["installed"] == "2021-03-05"
    assert set(exchange["setup_registry"]) >= SETUP_REGISTRY_VALUES
    assert exchange["setup_registry"]["MsiBuildMajor"] == 2176
    assert server["os"] == {"caption": "Microsoft Windows Server 2016 Standard", "version": "10.0.14393"}
    assert server["dotnet_release"] == 528049
    assert server["iis"]["url_rewrite_version"] == "7.2.1993"
    assert server["iis"]["rewrite_rules"] == ["EOMT Mitigation"]
    assert server["mitigation_service"]["enabled"] is None
    assert server["mitigation_service"]["applied"] is None
    ep = server["endpoint_protection"]
    assert ep["product"] == "Microsoft Defender Antivirus"
    assert ep["real_time"] is True and ep["signature_age_days"] == 1
    assert server["collection_errors"] == ["exchange.cmdlets: example"]
    assert set(server) >= SERVER_JSON_KEYS | LIVE_EXTRA_KEYS
    for section, keys in SERVER_JSON_NESTED_KEYS.items():
        assert set(server[section]) >= keys, section


@pytest.mark.parametrize("mode", ["normal", "check"])
def test_live_run_failures_become_exchange_facts_error(live_run, mode):
    results, _ = live_run
    proc, states, _ = results[mode]
    broken = states["ex02"]
    assert broken["bundle_dir"] is None and broken["server"] is None
    assert broken["error"].startswith("live fact collection failed in task 'Run the read-only Exchange fact collector'")
    assert "Access is denied. At line:1" in broken["error"]
    assert "\n" not in broken["error"]

    unreachable = states["ex03"]
    assert unreachable["bundle_dir"] is None and unreachable["server"] is None
    assert unreachable["error"].startswith("live fact collection failed: host unreachable")
    assert "\n" not in unreachable["error"]
    assert re.search(r"ex02\s+:.*rescued=1", proc.stdout), proc.stdout[-2000:]
