"""Stand-ins for the ansible.windows and community.windows modules, and the data they answer with.

There is no Windows host here. Roles and playbooks run with ansible-playbook on localhost, with
the Windows modules replaced by the stand-ins below (install_stand_ins writes them into a
temporary collections path for ANSIBLE_COLLECTIONS_PATH). Each stand-in reads the scenario file
named by the environment variable EXCHANGE_PATCH_FAKE (set by the play's environment, or by a
host's interpreter wrapper, see interpreter_wrapper), answers with that file's canned results of
a realistic Exchange server and appends every call to "<scenario file>.calls.jsonl".

A scenario file that has a "lab" section is a simulated live server: its installed build, its
AdminDisplayVersion and its update packages follow the installs its calls file shows (a CU's
Setup.exe or an SU's .msp that returned a success code), the fact collector
(Get-ExchangeServerFacts) answers for it, and its DAG peers' maintenance state is read from their
calls files, so one server's pre-checks see a peer that is still in maintenance.

Used by tests/unit/test_patch_role_structure.py and tests/integration/test_remediate_rollout.py.
Importable from both: pytest puts tests/ on sys.path for tests/conftest.py, and this module puts
tests/unit on it for the unit test module whose facts it builds on.
"""

from __future__ import annotations

import copy
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

_UNIT = str(Path(__file__).resolve().parent / "unit")
if _UNIT not in sys.path:
    sys.path.append(_UNIT)

from test_patch_checks import (  # noqa: E402  (needs tests/unit on sys.path, added just above)
    _components,
    _copy,
    dag_facts,
    maintenance_state,
    post_facts,
)

ENVIRONMENT_VARIABLE = "EXCHANGE_PATCH_FAKE"

# --------------------------------------------------------------------------- the stand-in modules

FAKE_COMMON = textwrap.dedent(
    '''
    import json
    import os
    import time

    from ansible.module_utils.basic import AnsibleModule


    def scenario():
        with open(os.environ["EXCHANGE_PATCH_FAKE"], encoding="utf-8") as handle:
            return json.load(handle)


    def calls_file(scenario_file=None):
        return (scenario_file or os.environ["EXCHANGE_PATCH_FAKE"]) + ".calls.jsonl"


    def read_calls(scenario_file=None):
        path = calls_file(scenario_file)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


    def record(kind, **data):
        # "at" orders the calls of different servers (the DAG rule is about time).
        with open(calls_file(), "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, "at": time.time(), **data}) + "\\n")


    def count(kind):
        return sum(1 for call in read_calls() if call["kind"] == kind)


    def last_of(kinds, scenario_file=None):
        found = None
        for call in read_calls(scenario_file):
            if call["kind"] in kinds:
                found = call["kind"]
        return found


    def nth(values, index):
        """values[index], or the last value once the list is used up."""
        if not isinstance(values, list):
            return values
        return values[min(index, len(values) - 1)]


    def file_version(build):
        """15.1.2507.72 -> 15.01.2507.072, as ExSetup.exe's FileVersion reads."""
        major, minor, number, revision = (int(part) for part in build.split("."))
        return "%d.%02d.%04d.%03d" % (major, minor, number, revision)


    def installed(data):
        """(build, AdminDisplayVersion, Setup registry build, update packages) of a lab server after the
        successful installs its calls file records."""
        lab = data["lab"]
        build, admin = lab["build"], lab["admin_display_version"]
        setup_build = lab["setup_build"]
        packages = list(lab["installed_updates"])
        for call in read_calls():
            if call["kind"] != "win_package" or not call.get("succeeded"):
                continue
            install = lab["installs"].get((call.get("path") or "").replace("\\\\", "/").rsplit("/", 1)[-1])
            if install is None:
                continue
            build = install["build"]
            if install["kind"] == "cu":
                # A CU replaces the product: the SU packages of the old CU are gone.
                admin, setup_build, packages = install["admin_display_version"], install["build"], []
            else:
                day = time.gmtime(call["at"])
                packages.append({"package": install["package"], "installed": time.strftime("%Y-%m-%d", day),
                                 "installed_raw": time.strftime("%Y%m%d", day), "update_key": lab["update_key"]})
        return build, admin, setup_build, packages


    def live_view(kind, value, data, params):
        """What a lab server reports now: its build after the installs so far, its peers' state."""
        build, admin, setup_build, packages = installed(data)
        exchange = value.get("exchange")
        if kind in ("facts", "precheck", "buildonly", "postcheck") and isinstance(exchange, dict):
            exchange["exsetup_version"] = file_version(build)
            exchange["admin_display_version"] = admin
        if kind == "facts":
            value["collected_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            exchange["installed_updates"] = packages
            major, minor, number, revision = (int(part) for part in setup_build.split("."))
            exchange["setup_registry"].update(MsiProductMajor=major, MsiProductMinor=minor, MsiBuildMajor=number,
                                              MsiBuildMinor=revision)
        if kind == "precheck" and isinstance(value.get("dag"), dict):
            for peer, peer_file in data["lab"].get("peers", {}).items():
                if last_of(["enter", "exit"], peer_file) == "enter":
                    value["dag"]["server_wide_offline"][peer] = "Inactive"
                    for node in value["dag"]["cluster_nodes"]:
                        if node["name"] == peer:
                            node["state"] = "Paused"
        if kind == "loginfo":
            log = data["lab"].get("msi_log_error_lines")
            value["msi_log"] = None if not params.get("MsiLogPath") else {
                "path": params["MsiLogPath"], "exists": log is not None, "last_write": value["setup_log"]["last_write"],
                "error_lines": log or []}
        return value
    '''
)

FAKE_MODULES = {
    "ansible/windows/plugins/modules/win_powershell.py": '''
        SCRIPTS = [
            ("Get-ExchangePatchPrecheckFacts", "precheck"),
            ("Get-ExchangePatchPostcheckFacts", "postcheck"),
            ("Get-ExchangePatchLogInfo", "loginfo"),
            ("Enter-ExchangeMaintenance", "enter"),
            ("Exit-ExchangeMaintenance", "exit"),
            ("Get-ExchangeMaintenanceState", "state"),
            ("Get-ExchangeServerFacts", "facts"),
            ("Get-MediaSignature", "signature"),
        ]


        SIGNER = "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
        ROOT = "CN=Microsoft Root Certificate Authority 2010, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"


        def signatures(params):
            """Get-MediaSignature.ps1's result for media signed by Microsoft: each file, and Setup.exe in each image."""
            entries = []
            for path, inside in [(p, None) for p in params.get("FilePath") or []] + [
                    (p, "Setup.exe") for p in params.get("ImagePath") or []]:
                entries.append({"path": path, "exists": True, "checked_path": inside or path, "status": "Valid",
                                "status_message": "Signature verified.", "signer_subject": SIGNER,
                                "signer_thumbprint": None, "root_subject": ROOT, "root_thumbprint": None,
                                "error": None, "warning": None})
            return {"collector": "Get-MediaSignature", "files": entries}


        def main():
            module = AnsibleModule(argument_spec=dict(script=dict(type="str"), parameters=dict(type="dict"),
                                                      depth=dict(type="int", default=2)),
                                   supports_check_mode=True)
            script = module.params["script"] or ""
            if script.startswith("\\ufeff"):
                module.fail_json(msg="the BOM was not removed")
            kind = next((kind for marker, kind in SCRIPTS if ".\\\\" + marker + ".ps1" in script
                         or "'" + marker + "'" in script), None)
            if kind is None:
                module.fail_json(msg="unknown script")
            params = module.params["parameters"] or {}
            data = scenario()
            if kind == "postcheck" and params.get("BuildOnly"):
                kind = "buildonly"
            if kind == "state":
                kind = "state_" + (last_of(["enter", "exit"]) or "enter")
            index = count(kind)
            record(kind, parameters=params, check_mode=module.check_mode)
            if module.check_mode and kind in ("enter", "exit"):
                result = {"mode": params.get("Mode"), "steps": [{"name": "drain_hub_transport", "status": "would_run"}],
                          "errors": []}
                module.exit_json(changed=True, result=result, host_out="", host_err="", output=[], error=[])
            if kind == "signature" and "lab" in data:
                module.exit_json(changed=False, result=signatures(params), host_out="", host_err="",
                                 output=[], error=[])
            if kind not in data:
                module.fail_json(msg="scenario has no " + kind)
            value = nth(data[kind], index)
            if isinstance(value, dict) and value.get("_fail"):
                module.fail_json(msg="script failed", result={}, error=[{"exception": {"message": value["_fail"]}}])
            if "lab" in data and isinstance(value, dict):
                value = live_view(kind, value, data, params)
            module.exit_json(changed=kind in ("enter", "exit"), result=value, host_out="", host_err="",
                             output=[], error=[])


        main()
    ''',
    "ansible/windows/plugins/modules/win_package.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(
                path=dict(type="str"), arguments=dict(type="raw"), product_id=dict(type="str"),
                creates_version=dict(type="str"), expected_return_code=dict(type="list", elements="int"),
                log_path=dict(type="str"), state=dict(type="str")), supports_check_mode=True)
            name = (module.params["path"] or "").replace("\\\\", "/").rsplit("/", 1)[-1]
            rc = scenario().get("win_package_rc", {}).get(name, 0)
            succeeded = rc in (module.params["expected_return_code"] or [0, 3010])
            record("win_package", check_mode=module.check_mode, rc=rc, succeeded=succeeded, **module.params)
            if not succeeded:
                module.fail_json(msg="unexpected rc from '%s': see rc, stdout, and stderr" % module.params["path"],
                                 rc=rc)
            module.exit_json(changed=True, rc=rc, reboot_required=rc == 3010)


        main()
    ''',
    "ansible/windows/plugins/modules/win_reboot.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(reboot_timeout=dict(type="float"),
                                                      post_reboot_delay=dict(type="float"),
                                                      test_command=dict(type="str"), msg=dict(type="str")),
                                   supports_check_mode=True)
            record("win_reboot", check_mode=module.check_mode, **module.params)
            module.exit_json(changed=True, rebooted=True, elapsed=1)


        main()
    ''',
    "ansible/windows/plugins/modules/win_service.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(name=dict(type="str"), start_mode=dict(type="str"),
                                                      state=dict(type="str")), supports_check_mode=True)
            record("win_service", check_mode=module.check_mode, **module.params)
            if module.params["name"] in scenario().get("win_service_fail", []):
                module.fail_json(msg="Service 'x' cannot be started")
            module.exit_json(changed=True)


        main()
    ''',
    "ansible/windows/plugins/modules/win_feature.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(name=dict(type="raw"), state=dict(type="str")),
                                   supports_check_mode=True)
            record("win_feature", check_mode=module.check_mode, **module.params)
            module.exit_json(changed=True, reboot_required=False)


        main()
    ''',
    "ansible/windows/plugins/modules/win_hotfix.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(source=dict(type="str"), state=dict(type="str")),
                                   supports_check_mode=True)
            record("win_hotfix", check_mode=module.check_mode, **module.params)
            module.exit_json(changed=True, reboot_required=True)


        main()
    ''',
    "ansible/windows/plugins/modules/win_file.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(path=dict(type="str"), state=dict(type="str")),
                                   supports_check_mode=True)
            record("win_file", check_mode=module.check_mode, **module.params)
            module.exit_json(changed=False)


        main()
    ''',
    "ansible/windows/plugins/modules/win_ping.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(data=dict(type="str", default="pong")),
                                   supports_check_mode=True)
            record("win_ping", check_mode=module.check_mode)
            module.exit_json(changed=False, ping="pong")


        main()
    ''',
    "ansible/windows/plugins/modules/win_stat.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(path=dict(type="str"), get_checksum=dict(type="bool"),
                                                      checksum_algorithm=dict(type="str"), get_size=dict(type="bool")),
                                   supports_check_mode=True)
            record("win_stat", check_mode=module.check_mode, **module.params)
            path = module.params["path"]
            digest = scenario().get("staged", {}).get(path.lower())
            if digest is None:
                module.exit_json(changed=False, stat={"exists": False})
            stat = {"exists": True, "isdir": False, "path": path}
            if module.params["get_checksum"]:
                if module.params["checksum_algorithm"] != "sha256":
                    module.fail_json(msg="the stand-in knows only SHA-256 digests")
                stat["checksum"] = digest
            module.exit_json(changed=False, stat=stat)


        main()
    ''',
    "community/windows/plugins/modules/win_disk_image.py": '''
        def main():
            module = AnsibleModule(argument_spec=dict(image_path=dict(type="str"), state=dict(type="str")),
                                   supports_check_mode=True)
            record("win_disk_image", check_mode=module.check_mode, **module.params)
            module.exit_json(changed=True, mount_paths=["E:\\\\"] if module.params["state"] == "present" else [])


        main()
    ''',
}

# Stands in for the media helper's role: exchange_media, entry point verify (read-only), with the
# verdict given by the host variable fake_media.
FAKE_MEDIA_VERIFY = [
    {"name": "Pretend to verify the staged media",
     "ansible.builtin.set_fact": {
         "exchange_media_verified": "{{ fake_media.verified }}",
         "exchange_media_failures": "{{ fake_media.failures }}",
         "fake_media_items_seen": "{{ exchange_media_items | map(attribute='id') | list }}"}},
]


def install_stand_ins(base: Path) -> Path:
    """Write the stand-in modules under base/collections; returns the path for ANSIBLE_COLLECTIONS_PATH."""
    root = base / "collections"
    for relative, body in FAKE_MODULES.items():
        target = root / "ansible_collections" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/usr/bin/python\n" + FAKE_COMMON + textwrap.dedent(body), encoding="utf-8")
    return root


def interpreter_wrapper(base: Path, host: str, scenario_file: Path) -> Path:
    """A Python interpreter for one inventory host that tells the stand-ins its scenario file.

    A playbook under test has no play environment to set, so each host's modules run through
    this wrapper (ansible_python_interpreter) around the virtual environment's Python.
    """
    wrapper = base / f"python-{host}"
    wrapper.write_text(f'#!/bin/sh\n{ENVIRONMENT_VARIABLE}="{scenario_file}" exec "{sys.executable}" "$@"\n',
                       encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper


def read_calls(scenario_file: Path) -> list[dict[str, Any]]:
    """Every call the stand-ins recorded for the host of scenario_file, in order."""
    path = Path(f"{scenario_file}.calls.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- canned results


def log_info(error_line: str | None) -> dict[str, Any]:
    """Get-ExchangePatchLogInfo.ps1: the Exchange setup log with its last error line, no MSI log."""
    return {"setup_log": {"path": "C:\\ExchangeSetupLogs\\ExchangeSetup.log", "exists": True,
                          "last_write": "2026-11-29T12:02:11Z",
                          "error_lines": [error_line] if error_line else []},
            "msi_log": None, "errors": []}


def maintenance_entered_state(server: str = "EX16-DAG1") -> dict[str, Any]:
    """Get-ExchangeMaintenanceState.ps1 once the server is fully in maintenance."""
    state = maintenance_state()
    state["cluster_node"] = {"name": server, "state": "Paused"}
    return state


def maintenance_exit_state(server: str = "EX16-DAG1") -> dict[str, Any]:
    """Get-ExchangeMaintenanceState.ps1 once the server is back in service."""
    state = maintenance_state()
    state.update(components=_components(), activation_policy="Unrestricted",
                 cluster_node={"name": server, "state": "Up"})
    return state


def enter_result(mode: str = "dag", server: str = "EX16-DAG1") -> dict[str, Any]:
    """Enter-ExchangeMaintenance.ps1 after it drained the server."""
    return {"mode": mode, "server": server,
            "original_activation_policy": "Unrestricted" if mode == "dag" else None,
            "steps": [{"name": "drain_hub_transport", "status": "done"}], "errors": []}


def exit_result(mode: str = "dag", server: str = "EX16-DAG1") -> dict[str, Any]:
    """Exit-ExchangeMaintenance.ps1 after it brought the server back."""
    return {"mode": mode, "server": server, "steps": [{"name": "hub_transport_active", "status": "done"}],
            "errors": []}


def build_only(build: str) -> dict[str, Any]:
    """Get-ExchangePatchPostcheckFacts.ps1 -BuildOnly: the build and the watermarks."""
    facts = post_facts()
    facts["exchange"]["exsetup_version"] = build
    return {"exchange": facts["exchange"], "watermarks": facts["watermarks"], "errors": []}


def dag_copies(members: list[str]) -> list[dict[str, Any]]:
    """Every copy of a DAG whose member i holds database DB0<i+1> active and a passive copy of the others."""
    copies = []
    for index, active in enumerate(members, start=1):
        for member in members:
            copies.append(_copy(f"DB0{index}", member, "Mounted" if member == active else "Healthy"))
    return copies


def precheck_facts(hostname: str, dag: str | None, members: list[str]) -> dict[str, Any]:
    """Get-ExchangePatchPrecheckFacts.ps1 of a healthy Exchange 2016 Mailbox server (DAG member or not)."""
    facts = dag_facts()
    facts.pop("media")
    facts.update(hostname=hostname, fqdn=f"{hostname.lower()}.contoso.local")
    facts["exchange"]["roles"] = ["Mailbox"]
    facts["service_health"] = facts["service_health"][:1]
    if dag is None:
        facts["dag"] = None
    else:
        facts["dag"] = {"name": dag, "members": list(members),
                        "cluster_nodes": [{"name": member, "state": "Up"} for member in members],
                        "server_wide_offline": {member: "Active" for member in members if member != hostname},
                        "copies": dag_copies(members)}
    return facts


def collector_facts(hostname: str, dag: str | None, site: str, watermark_version: str) -> dict[str, Any]:
    """Get-ExchangeServerFacts.ps1 of an Exchange 2016 Mailbox server on Windows Server 2019.

    The build, AdminDisplayVersion, Setup registry build and update packages are filled in by the
    stand-in from the server's installs (the "lab" section).
    """
    return {
        "collector": "Get-ExchangeServerFacts",
        "hostname": hostname,
        "fqdn": f"{hostname.lower()}.contoso.local",
        "collected_at": None,
        "exchange": {
            "version_key": "v15",
            "install_path": "D:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
            "installed_on": "2019-05-14",
            "exsetup_version": None,
            "admin_display_version": None,
            "roles": ["Mailbox"],
            "dag": dag,
            "site": site,
            "site_source": "Get-ExchangeServer",
            "cmdlets_loaded": True,
            "installed_updates": [],
            "setup_registry": {"version_key": "v15",
                               "MsiInstallPath": "D:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
                               "MsiProductMajor": None, "MsiProductMinor": None, "MsiBuildMajor": None,
                               "MsiBuildMinor": None, "services_present": True},
            "watermarks": [{"role": role, "watermark": None, "action": None, "unpacked_version": watermark_version,
                            "configured_version": watermark_version}
                           for role in ("ClientAccessRole", "HubTransportRole", "MailboxRole")],
            # Schema, organisation and MESO of an organisation already at 2016 CU23 (data/ad-levels.yml).
            "ad_levels": {"schema": 15334, "organization": 16223, "meso": 13243},
        },
        "os": {"caption": "Microsoft Windows Server 2019 Datacenter", "version": "10.0.17763"},
        "dotnet_release": 528049,
        "iis": {"url_rewrite_version": "7.2.1993", "url_rewrite_dll_version": "7.2.1993",
                "rewrite_rules": [], "global_rewrite_rules": []},
        "mitigation_service": {"enabled": True, "applied": [], "blocked": [], "organization_enabled": True,
                               "server_enabled": True, "service_present": True, "service_status": "Running",
                               "service_start_mode": "Automatic"},
        "endpoint_protection": {"product": "Microsoft Defender Antivirus", "real_time": True, "signature_age_days": 0,
                                "signature_last_updated": None, "product_version": None, "running_mode": "Normal",
                                "source": "Get-MpComputerStatus", "note": None},
        "errors": [],
    }


def server_postcheck(hostname: str) -> dict[str, Any]:
    """Get-ExchangePatchPostcheckFacts.ps1 of a healthy server after its update, still in maintenance."""
    facts = post_facts()
    facts["copies"] = [dict(record, server=hostname) for record in facts["copies"]]
    facts["cluster_node"] = {"name": hostname, "state": "Paused"}
    return copy.deepcopy(facts)
