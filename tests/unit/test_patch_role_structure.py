"""Roles exchange_patch and exchange_maintenance: structure, safety rules, and runs on localhost.

There is no Windows host here. The roles are checked statically (entry points, argument specs
against the variables the tasks use, preflight asserts, block/rescue/always, every change
guarded, the traps of patch-procedure.md §9 on the setup and SU tasks, the PowerShell scripts'
shape) and then run with ansible-playbook on localhost, with the ansible.windows and
community.windows modules replaced by stand-ins that return canned results of realistic servers
and record every call. The runs cover a patched DAG member, a refused server, an up-to-date
server, check mode, a failed CU setup (rescue and repair), a server that does not come out of
maintenance, a failed post-check and a plan that does not patch the server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_windows import (
    FAKE_MEDIA_VERIFY,
    build_only,
    enter_result,
    install_stand_ins,
    log_info,
    maintenance_exit_state,
)
from test_patch_checks import (
    PREREQUISITE_ARGUMENTS,
    SERVICES,
    THRESHOLDS,
    _filters,
    _maintenance_components,
    dag_plan,
    healthy_dag,
    maintenance_state,
    post_facts,
)

REPO = Path(__file__).resolve().parents[2]
PATCH = REPO / "roles" / "exchange_patch"
MAINTENANCE = REPO / "roles" / "exchange_maintenance"
ROLE_FILES = ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "README.md")
ENTRY_POINTS = {PATCH: {"main": "tasks/main.yml"},
                MAINTENANCE: {"enter": "tasks/enter.yml", "exit": "tasks/exit.yml"}}
CHANGING_MODULES = {
    "ansible.windows.win_package", "ansible.windows.win_feature", "ansible.windows.win_reboot",
    "ansible.windows.win_service", "ansible.windows.win_file", "ansible.windows.win_hotfix",
    "community.windows.win_disk_image",
}
READ_ONLY_SCRIPTS = {"Get-ExchangePatchPrecheckFacts.ps1", "Get-ExchangePatchPostcheckFacts.ps1",
                     "Get-ExchangePatchLogInfo.ps1", "Get-ExchangeMaintenanceState.ps1"}
CHANGING_SCRIPTS = {"Enter-ExchangeMaintenance.ps1", "Exit-ExchangeMaintenance.ps1"}
STATE_CHANGING = re.compile(
    r"\b(?:Set|New|Remove|Enable|Disable|Start|Stop|Restart|Install|Uninstall|Clear|Rename|Move|Suspend|Resume|"
    r"Register|Unregister|Update|Redirect|Invoke)-[A-Za-z]+\b",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- helpers


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _walk(tasks: Any, section: str = "", parents: tuple[dict, ...] = ()):
    """(task, section it sits in, enclosing blocks) for every task at any depth."""
    for task in tasks or []:
        yield task, section, parents
        for key in ("block", "rescue", "always"):
            if key in task:
                yield from _walk(task[key], key, (*parents, task))


def _module(task: dict) -> str | None:
    from ansible.playbook.task import Task

    if any(key in task for key in ("block", "rescue", "always")):
        return None
    keywords = set(Task.fattributes) | {"local_action"}
    candidates = [key for key in task if key not in keywords]
    assert len(candidates) == 1, f"task {task.get('name')!r}: cannot tell the module from {candidates}"
    return candidates[0]


def _task_files(role: Path) -> dict[str, list]:
    return {path.name: _load(path) for path in sorted((role / "tasks").glob("*.yml"))}


def _all_tasks(role: Path):
    for name, tasks in _task_files(role).items():
        for task, section, parents in _walk(tasks):
            yield name, task, section, parents


def _script_name(task: dict) -> str | None:
    args = task.get("ansible.windows.win_powershell")
    if not isinstance(args, dict):
        return None
    match = re.search(r"lookup\('ansible\.builtin\.file', '([^']+\.ps1)'\)", str(args.get("script", "")))
    return match.group(1) if match else None


def _strip_comments(text: str) -> str:
    text = re.sub(r"<#.*?#>", "", text, flags=re.S)
    return "\n".join(line.split(" #", 1)[0] if not line.lstrip().startswith("#") else "" for line in text.splitlines())


# --------------------------------------------------------------------------- layout and specs


@pytest.mark.parametrize("role", [PATCH, MAINTENANCE], ids=lambda p: p.name)
def test_role_layout(role):
    for name in ROLE_FILES:
        assert (role / name).is_file(), f"{role.name} lacks {name}"
    specs = _load(role / "meta" / "argument_specs.yml")["argument_specs"]
    assert set(specs) == set(ENTRY_POINTS[role]), "one spec per entry point"
    for entry, path in ENTRY_POINTS[role].items():
        assert (role / path).is_file(), f"entry point {entry} has no {path}"
        assert specs[entry]["short_description"] and specs[entry]["description"]
    meta = _load(role / "meta" / "main.yml")
    assert meta["galaxy_info"]["role_name"] == role.name and meta["dependencies"] == []


@pytest.mark.parametrize("role", [PATCH, MAINTENANCE], ids=lambda p: p.name)
def test_specs_have_no_jinja_and_match_the_defaults(role):
    specs = _load(role / "meta" / "argument_specs.yml")["argument_specs"]
    defaults = _load(role / "defaults" / "main.yml")
    documented: dict[str, Any] = {}
    for spec in specs.values():
        for name, option in spec["options"].items():
            assert name.startswith(f"{role.name}_"), f"{name} is not prefixed with the role name"
            assert option.get("type") and option.get("description"), name
            assert "{{" not in str(option.get("default", "")), f"{name}: Jinja in a spec default"
            if "default" in option:
                assert option.get("required") is not True, name
            documented[name] = option
    for name, value in defaults.items():
        assert name in documented, f"default {name} is not in an argument spec"
        option = documented[name]
        if "{{" not in str(value):
            assert "default" in option, f"{name}: the spec does not give the default {value!r}"
            assert option["default"] == value, f"{name}: spec default {option['default']!r} != {value!r}"
    for name, option in documented.items():
        if option.get("required"):
            assert name not in defaults, f"required {name} must not have a default"


def _set_by_role(role: Path) -> set[str]:
    """Variables a role sets itself: register, set_fact, include vars, task vars, loop vars."""
    names: set[str] = set()
    for _, task, _, _ in _all_tasks(role):
        if "register" in task:
            names.add(task["register"])
        for key in ("vars",):
            names.update(task.get(key) or {})
        facts = task.get("ansible.builtin.set_fact")
        if isinstance(facts, dict):
            names.update(facts)
    return names


@pytest.mark.parametrize(("role", "entry"), [(PATCH, "main"), (MAINTENANCE, "enter"), (MAINTENANCE, "exit")])
def test_every_role_variable_the_tasks_read_is_in_the_entry_points_spec(role, entry):
    # Argument specs do not notice a variable used in tasks but missing from the spec (the
    # infra.windows_ops bug the style anchors mention): this test does.
    specs = _load(role / "meta" / "argument_specs.yml")["argument_specs"]
    documented = set(specs[entry]["options"])
    files = [role / ENTRY_POINTS[role][entry]]
    if role == PATCH:
        files = sorted((role / "tasks").glob("*.yml"))
    used: set[str] = set()
    for path in files:
        used.update(re.findall(rf"\b{role.name}_[a-z0-9_]+\b", path.read_text(encoding="utf-8")))
    unexplained = used - documented - _set_by_role(role) - set(_filters())
    assert not unexplained, f"{role.name} {entry} reads variables that no spec documents: {sorted(unexplained)}"


@pytest.mark.parametrize(("role", "path"), [(PATCH, "tasks/main.yml"), (MAINTENANCE, "tasks/enter.yml"),
                                            (MAINTENANCE, "tasks/exit.yml")])
def test_entry_points_start_with_an_always_tagged_preflight_assert(role, path):
    first = _load(role / path)[0]
    assert "ansible.builtin.assert" in first, f"{path} must start with ansible.builtin.assert"
    assert first["tags"] == ["always"]
    fail_msg = first["ansible.builtin.assert"]["fail_msg"]
    for condition in first["ansible.builtin.assert"]["that"]:
        for variable in re.findall(rf"\b{role.name}_[a-z0-9_]+", condition):
            assert variable in fail_msg, f"fail_msg does not name {variable}"


@pytest.mark.parametrize("role", [PATCH, MAINTENANCE], ids=lambda p: p.name)
def test_modules_are_fqcn_and_named(role):
    for name, task, _, _ in _all_tasks(role):
        assert task.get("name"), f"{name}: a task without a name"
        module = _module(task)
        if module:
            assert module.count(".") >= 2, f"{name}: {task['name']!r} uses {module!r}, not an FQCN"


# --------------------------------------------------------------------------- safety rules


def test_every_changing_task_sits_in_the_apply_file_guarded_by_check_mode_and_decision():
    main = _load(PATCH / "tasks" / "main.yml")
    include = next(t for t in main if t.get("ansible.builtin.include_tasks") == "apply.yml")
    assert "not ansible_check_mode" in include["when"]
    assert any("decision" in condition and "'patch'" in condition for condition in include["when"])
    for name, task, _, _ in _all_tasks(PATCH):
        module = _module(task)
        changing = module in CHANGING_MODULES or (
            module == "ansible.builtin.include_role" and task[module]["name"] == "exchange_maintenance")
        if changing:
            assert name == "apply.yml", f"{task['name']!r} changes the server outside apply.yml"
    # Nothing else includes apply.yml.
    for name, task, _, _ in _all_tasks(PATCH):
        if task.get("ansible.builtin.include_tasks") == "apply.yml":
            assert name == "main.yml"


def test_apply_is_block_rescue_always():
    apply = _load(PATCH / "tasks" / "apply.yml")
    [main_block] = [task for task in apply if "block" in task]
    assert main_block.get("rescue") and main_block.get("always")
    block_names = [task.get("name", "") for task, _, _ in _walk(main_block["block"])]
    assert any("Enter maintenance" in name for name in block_names)
    rescue = {(_module(task) or "block"): task for task, _, _ in _walk(main_block["rescue"])}
    assert "ansible.windows.win_service" in rescue
    service = rescue["ansible.windows.win_service"]["ansible.windows.win_service"]
    assert service["start_mode"] == "{{ item.start_mode }}"
    assert "exchange_patch_automatic_services" in rescue["ansible.windows.win_service"]["loop"]
    assert any(_script_name(task) == "Get-ExchangePatchLogInfo.ps1" for task, _, _ in _walk(main_block["rescue"]))
    always = [task for task, _, _ in _walk(main_block["always"])]
    exits = [t for t in always if t.get("ansible.builtin.include_role", {}).get("tasks_from") == "exit"]
    assert exits, "the always section must leave maintenance"
    leave = next(t for t in main_block["always"] if "block" in t and "rescue" in t)
    assert any("maintenance_entered" in condition for condition in leave["when"])
    assert any(_module(t) == "ansible.windows.win_ping" for t in leave["block"])


def _cu_task() -> dict:
    tasks = [task for _, task, _, _ in _all_tasks(PATCH)
             if "Setup.exe" in str(task.get("ansible.windows.win_package", {}).get("path", ""))]
    assert len(tasks) == 1, "exactly one task runs Setup.exe"
    return tasks[0]


def test_cu_setup_task_avoids_the_win_package_traps():
    task = _cu_task()
    args = task["ansible.windows.win_package"]
    assert "product_id" not in args, "product_id marks any Exchange 15 as installed: /Mode:Upgrade becomes a no-op"
    assert not {"creates_version", "creates_path", "creates_service"} & set(args), "creates_* is exact, not >="
    assert args["expected_return_code"] == [0]
    assert args["arguments"] == "{{ exchange_patch_cu_arguments }}"
    assert task["become"] is True and task["become_method"] == "ansible.builtin.runas"
    assert task["become_user"] == "{{ exchange_patch_become_user }}"
    assert "exchange_patch_setup_timeout_minutes" in str(task["async"]) and "poll" in task
    assert "mount_paths[0]" in args["path"] and args["path"].endswith("Setup.exe")


def test_no_task_uses_product_id_or_creates_version_for_exchange_itself():
    for _name, task, _, _ in _all_tasks(PATCH):
        args = task.get("ansible.windows.win_package")
        if isinstance(args, dict) and "item." not in str(args.get("path")):
            assert "product_id" not in args and "creates_version" not in args, task["name"]


def test_su_task_is_the_elevated_msp_with_its_log():
    tasks = [task for _, task, _, _ in _all_tasks(PATCH)
             if "exchange_patch_su_step.path" in str(task.get("ansible.windows.win_package", {}).get("path", ""))]
    assert len(tasks) == 1
    task = tasks[0]
    args = task["ansible.windows.win_package"]
    assert args["expected_return_code"] == [0, 3010]
    assert args["log_path"] == "{{ exchange_patch_su_log }}"
    assert "product_id" not in args and "creates_version" not in args
    assert task["become"] is True and task["become_method"] == "ansible.builtin.runas"


def test_reboots_wait_for_the_exchange_services():
    reboots = [task for _, task, _, _ in _all_tasks(PATCH) if _module(task) == "ansible.windows.win_reboot"]
    assert len(reboots) == 3, "after prerequisites, after the CU, after the SU"
    for task in reboots:
        args = task["ansible.windows.win_reboot"]
        assert args["reboot_timeout"] == "{{ exchange_patch_reboot_timeout | int }}"
        assert args["test_command"] == "{{ exchange_patch_reboot_test }}"
    apply = (PATCH / "tasks" / "apply.yml").read_text(encoding="utf-8")
    assert "['MSExchangeTransport'] if exchange_patch_server_plan.maintenance == 'edge'" in apply
    assert "['MSExchangeIS', 'MSExchangeTransport']" in apply


def test_cu_build_is_read_back_before_the_reboot():
    apply = _load(PATCH / "tasks" / "apply.yml")
    [main_block] = [task for task in apply if "block" in task]
    cu = next(t for t in main_block["block"] if t.get("name") == "Install the cumulative update")
    order = [(_module(t), t) for t in cu["block"]]
    modules = [module for module, _ in order]
    setup = modules.index("ansible.windows.win_package")
    dismount = next(i for i, (m, t) in enumerate(order) if m == "community.windows.win_disk_image"
                    and t[m]["state"] == "absent")
    check = next(i for i, (m, t) in enumerate(order) if _script_name(t) == "Get-ExchangePatchPostcheckFacts.ps1")
    fail = next(i for i, (m, t) in enumerate(order) if m == "ansible.builtin.fail")
    reboot = modules.index("ansible.windows.win_reboot")
    assert setup < dismount < check < fail < reboot
    assert order[check][1]["ansible.windows.win_powershell"]["parameters"]["BuildOnly"] is True
    assert "exchange_patch_step_failures" in order[fail][1]["when"]


@pytest.mark.parametrize("role", [PATCH, MAINTENANCE], ids=lambda p: p.name)
def test_powershell_tasks_are_declared_read_only_or_changing(role):
    for name, task, _, _ in _all_tasks(role):
        if _module(task) != "ansible.windows.win_powershell":
            continue
        script = _script_name(task)
        assert script and (role / "files" / script).is_file(), f"{name}: {task['name']!r} loads an unknown script"
        assert "regex_replace('^\\ufeff', '')" in task["ansible.windows.win_powershell"]["script"]
        assert "changed_when" in task, f"{task['name']!r} lacks changed_when"
        if script in READ_ONLY_SCRIPTS:
            assert task["changed_when"] is False, task["name"]
            assert task.get("check_mode") is False or task.get("when") == "not ansible_check_mode", task["name"]
        else:
            assert script in CHANGING_SCRIPTS
            assert "'done', 'would_run'" in task["changed_when"], task["name"]
            assert task["become"] is True and task["become_method"] == "ansible.builtin.runas"


def test_controller_writes_are_delegated_and_run_in_check_mode():
    for name, task, _, _ in _all_tasks(PATCH):
        if _module(task) in ("ansible.builtin.copy", "ansible.builtin.file"):
            assert task["delegate_to"] == "localhost" and task["become"] is False and task["check_mode"] is False
            assert name == "outcome.yml"


def test_maintenance_entry_points_verify_the_state_in_python():
    enter = (MAINTENANCE / "tasks" / "enter.yml").read_text(encoding="utf-8")
    exit_ = (MAINTENANCE / "tasks" / "exit.yml").read_text(encoding="utf-8")
    assert "exchange_maintenance_problems(" in enter and "Get-ExchangeMaintenanceState.ps1" in enter
    assert "exchange_maintenance_exit_problems(" in exit_ and "Get-ExchangeMaintenanceState.ps1" in exit_
    for tasks in (_load(MAINTENANCE / "tasks" / "enter.yml"), _load(MAINTENANCE / "tasks" / "exit.yml")):
        assert _module(tasks[-1]) == "ansible.builtin.assert", "the entry point ends by failing loudly"
        assert tasks[-1]["ansible.builtin.assert"]["that"] == ["exchange_maintenance_problems | length == 0"]


# --------------------------------------------------------------------------- PowerShell


def _script_text(path: Path) -> str:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name} must be UTF-8 with BOM"
    assert b"\r" not in raw and raw.endswith(b"\n"), path.name
    return raw.decode("utf-8-sig")


@pytest.mark.parametrize("script", sorted(READ_ONLY_SCRIPTS | CHANGING_SCRIPTS))
def test_script_shape(script):
    path = (PATCH if "Patch" in script else MAINTENANCE) / "files" / script
    text = _script_text(path)
    assert re.match(r"\s*<#.*?\.SYNOPSIS.*?\.DESCRIPTION.*?#>", text, re.S), "comment-based help first"
    assert not re.search(r"[\u2018\u2019\u201c\u201d]", text), "no curly quotes"
    code = _strip_comments(text)
    assert "Set-StrictMode -Version 2" in code
    assert not re.search(r"\bWrite-Host\b", code, re.I)
    functions = re.findall(r"^function ([\w-]+) \{\n(.*?)^\}", text, re.M | re.S)
    assert functions, "one function per concern"
    for name, body in functions:
        assert re.match(r"\s*<#\s*\.SYNOPSIS", body), f"{script}: {name} lacks comment-based help"
    if script in READ_ONLY_SCRIPTS:
        assert "[CmdletBinding()]" in code and "SupportsShouldProcess" not in code
        assert re.search(r"^\s*\$Ansible\.Changed = \$false\s*$", code, re.M)
        own = {name.lower() for name, _ in functions}
        hits = {m.group(0) for m in STATE_CHANGING.finditer(code)} - {"Set-StrictMode"}
        hits = {hit for hit in hits if hit.lower() not in own}
        assert not hits, f"{script} is read-only but calls {sorted(hits)}"
    else:
        assert "[CmdletBinding(SupportsShouldProcess)]" in code
        assert "$PSCmdlet.ShouldProcess(" in code
        assert re.search(r"^\s*\$Ansible\.Changed = \$script:Changed\s*$", code, re.M)


def test_enter_script_follows_the_procedure_in_order():
    code = _strip_comments(_script_text(MAINTENANCE / "files" / "Enter-ExchangeMaintenance.ps1"))
    order = [
        "DatabaseCopyAutoActivationPolicy",
        "-Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'",
        "Restart-Service -Name $name",
        "-Component 'UMCallRouter' -State 'Draining' -Requester 'Maintenance'",
        "'StartDagServerMaintenance.ps1'",
        "Redirect-Message -Server $server -Target $RedirectTarget -Confirm:$false",
        "-Component 'ServerWideOffline' -State 'Inactive' -Requester 'Maintenance'",
    ]
    positions = [code.index(needle) for needle in order]
    assert positions == sorted(positions)
    assert "MoveComment      = 'Maintenance'" in code and "pauseClusterNode = $true" in code
    assert "$dagArguments.overrideMinimumTwoCopies = $true" in code


def test_exit_script_runs_every_step_on_its_own():
    code = _strip_comments(_script_text(MAINTENANCE / "files" / "Exit-ExchangeMaintenance.ps1"))
    steps = ["server_wide_offline_active", "um_call_router_active", "stop_dag_server_maintenance",
             "hub_transport_active", "restart_transport", "_active' -f $component", "restore_activation_policy",
             "rebalance"]
    positions = [code.index(step) for step in steps]
    assert positions == sorted(positions)
    # Each step is its own Invoke-MaintenanceStep call whose result is discarded: no step stops the others.
    assert code.count("[void](Invoke-MaintenanceStep") == 8
    assert "-Requester 'Functional'" in code and "'StopDagServerMaintenance.ps1'" in code


def test_microsoft_scripts_run_without_our_strict_mode():
    for script in CHANGING_SCRIPTS:
        code = _strip_comments(_script_text(MAINTENANCE / "files" / script))
        body = re.search(r"^function Invoke-MicrosoftScript \{\n(.*?)^\}", code, re.M | re.S).group(1)
        assert "Set-StrictMode -Off" in body and "$ErrorActionPreference = 'Continue'" in body


# --------------------------------------------------------------------------- runs on localhost


def _scenario(name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(fake module data, server plan, media) for one scenario host."""
    facts, plan = healthy_dag()
    media = facts.pop("media")
    data: dict[str, Any] = {
        "precheck": facts,
        "enter": enter_result(),
        "state_enter": maintenance_state(),
        "buildonly": build_only("15.1.2507.6"),
        "postcheck": post_facts(),
        "exit": {"mode": "dag", "server": "EX16-DAG1", "steps": [{"name": "hub_transport_active", "status": "done"}],
                 "errors": []},
        "state_exit": maintenance_exit_state(),
        "loginfo": log_info(None),
    }
    if name == "refused":
        data["precheck"]["dag"]["server_wide_offline"]["EX16-DAG2"] = "Inactive"
    elif name == "uptodate":
        data["precheck"]["exchange"]["exsetup_version"] = "15.1.2507.72"
    elif name == "cufails":
        data["win_package_rc"] = {"Setup.exe": 1}
        data["loginfo"] = log_info("[11/29/2026 12:02:11.0441] [2] [ERROR] The following error was generated when "
                                    "\"$error.Clear(); ...\" was run: \"Object reference not set to an instance\".")
        data["win_service_fail"] = ["MSExchangeFastSearch"]
        # A few services keep the repair loop short; the rest behave the same.
        data["precheck"]["services"] = [service for service in data["precheck"]["services"] if service["name"] in (
            "MSExchangeIS", "MSExchangeTransport", "W3SVC", "WAS", "MSExchangeFastSearch",
            "MSExchangeNotificationsBroker", "MSExchangePop3")]
    elif name == "stuck":
        stuck = maintenance_exit_state()
        stuck["cluster_node"]["state"] = "Paused"
        data["state_exit"] = stuck
    elif name == "postfail":
        broken = post_facts()
        broken["web"][0]["status_code"] = 500
        data["postcheck"] = broken
    elif name == "blocked":
        plan.update(state="blocked", reasons=["Exchange 2013 is out of support: migrate"], wave=None)
    return data, plan, media


SCENARIOS = ["patched", "refused", "uptodate", "cufails", "stuck", "postfail", "blocked"]


def _run_roles(base: Path, check: bool) -> tuple[subprocess.CompletedProcess, dict[str, dict], dict[str, list]]:
    collections = install_stand_ins(base)
    media_role = base / "roles" / "exchange_media" / "tasks"
    media_role.mkdir(parents=True, exist_ok=True)
    (media_role / "verify.yml").write_text(yaml.safe_dump(FAKE_MEDIA_VERIFY, sort_keys=False), encoding="utf-8")
    outcomes = base / "outcomes"
    hosts = {}
    for name in SCENARIOS:
        data, plan, media = _scenario(name)
        scenario_file = base / f"{name}.json"
        scenario_file.write_text(json.dumps(data), encoding="utf-8")
        calls = Path(f"{scenario_file}.calls.jsonl")
        if calls.exists():
            calls.unlink()
        hosts[name] = {"ansible_connection": "local", "fake_scenario": str(scenario_file),
                       "fake_plan": plan, "fake_media": media}
    inventory = {"all": {"hosts": hosts, "vars": {"ansible_python_interpreter": sys.executable,
                                                   "ansible_user": "CONTOSO\\svc-exchange-patch",
                                                   # runas exists on Windows only; the stand-ins need no become.
                                                   "ansible_become": False}}}
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    playbook = [{
        "name": "Run exchange_patch against stand-in Windows modules",
        "hosts": "all",
        "gather_facts": False,
        "environment": {"EXCHANGE_PATCH_FAKE": "{{ fake_scenario }}"},
        "vars": {"exchange_patch_outcome_dir": str(outcomes), "exchange_patch_async_poll": 1,
                 "exchange_patch_postcheck_retries": 2, "exchange_patch_postcheck_delay": 0,
                 "exchange_maintenance_verify_retries": 2, "exchange_maintenance_verify_delay": 0},
        "tasks": [
            {"name": "Patch", "ansible.builtin.include_role": {"name": "exchange_patch"},
             "vars": {"exchange_patch_server_plan": "{{ fake_plan }}"}},
            {"name": "Keep the outcome fact", "ansible.builtin.copy": {
                "content": "{{ exchange_patch_outcome | to_json }}",
                "dest": f"{base}/fact-{{{{ inventory_hostname }}}}.json", "mode": "0600"},
             "delegate_to": "localhost", "check_mode": False},
        ],
    }]
    (base / "playbook.yml").write_text(yaml.safe_dump(playbook, sort_keys=False), encoding="utf-8")
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": f"{base / 'roles'}:{REPO / 'roles'}",
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
        "ANSIBLE_HOME": str(base / "home"),
        "ANSIBLE_FORKS": "10",
        "ANSIBLE_PIPELINING": "True",
    })
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(base / "inventory.yml"),
               str(base / "playbook.yml")] + (["--check"] if check else [])
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    results = {}
    calls = {}
    for name in SCENARIOS:
        outcome = outcomes / f"{name}.json"
        results[name] = json.loads(outcome.read_text(encoding="utf-8")) if outcome.exists() else None
        calls_file = base / f"{name}.json.calls.jsonl"
        calls[name] = ([json.loads(line) for line in calls_file.read_text(encoding="utf-8").splitlines()]
                       if calls_file.exists() else [])
    return done, results, calls


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    done, outcomes, calls = _run_roles(tmp_path_factory.mktemp("apply"), check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return outcomes, calls


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    done, outcomes, calls = _run_roles(tmp_path_factory.mktemp("check"), check=True)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return outcomes, calls


def _kinds(calls: list[dict]) -> list[str]:
    return [call["kind"] for call in calls]


def test_run_patches_a_dag_member_in_order(applied):
    outcomes, calls = applied
    outcome = outcomes["patched"]
    assert outcome["state"] == "patched", outcome
    assert outcome["host"] == "patched" and outcome["failed_step"] is None
    assert outcome["maintenance_exited"] is True
    assert outcome["build_before"] == "15.1.2375.12" and outcome["build_after"] == "15.1.2507.72"
    assert outcome["setup_log"] == "C:\\ExchangeSetupLogs\\KB5121576.msp.log"
    assert outcome["finished_at"] and outcome["started_at"] and outcome["wave"] == 1
    assert all(check["ok"] for check in outcome["checks"])
    kinds = _kinds(calls["patched"])
    assert kinds == ["precheck", "enter", "state_enter", "win_package", "win_disk_image", "win_package",
                     "win_disk_image", "buildonly", "win_reboot", "win_file", "win_package", "win_reboot",
                     "postcheck", "win_ping", "exit", "state_exit"], kinds
    enter = next(call for call in calls["patched"] if call["kind"] == "enter")["parameters"]
    assert enter == {"Mode": "dag", "RedirectTarget": "ex16-dag2.contoso.local", "OverrideMinimumTwoCopies": True,
                     "DrainUMCallRouter": True, "RestartFrontEndTransport": False}
    packages = [call for call in calls["patched"] if call["kind"] == "win_package"]
    assert packages[0]["path"].endswith("vcredist_x64.exe")
    assert packages[0]["arguments"] == ["/install", "/quiet", "/norestart"]
    assert packages[0]["expected_return_code"] == [0, 1638, 3010]
    setup = packages[1]
    assert setup["path"] == "E:\\Setup.exe"
    assert setup["arguments"] == ["/Mode:Upgrade", "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF"]
    assert setup["product_id"] is None and setup["creates_version"] is None
    assert setup["expected_return_code"] == [0]
    msp = packages[2]
    assert msp["path"].endswith("Exchange2016-KB5121576-x64-en.msp")
    assert msp["expected_return_code"] == [0, 3010]
    assert msp["log_path"] == "C:\\ExchangeSetupLogs\\KB5121576.msp.log"
    mounts = [call for call in calls["patched"] if call["kind"] == "win_disk_image"]
    assert [m["state"] for m in mounts] == ["present", "absent"]
    assert mounts[0]["image_path"] == mounts[1]["image_path"]
    reboot = next(call for call in calls["patched"] if call["kind"] == "win_reboot")
    assert reboot["reboot_timeout"] == 3600
    assert "@('MSExchangeIS', 'MSExchangeTransport')" in reboot["test_command"]
    exit_call = next(call for call in calls["patched"] if call["kind"] == "exit")["parameters"]
    assert exit_call["RestoreActivationPolicy"] == "Unrestricted" and exit_call["ActivateUMCallRouter"] is True


def test_run_refused_server_is_never_touched(applied):
    outcomes, calls = applied
    outcome = outcomes["refused"]
    assert outcome["state"] == "refused" and outcome["failed_step"] == "precheck"
    assert "never take two members of one DAG down at once" in outcome["reason"]
    assert outcome["maintenance_exited"] is None
    assert _kinds(calls["refused"]) == ["precheck"]


def test_run_up_to_date_server_changes_nothing(applied):
    outcomes, calls = applied
    outcome = outcomes["uptodate"]
    assert outcome["state"] == "up_to_date" and outcome["build_after"] == "15.1.2507.72"
    assert _kinds(calls["uptodate"]) == ["precheck"]


def test_run_failed_setup_is_rescued_repaired_and_leaves_maintenance(applied):
    outcomes, calls = applied
    outcome = outcomes["cufails"]
    assert outcome["state"] == "failed" and outcome["failed_step"] == "cu", outcome
    assert outcome["setup_log"] == "C:\\ExchangeSetupLogs\\ExchangeSetup.log"
    assert "Run Setup.exe /Mode:Upgrade from the mounted media" in outcome["reason"]
    assert "(rc 1)" in outcome["reason"]
    assert "last error in C:\\ExchangeSetupLogs\\ExchangeSetup.log: [11/29/2026" in outcome["reason"]
    assert "services not repaired: MSExchangeFastSearch" in outcome["reason"]
    assert outcome["maintenance_exited"] is True
    kinds = _kinds(calls["cufails"])
    assert "win_reboot" not in kinds and "postcheck" not in kinds and "buildonly" not in kinds
    assert kinds.index("loginfo") < kinds.index("win_service") < kinds.index("exit")
    # The ISO left mounted by the failure is dismounted in the always section.
    assert [c["state"] for c in calls["cufails"] if c["kind"] == "win_disk_image"] == ["present", "absent"]
    repaired = {c["name"]: (c["start_mode"], c["state"]) for c in calls["cufails"] if c["kind"] == "win_service"}
    assert repaired["MSExchangeIS"] == ("auto", "started")
    assert repaired["MSExchangeNotificationsBroker"] == ("delayed", None)
    assert "WAS" not in repaired and "MSExchangePop3" not in repaired


def test_run_server_that_does_not_leave_maintenance_is_failed(applied):
    outcomes, calls = applied
    outcome = outcomes["stuck"]
    assert outcome["state"] == "failed" and outcome["failed_step"] == "maintenance_exit"
    assert outcome["maintenance_exited"] is False
    assert "cluster node is Paused, not Up" in outcome["reason"]
    assert _kinds(calls["stuck"]).count("state_exit") == 3, "read once, then once per retry"


def test_run_failed_postcheck_is_failed_and_leaves_maintenance(applied):
    outcomes, calls = applied
    outcome = outcomes["postfail"]
    assert outcome["state"] == "failed" and outcome["failed_step"] == "postcheck"
    assert "owa healthcheck.htm returned HTTP 500" in outcome["reason"]
    assert {"name": "web", "ok": False,
            "detail": "owa healthcheck.htm returned HTTP 500 (an SU installed without elevation leaves OWA/ECP at "
                      "HTTP 500)"} in outcome["checks"]
    assert _kinds(calls["postfail"]).count("postcheck") == 3
    assert outcome["maintenance_exited"] is True


def test_run_plan_that_does_not_patch_the_server_is_not_contacted(applied):
    outcomes, calls = applied
    outcome = outcomes["blocked"]
    assert outcome["state"] == "refused" and "out of support" in outcome["reason"]
    assert calls["blocked"] == []


def test_run_outcome_fact_equals_the_file(applied, tmp_path_factory):
    outcomes, _ = applied
    base = next(Path(p) for p in tmp_path_factory.getbasetemp().glob("apply*"))
    fact = json.loads((base / "fact-patched.json").read_text(encoding="utf-8"))
    assert fact == outcomes["patched"]


def test_check_mode_runs_only_the_read_only_prechecks(checked):
    outcomes, calls = checked
    for name in SCENARIOS:
        for call in calls[name]:
            assert call["kind"] == "precheck", f"{name}: {call['kind']} ran under --check"
    outcome = outcomes["patched"]
    assert outcome["state"] == "skipped" and outcome["check_mode"] is True
    assert "would enter dag maintenance and run prerequisite" in outcome["reason"]
    assert outcome["planned"] == ["prerequisite Visual C++ 2013 Redistributable (x64)", "cu CU23 (KB5011155)",
                                  "su Aug26SU (KB5121576)"]
    assert outcomes["refused"]["state"] == "refused"
    assert outcomes["uptodate"]["state"] == "up_to_date"


def test_stand_in_data_is_what_the_core_expects():
    # The run tests feed the roles the same facts the unit tests judge: a healthy plan passes.
    facts, plan = healthy_dag()
    from exchange_remediation.patch_checks import (
        maintenance_exit_problems,
        maintenance_problems,
        postcheck_failures,
        precheck_failures,
    )

    assert precheck_failures(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS) == []
    defaults = _load(PATCH / "defaults" / "main.yml")
    assert defaults["exchange_patch_prerequisite_arguments"] == PREREQUISITE_ARGUMENTS
    assert postcheck_failures(post_facts(), plan, SERVICES, THRESHOLDS) == []
    assert maintenance_exit_problems(maintenance_exit_state(), "dag", "Unrestricted") == []
    # The enter path's state is what the core calls "in maintenance", with a two-member DAG.
    assert maintenance_problems(maintenance_state(), "dag") == []
    assert _maintenance_components()[0] == {"component": "ServerWideOffline", "state": "Inactive",
                                            "inactive_requesters": ["Maintenance"]}
    assert dag_plan()["dag_member_count"] == 2


@pytest.mark.parametrize("services", [["MSExchangeIS", "MSExchangeTransport"], ["MSExchangeTransport"]])
def test_reboot_test_command_is_valid_powershell(services):
    import jinja2
    from check_powershell import syntax_errors

    first = _load(PATCH / "tasks" / "apply.yml")[1]["ansible.builtin.set_fact"]
    command = jinja2.Environment().from_string(first["exchange_patch_reboot_test"]).render(
        exchange_patch_reboot_services=services)
    assert syntax_errors(command) == []
    assert "throw" in command and all(f"'{name}'" in command for name in services)
