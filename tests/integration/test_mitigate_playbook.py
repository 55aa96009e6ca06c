"""playbooks/mitigate.yml end to end.

1. Against the demo estate (every host an offline evidence bundle), normal and --check: exit 0,
   nothing changed, every host skipped with its reason, its record and the reports written.
2. Against live hosts simulated on localhost: the ansible.windows modules are replaced by
   stand-ins that keep one server's IIS rewrite rules and Emergency Mitigation Service state in a
   JSON file, so the role's real tasks, filters, validation, re-collection and re-assessment run
   as they would against Windows. The stand-in setter follows Set-ExchangeRewriteMitigation.ps1's
   contract (keyed by name; identical left alone, different replaced, missing added; -WhatIf
   under --check); what it writes is validated by the real Python check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BIN, REPO, PlaybookRun, run_playbook

DEMO = REPO / "inventories" / "demo" / "hosts.yml"
ROLE = REPO / "roles" / "exchange_mitigation"
DEMO_HOSTS = ["edge01", "ex-damaged", "ex10", "ex13", "ex16-legacy", "ex16-mitigated", "ex16-patched",
              "ex19-dag1", "ex19-dag2", "ex19-dag3", "ex19-unknown", "exse01"]
OFFLINE = "offline evidence bundle: cannot change a server"
EOMT = "eomt_backend_cookie"
EOMTV2 = "eomtv2_autodiscover_powershell"


def _recap(stdout: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    lines = stdout.split("PLAY RECAP")[-1].splitlines()
    for line in lines:
        if " : " not in line:
            continue
        host, counts = line.split(" : ", 1)
        recap[host.strip()] = {key: int(value) for key, value in
                               (item.split("=") for item in counts.split())}
    return recap


def _records(run_id: str) -> dict[str, dict[str, Any]]:
    folder = REPO / "evidence" / run_id / "mitigation"
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in folder.glob("*.json")}


def _demo_run(tmp_path_factory: pytest.TempPathFactory, run_id: str, *extra: str) -> PlaybookRun:
    shutil.rmtree(REPO / "evidence" / run_id, ignore_errors=True)
    return run_playbook("mitigate.yml", DEMO, tmp_path_factory.mktemp(run_id), "-e",
                        f"exchange_facts_run_id={run_id}", *extra)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[PlaybookRun, dict[str, Any]]]:
    runs = {}
    for mode, run_id, extra in (("normal", "pytest-mitigate", ()), ("check", "pytest-mitigate-check", ("--check",))):
        run = _demo_run(tmp_path_factory, run_id, *extra)
        runs[mode] = (run, _records(run_id))
        shutil.rmtree(REPO / "evidence" / run_id, ignore_errors=True)
    return runs


@pytest.mark.parametrize("mode", ["normal", "check"])
def test_demo_run_succeeds_and_changes_nothing(demo_runs: dict[str, Any], mode: str) -> None:
    run = demo_runs[mode][0]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    recap = _recap(run.stdout)
    assert set(recap) == set(DEMO_HOSTS)
    for host, counts in recap.items():
        assert counts["changed"] == 0, host
        assert counts["failed"] == 0 and counts["unreachable"] == 0, host


@pytest.mark.parametrize("mode", ["normal", "check"])
def test_demo_run_records_every_host_as_skipped_with_its_reason(demo_runs: dict[str, Any], mode: str) -> None:
    run, records = demo_runs[mode]
    assert set(records) == set(DEMO_HOSTS)
    for host, record in records.items():
        assert record["host"] == host
        assert record["action"] == "skipped", host
        assert record["reason"].startswith(OFFLINE), host
        assert record["applied"] == [] and record["removed"] == [] and record["error"] is None
        assert record["check_mode"] is (mode == "check")
    assert "Edge Transport server" in records["edge01"]["reason"]
    assert "not assessed" in records["ex-damaged"]["reason"]
    assert records["ex16-legacy"]["planned"]["apply"] == [EOMT, EOMTV2]
    summary = run.stdout.split("Mitigation (exchange_mitigation_state=present):")[-1]
    for host in DEMO_HOSTS:
        assert f"\n        {host} " in summary and "skipped" in summary, host
    assert "if live: eomtv2_autodiscover_powershell: CVE-2022-41040 not applicable to Exchange Server 2010" in summary


@pytest.mark.parametrize("mode", ["normal", "check"])
def test_demo_run_writes_the_report(demo_runs: dict[str, Any], mode: str) -> None:
    run = demo_runs[mode][0]
    report = run.report()
    assert set(report["hosts"]) == set(DEMO_HOSTS)
    assert report["hosts"]["ex16-mitigated"]["cves"]["CVE-2021-26855"] == "mitigated"
    assert report["hosts"]["ex16-legacy"]["cves"]["CVE-2022-41040"] == "vulnerable"


# --------------------------------------------------------------------------- live servers, simulated


FAKE_WIN_POWERSHELL = textwrap.dedent(
    '''
    #!/usr/bin/python
    """Test stand-in for ansible.windows.win_powershell: one simulated Exchange server per state file."""
    import json
    import os

    from ansible.module_utils.basic import AnsibleModule


    def load():
        with open(os.environ["FAKE_SERVER_STATE"], encoding="utf-8") as handle:
            return json.load(handle)


    def save(state):
        with open(os.environ["FAKE_SERVER_STATE"], "w", encoding="utf-8") as handle:
            json.dump(state, handle)


    def collector(state):
        facts = json.loads(json.dumps(state["facts"]))
        facts["iis"] = {"url_rewrite_version": state["url_rewrite"]["version"] if state["url_rewrite"]["installed"]
                        else None, "rewrite_rules": state["rules"], "global_rewrite_rules": []}
        facts["mitigation_service"] = dict(state["eems"])
        return False, facts


    def setter(state, params, check_mode):
        before = {rule["name"]: rule for rule in state["rules"]}
        result = {"added": [], "replaced": [], "unchanged": [], "removed": [], "not_present": [],
                  "rules_element_cleared": False, "check_mode": check_mode, "errors": []}
        rules = list(state["rules"])
        for name in params.get("RemoveRuleName") or []:
            if name in before:
                result["removed"].append(name)
                rules = [rule for rule in rules if rule["name"] != name]
            else:
                result["not_present"].append(name)
        for definition in params.get("Rule") or []:
            if definition["name"] in before:
                if before[definition["name"]] == definition:
                    result["unchanged"].append(definition["name"])
                    continue
                rules = [rule for rule in rules if rule["name"] != definition["name"]]
                result["replaced"].append(definition["name"])
            else:
                result["added"].append(definition["name"])
            rules.append(definition)
        result["changed"] = bool(result["added"] or result["replaced"] or result["removed"])
        if not check_mode:
            state["rules"] = rules
            save(state)
        result["rewrite_rules"] = state["rules"]
        return result["changed"], result


    def main():
        module = AnsibleModule(
            argument_spec=dict(script=dict(type="str"), parameters=dict(type="dict"),
                               depth=dict(type="int", default=2)),
            supports_check_mode=True,
        )
        script = module.params["script"] or ""
        if script.startswith("\\ufeff"):
            module.fail_json(msg="the script still has its BOM")
        if module.check_mode and "[CmdletBinding(SupportsShouldProcess)]" not in script:
            module.fail_json(msg="a script without SupportsShouldProcess ran in check mode: it would have been skipped")
        state = load()
        params = module.params["parameters"] or {}
        if "function Get-ExchangeSetupFacts" in script:
            changed, result = collector(state)
        elif "function Get-UrlRewriteUninstallEntry" in script:
            changed, result = False, dict(state["url_rewrite"], errors=[])
        elif "function Test-RewriteRuleMatch" in script:
            changed, result = setter(state, params, module.check_mode)
        elif "function Get-MitigationSwitches" in script:
            changed, result = False, dict(state["eems"], errors=[])
        elif "function Enable-OrganizationMitigation" in script:
            eems = state["eems"]
            result = {"organization_changed": eems["organization_enabled"] is not True,
                      "server_changed": eems["server_enabled"] is not True, "check_mode": module.check_mode}
            changed = result["changed"] = result["organization_changed"] or result["server_changed"]
            if not module.check_mode:
                eems.update(organization_enabled=True, server_enabled=True, enabled=True)
                save(state)
        else:
            module.fail_json(msg="unexpected script")
        module.exit_json(changed=changed, result=result, host_out="", host_err="", output=[], error=[])


    if __name__ == "__main__":
        main()
    '''
).lstrip()

FAKE_WIN_SERVICE = textwrap.dedent(
    '''
    #!/usr/bin/python
    """Test stand-in for ansible.windows.win_service: the simulated MSExchangeMitigation service."""
    import json
    import os

    from ansible.module_utils.basic import AnsibleModule


    def main():
        module = AnsibleModule(
            argument_spec=dict(name=dict(type="str"), start_mode=dict(type="str"), state=dict(type="str")),
            supports_check_mode=True,
        )
        path = os.environ["FAKE_SERVER_STATE"]
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        eems = state["eems"]
        changed = eems["service_start_mode"] != "Auto" or eems["service_status"] != "Running"
        if changed and not module.check_mode:
            eems.update(service_start_mode="Auto", service_status="Running")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(state, handle)
        module.exit_json(changed=changed, name=module.params["name"])


    if __name__ == "__main__":
        main()
    '''
).lstrip()

FAKE_WIN_PACKAGE = textwrap.dedent(
    '''
    #!/usr/bin/python
    """Test stand-in for ansible.windows.win_package: installs the simulated URL Rewrite module after
    checking the installer's SHA-256, as win_package's checksum option does."""
    import hashlib
    import json
    import os

    from ansible.module_utils.basic import AnsibleModule


    def main():
        module = AnsibleModule(
            argument_spec=dict(path=dict(type="str"), checksum=dict(type="str"), checksum_algorithm=dict(type="str"),
                               state=dict(type="str")),
            supports_check_mode=True,
        )
        with open(module.params["path"], "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        if module.params["checksum_algorithm"] != "sha256" or digest != module.params["checksum"].lower():
            module.fail_json(msg="checksum mismatch")
        path = os.environ["FAKE_SERVER_STATE"]
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        changed = not state["url_rewrite"]["installed"]
        if changed and not module.check_mode:
            state["url_rewrite"].update(installed=True, display_name="IIS URL Rewrite Module 2", version="7.2.1993")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(state, handle)
        module.exit_json(changed=changed, reboot_required=False, rc=0)


    if __name__ == "__main__":
        main()
    '''
).lstrip()


def server_facts(hostname: str, exsetup: str) -> dict[str, Any]:
    """What Get-ExchangeServerFacts.ps1 returns for a Mailbox server (the rules come from the state)."""
    return {
        "collector": "Get-ExchangeServerFacts",
        "hostname": hostname.upper(),
        "fqdn": f"{hostname}.contoso.local",
        "collected_at": "2026-11-28T10:00:00Z",
        "exchange": {"version_key": "v15", "install_path": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
                     "installed_on": "2019-05-01", "exsetup_version": exsetup, "roles": ["Mailbox"], "dag": None,
                     "site": "HQ", "cmdlets_loaded": True, "installed_updates": [], "setup_registry": {},
                     "ad_levels": {"schema": 15334, "organization": 16223, "meso": 13243}},
        "os": {"caption": "Microsoft Windows Server 2016 Standard", "version": "10.0.14393"},
        "dotnet_release": 528049,
        "endpoint_protection": {"product": "Microsoft Defender Antivirus", "real_time": True, "signature_age_days": 0},
        "errors": [],
    }


def server_state(hostname: str, exsetup: str, url_rewrite: bool, eems: bool) -> dict[str, Any]:
    return {
        "facts": server_facts(hostname, exsetup),
        "url_rewrite": {"installed": url_rewrite, "display_name": "IIS URL Rewrite Module 2" if url_rewrite else None,
                        "version": "7.2.1993" if url_rewrite else None, "registry_version": None,
                        "iis_major_version": 10},
        "rules": [],
        "eems": {"enabled": False if eems else None, "organization_enabled": True if eems else None,
                 "server_enabled": False if eems else None, "service_present": eems,
                 "service_status": "Stopped" if eems else None, "service_start_mode": "Manual" if eems else None,
                 "applied": [] if eems else None, "blocked": [] if eems else None},
    }


class LiveLab:
    """Simulated live servers on localhost and the commands to run mitigate.yml against them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        modules = base / "collections" / "ansible_collections" / "ansible" / "windows" / "plugins" / "modules"
        modules.mkdir(parents=True)
        (modules / "win_powershell.py").write_text(FAKE_WIN_POWERSHELL, encoding="utf-8")
        (modules / "win_service.py").write_text(FAKE_WIN_SERVICE, encoding="utf-8")
        (modules / "win_package.py").write_text(FAKE_WIN_PACKAGE, encoding="utf-8")
        self.states = base / "servers"
        self.states.mkdir()
        servers = {
            # 2016 CU19 without an SU: vulnerable to both SSRFs, URL Rewrite installed.
            "live16": server_state("live16", "15.01.2176.002", url_rewrite=True, eems=False),
            # The same build without URL Rewrite and without an installer: must fail alone.
            "bare16": server_state("bare16", "15.01.2176.002", url_rewrite=False, eems=False),
            # 2019 CU14 Nov24SUv2 (patched against both) with the Emergency Mitigation Service off.
            "live19": server_state("live19", "15.02.1544.014", url_rewrite=True, eems=True),
        }
        hosts: dict[str, Any] = {}
        for name, state in servers.items():
            (self.states / f"{name}.json").write_text(json.dumps(state), encoding="utf-8")
            # Each host's modules run through its own interpreter, which tells the stand-ins its state file.
            wrapper = base / f"python-{name}"
            wrapper.write_text(f'#!/bin/sh\nFAKE_SERVER_STATE="{self.states / (name + ".json")}" '
                               f'exec "{sys.executable}" "$@"\n', encoding="utf-8")
            wrapper.chmod(0o755)
            hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": str(wrapper)}
        hosts["ex19-dag1"] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                              "exchange_evidence_dir": str(REPO / "inventories" / "demo" / "evidence" / "ex19-dag1")}
        self.inventory = base / "hosts.yml"
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"exchange": {"hosts": hosts}}}}),
                                  encoding="utf-8")

    def state(self, name: str) -> dict[str, Any]:
        return json.loads((self.states / f"{name}.json").read_text(encoding="utf-8"))

    def run(self, run_id: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]:
        shutil.rmtree(REPO / "evidence" / run_id, ignore_errors=True)
        report_dir = self.base / f"reports-{run_id}"
        env = dict(os.environ)
        env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_COLLECTIONS_PATH": str(self.base / "collections")})
        command = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), str(REPO / "playbooks" / "mitigate.yml"),
                   "-e", f"report_dir={report_dir}", "-e", f"exchange_facts_run_id={run_id}", *extra]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
        records = _records(run_id)
        report_file = report_dir / "report.json"
        report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else {}
        evidence = REPO / "evidence" / run_id
        self.after = sorted(path.name for path in (evidence / "after-mitigation").glob("*")) \
            if (evidence / "after-mitigation").is_dir() else []
        shutil.rmtree(evidence, ignore_errors=True)
        return done, records, report


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LiveLab:
    return LiveLab(tmp_path_factory.mktemp("mitigate-lab"))


@pytest.fixture(scope="module")
def first_run(lab: LiveLab) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any], list[str]]:
    done, records, report = lab.run("pytest-mitigate-live", "-e", "exchange_mitigation_enable_service=true")
    return done, records, report, lab.after


def test_live_server_gets_both_rule_sets_verified_and_reassessed_as_mitigated(lab: LiveLab, first_run: Any) -> None:
    _done, records, report, after = first_run
    record = records["live16"]
    assert record["action"] == "changed", record
    assert record["applied"] == [EOMT, EOMTV2]
    assert record["changes"]["added"] == ["X-AnonResource-Backend Abort - inbound", "X-BEResource Abort - inbound",
                                          "PowerShell - inbound"]
    assert record["validation"]["ok"] is True
    assert [m["in_place"] for m in record["validation"]["mitigations"]] == [True, True]
    assert record["url_rewrite_version"] == "7.2.1993"
    assert [rule["name"] for rule in lab.state("live16")["rules"]] == record["changes"]["added"]
    # Collected again and assessed again: the covered CVEs are now mitigated, the others not.
    assert "live16" in after
    cves = report["hosts"]["live16"]["cves"]
    assert cves["CVE-2021-26855"] == "mitigated"
    assert cves["CVE-2022-41040"] == "mitigated"
    assert cves["CVE-2022-41082"] == "vulnerable"


def test_missing_url_rewrite_fails_that_server_alone(first_run: Any) -> None:
    done, records, report, _after = first_run
    record = records["bare16"]
    assert record["action"] == "failed"
    assert "IIS URL Rewrite module is not installed" in record["error"]
    assert "no rule was added" in record["error"]
    # The run says so in its exit status, after every record and the reports were written.
    assert done.returncode == 2, done.stdout[-3000:]
    recap = _recap(done.stdout)
    assert recap["bare16"]["failed"] == 1
    assert recap["live16"]["failed"] == 0 and recap["live19"]["failed"] == 0
    assert set(report["hosts"]) == {"live16", "bare16", "live19", "ex19-dag1"}
    assert report["hosts"]["bare16"]["cves"]["CVE-2021-26855"] == "vulnerable"


def test_emergency_mitigation_service_is_turned_on_when_asked(lab: LiveLab, first_run: Any) -> None:
    _done, records, _report, _after = first_run
    record = records["live19"]
    # Patched against both SSRFs and no rule present: only the service needed work.
    assert record["planned"]["apply"] == [] and record["planned"]["remove"] == []
    assert record["planned"]["enable_service"] is True
    assert record["action"] == "changed"
    assert "turned on the Emergency Mitigation Service" in record["reason"]
    eems = lab.state("live19")["eems"]
    assert (eems["organization_enabled"], eems["server_enabled"], eems["service_start_mode"],
            eems["service_status"]) == (True, True, "Auto", "Running")
    assert record["mitigation_service"]["server_enabled"] is True
    assert record["eems"]["expected"] is True


def test_offline_host_beside_live_ones_is_skipped(first_run: Any) -> None:
    _done, records, _report, after = first_run
    assert records["ex19-dag1"]["action"] == "skipped"
    assert records["ex19-dag1"]["reason"] == OFFLINE
    assert "ex19-dag1" not in after


def test_second_run_leaves_identical_rules_alone(lab: LiveLab, first_run: Any) -> None:
    done, records, _report = lab.run("pytest-mitigate-again", "-e", "exchange_target=live16")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    record = records["live16"]
    assert record["action"] == "unchanged"
    assert record["changes"]["unchanged"] == [rule["name"] for rule in lab.state("live16")["rules"]]
    assert record["applied"] == [EOMT, EOMTV2]
    assert record["changed"] is False
    # The rule script reported no change (fact collection's writes on the controller aside).
    setter = done.stdout.split("TASK [exchange_mitigation : Add, verify or remove the mitigation rules on the site]")[1]
    assert setter.split("TASK [")[0].strip().splitlines()[-1].startswith("ok: [live16]")
    assert lab.after == []


def test_check_mode_rollback_only_says_what_it_would_remove(lab: LiveLab, first_run: Any) -> None:
    before = lab.state("live16")["rules"]
    done, records, _report = lab.run("pytest-mitigate-check-absent", "--check", "-e", "exchange_target=live16",
                                     "-e", "exchange_mitigation_state=absent")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    record = records["live16"]
    assert record["action"] == "check"
    assert record["reason"].startswith("check mode: would remove X-AnonResource-Backend Abort - inbound")
    assert record["removed"] == []
    assert lab.state("live16")["rules"] == before


def test_rollback_removes_the_rules_and_reassesses(lab: LiveLab, first_run: Any) -> None:
    done, records, report = lab.run("pytest-mitigate-absent", "-e", "exchange_target=live16",
                                    "-e", "exchange_mitigation_state=absent")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    record = records["live16"]
    assert record["action"] == "changed"
    assert record["removed"] == [EOMT, EOMTV2]
    assert record["validation"]["ok"] is True
    assert lab.state("live16")["rules"] == []
    assert report["hosts"]["live16"]["cves"]["CVE-2021-26855"] == "vulnerable"


def test_url_rewrite_is_installed_from_a_checked_installer_first(lab: LiveLab, first_run: Any) -> None:
    installer = lab.base / "rewrite_amd64_en-US.msi"
    installer.write_bytes(b"stand-in installer for the test lab")
    digest = hashlib.sha256(installer.read_bytes()).hexdigest()
    done, records, report = lab.run("pytest-mitigate-install", "-e", "exchange_target=bare16",
                                    "-e", f"exchange_mitigation_url_rewrite_msi={installer}",
                                    "-e", f"exchange_mitigation_url_rewrite_sha256={digest}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    record = records["bare16"]
    assert record["action"] == "changed"
    assert record["reason"].startswith("installed IIS URL Rewrite; added X-AnonResource-Backend Abort - inbound")
    assert record["url_rewrite_version"] == "7.2.1993"
    assert record["applied"] == [EOMT, EOMTV2]
    assert report["hosts"]["bare16"]["cves"]["CVE-2022-41040"] == "mitigated"


def test_an_installer_without_its_sha256_is_refused(lab: LiveLab, first_run: Any) -> None:
    done, _records, _report = lab.run("pytest-mitigate-nosha", "-e", "exchange_target=bare16",
                                      "-e", "exchange_mitigation_url_rewrite_msi=C:\\media\\rewrite.msi")
    assert done.returncode != 0
    assert "exchange_mitigation_url_rewrite_sha256 must be the SHA-256" in done.stdout


# --------------------------------------------------------------------------- the role's shape


def _tasks(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items or []:
            found.append(item)
            for key in ("block", "rescue", "always"):
                walk(item.get(key) or [])

    walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


def test_every_entry_point_starts_with_tagged_asserts_and_has_a_spec() -> None:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]
    assert set(specs) == {"main", "plan"}
    for entry in specs:
        first = yaml.safe_load((ROLE / "tasks" / f"{entry}.yml").read_text(encoding="utf-8"))[0]
        assert "ansible.builtin.assert" in first and first["tags"] == ["always"], entry
        assert "exchange_mitigation_" in first["ansible.builtin.assert"]["fail_msg"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    for options in (spec["options"] for spec in specs.values()):
        for name, option in options.items():
            assert name.startswith("exchange_mitigation_")
            if "default" in option:
                assert "{{" not in str(option["default"]) and option["default"] == defaults[name], name


def test_every_role_variable_the_tasks_read_is_in_the_entry_points_spec() -> None:
    # Argument specs do not notice a variable a task reads but the spec lacks; this does.
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]
    filters = set(re.findall(r'"(exchange_mitigation_\w+)": ', (REPO / "filter_plugins" / "exchange_mitigation.py")
                             .read_text(encoding="utf-8")))
    files = {"plan": ["plan.yml"], "main": ["main.yml", "apply.yml"]}
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    assert set(defaults) <= {name for spec in specs.values() for name in spec["options"]}
    for entry, names in files.items():
        tasks = [task for name in names for task in _tasks(ROLE / "tasks" / name)]
        own: set[str] = {"exchange_mitigation_changed"}  # the group_by key, not a variable
        for task in tasks:
            own.update([task["register"]] if "register" in task else [])
            own.update(task.get("vars") or {})
            own.update(task.get("ansible.builtin.set_fact") or {})
        read = set(re.findall(r"\bexchange_mitigation_\w+", json.dumps(tasks)))
        unexplained = read - own - filters - set(specs[entry]["options"])
        assert not unexplained, f"{entry} reads variables that its spec does not document: {sorted(unexplained)}"


def test_scripts_set_changed_and_read_only_ones_run_in_check_mode() -> None:
    for task in _tasks(ROLE / "tasks" / "apply.yml"):
        args = task.get("ansible.windows.win_powershell")
        if args is None:
            continue
        assert "changed_when" in task, task["name"]
        script = args["script"]
        assert "regex_replace('^\\ufeff', '')" in script, task["name"]
        name = script.split("'ansible.builtin.file', '")[1].split("'")[0]
        text = (ROLE / "files" / name).read_bytes().decode("utf-8-sig")
        if "[CmdletBinding(SupportsShouldProcess)]" in text:
            assert "check_mode" not in task, task["name"]
        else:
            assert task["check_mode"] is False and task["changed_when"] is False, task["name"]


def test_failures_are_rescued_into_the_host_record() -> None:
    top = yaml.safe_load((ROLE / "tasks" / "apply.yml").read_text(encoding="utf-8"))
    assert len(top) == 1 and top[0].get("block") and top[0].get("rescue")
    rescue = json.dumps(top[0]["rescue"])
    assert "exchange_mitigation_error" in rescue and "ansible_failed_task" in rescue
