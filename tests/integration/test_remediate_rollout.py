"""playbooks/remediate.yml end to end over a simulated live estate: the rollout's promises.

The estate, all in AD site HQ, reached "live" (no evidence bundles): DAG01 with three Exchange 2016
CU23 Nov24SUv2 members that need only the latest CU23 security update, and a stand-alone Exchange
2016 CU21 Mar22SU server that needs its prerequisites, CU23 and that update (CU22, one of the two
newest CUs, would get only its own last SU). Builds, KBs and
file names come from data/exchange-builds.csv and data/patch-media.yml.

There is no Windows host: the ansible.windows and community.windows modules are replaced by the
stand-ins of tests/fake_windows.py. Each server is a scenario file; its installed build follows the
Setup.exe and .msp installs its calls file records, the fact collector answers for it before and
after patching, and a DAG member's pre-checks read its peers' maintenance state from their calls
files. Everything else is real: assess, plan (waves from the planner), the exchange_media
verification, exchange_patch and exchange_maintenance, the re-collection, the re-assessment and
the reports. One playbook run per scenario:

1. all healthy: three waves in order, never two DAG members at once, every server patched;
2. the same servers again: every server up to date, nothing changed;
3. the security update of the wave-1 DAG member fails (msiexec 1603): the rollout stops;
4. the wave-1 DAG member is refused by its pre-checks (a peer's copy is unhealthy): the same.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import BIN, REPO
from fake_windows import (
    build_only,
    collector_facts,
    enter_result,
    exit_result,
    install_stand_ins,
    interpreter_wrapper,
    log_info,
    maintenance_entered_state,
    maintenance_exit_state,
    precheck_facts,
    read_calls,
    server_postcheck,
)

from exchange_remediation.patch_waves import WaveServer, plan_waves

PRODUCT = "Exchange Server 2016"
SITE = "HQ"
DAG = "DAG01"
DAG_HOSTS = ["ex16-dag1", "ex16-dag2", "ex16-dag3"]
STANDALONE = "ex16-mbx1"
HOSTS = [*DAG_HOSTS, STANDALONE]
MEDIA_ROOT = "D:\\ExchangeMedia"
SU_LOG_DIR = "C:\\ExchangeSetupLogs"
# The calls that change a server; a re-run on patched servers must make none of them.
CHANGING_CALLS = {"win_package", "win_reboot", "win_feature", "win_hotfix", "win_service", "win_disk_image", "enter",
                  "exit", "win_file"}
REPORT_FILES = ("report.json", "report.html", "summary.md", "junit.xml")
MSI_FAILURE = "MSI (s) (A4:7C) [12:02:11:044]: MainEngineThread is returning 1603"


# --------------------------------------------------------------------------- data-file facts


def _catalog() -> list[dict[str, str]]:
    with (REPO / "data" / "exchange-builds.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _row(cu: str, su: str = "") -> dict[str, str]:
    """The catalog row of 2016 <cu> <su> (the CU's own row when su is empty)."""
    rows = [row for row in _catalog() if row["product"] == PRODUCT and row["cu"] == cu and row["update"] == su]
    assert len(rows) == 1, f"data/exchange-builds.csv has no single row for {PRODUCT} {cu} {su}"
    return rows[0]


def _numbers(build: str) -> tuple[int, ...]:
    return tuple(int(part) for part in build.split("."))


DAG_START = _row("CU23", "Nov24SUv2")
# CU21 is no longer one of the two newest CUs (the only ones that get SUs): the plan moves it to CU23.
SOLO_START = _row("CU21", "Mar22SU")
CU23 = _row("CU23")
# The newest security update of CU23 in the catalog: what the planner targets.
TARGET = max((row for row in _catalog() if row["product"] == PRODUCT and row["cu"] == "CU23" and row["update"]),
             key=lambda row: _numbers(row["update_build"]))
_MEDIA_NAMES = yaml.safe_load((REPO / "data" / "patch-media.yml").read_text(encoding="utf-8"))
_FOLDER = _MEDIA_NAMES["products"]["2016"]["folder"]
SU_FILE = _MEDIA_NAMES["products"]["2016"]["su_msp"].format(kb=TARGET["update_kb"])
CU_FILE = _MEDIA_NAMES["products"]["2016"]["cu_iso"].format(cu="CU23")
SU_LOG = f"{SU_LOG_DIR}\\{TARGET['update_kb']}.msp.log"
MEDIA = [f"{_FOLDER}/CU23/{CU_FILE}", f"{_FOLDER}/CU23/{SU_FILE}"] + [
    f"{_MEDIA_NAMES['prerequisite_folder']}/{name}/{_MEDIA_NAMES['prerequisites'][name]['file']}"
    for name in ("vcredist2012", "vcredist2013", "ucma4")]
# Synthetic digests: the stand-in servers hold files with exactly these; no real Microsoft file hash
# is claimed here.
MEDIA_SHA256 = {relative: hashlib.sha256(f"test media: {relative}".encode()).hexdigest() for relative in MEDIA}


def _admin_display(build: str) -> str:
    major, minor, number, revision = _numbers(build)
    return f"Version {major}.{minor} (Build {number}.{revision})"


def _package(cu: str, kb: str) -> str:
    return f"Security Update for Exchange Server 2016 Cumulative Update {cu.removeprefix('CU')} ({kb})"


INSTALLS = {
    "Setup.exe": {"kind": "cu", "build": CU23["cu_build"], "admin_display_version": _admin_display(CU23["cu_build"])},
    SU_FILE: {"kind": "su", "build": TARGET["update_build"], "package": _package("CU23", TARGET["update_kb"])},
}


def expected_waves() -> list[list[str]]:
    """The waves the core computes for this estate (the plan must carry exactly these)."""
    servers = [WaveServer(name, DAG if name in DAG_HOSTS else None, SITE) for name in HOSTS]
    return [list(wave) for wave in plan_waves(servers).waves]


def _first_wave_dag_member() -> str:
    [member] = [name for name in expected_waves()[0] if name in DAG_HOSTS]
    return member


# --------------------------------------------------------------------------- the simulated estate


def _server(host: str, files: dict[str, Path]) -> dict[str, Any]:
    """The scenario file of one simulated live server."""
    hostname = host.upper()
    member = host in DAG_HOSTS
    start = DAG_START if member else SOLO_START
    members = [name.upper() for name in DAG_HOSTS] if member else []
    mode = "dag" if member else "standalone"
    return {
        "lab": {
            "build": start["update_build"],
            "admin_display_version": _admin_display(start["cu_build"]),
            "setup_build": start["cu_build"],
            "installed_updates": [{"package": _package(start["cu"], start["update_kb"]),
                                   "installed": "2024-12-03" if member else "2022-03-17",
                                   "installed_raw": "20241203" if member else "20220317",
                                   "update_key": "Exchange 2016"}],
            "update_key": "Exchange 2016",
            "installs": INSTALLS,
            "peers": {name.upper(): str(files[name]) for name in DAG_HOSTS if member and name != host},
            "msi_log_error_lines": None,
        },
        "facts": collector_facts(hostname, DAG if member else None, SITE, start["cu_build"]),
        "precheck": precheck_facts(hostname, DAG if member else None, members),
        "buildonly": build_only(CU23["cu_build"]),
        "postcheck": server_postcheck(hostname),
        "enter": enter_result(mode, hostname),
        "state_enter": maintenance_entered_state(hostname),
        "exit": exit_result(mode, hostname),
        "state_exit": maintenance_exit_state(hostname),
        "loginfo": log_info(None),
        "staged": {f"{MEDIA_ROOT}\\{relative.replace('/', chr(92))}".lower(): digest
                   for relative, digest in MEDIA_SHA256.items()},
    }


@dataclass
class RolloutRun:
    done: subprocess.CompletedProcess[str]
    plan: dict[str, Any]
    outcomes: dict[str, dict[str, Any]]
    report: dict[str, Any]
    report_files: list[str]
    after: dict[str, dict[str, Any]]  # server.json collected again after patching, per host
    calls: dict[str, list[dict[str, Any]]]  # what each server was asked during this run

    def failed(self) -> str:
        return self.done.stdout[-6000:] + self.done.stderr[-3000:]


class Lab:
    """Four simulated live servers on localhost and the command that runs remediate.yml over them."""

    def __init__(self, base: Path, change: dict[str, dict[str, Any]] | None = None) -> None:
        self.base = base
        self.collections = install_stand_ins(base)
        self.files = {host: base / "servers" / f"{host}.json" for host in HOSTS}
        self.files[HOSTS[0]].parent.mkdir(parents=True)
        hosts = {}
        for host in HOSTS:
            data = _server(host, self.files)
            for key, value in (change or {}).get(host, {}).items():
                data[key] = value(data[key]) if callable(value) else value
            self.files[host].write_text(json.dumps(data), encoding="utf-8")
            hosts[host] = {"ansible_python_interpreter": str(interpreter_wrapper(base, host, self.files[host]))}
        inventory = {"all": {"children": {"exchange": {"hosts": hosts, "vars": {
            "ansible_connection": "local",
            "ansible_user": "CONTOSO\\svc-exchange-patch",
            # runas exists on Windows only; the stand-ins need no become.
            "ansible_become": False,
            "exchange_media_source": {"type": "local", "location": MEDIA_ROOT},
        }}}}}
        self.inventory = base / "hosts.yml"
        self.inventory.write_text(yaml.safe_dump(inventory), encoding="utf-8")

    def run(self, name: str) -> RolloutRun:
        run_id = f"pytest-rollout-{name}-{os.getpid()}"
        evidence = REPO / "evidence" / run_id
        shutil.rmtree(evidence, ignore_errors=True)
        report_dir = self.base / f"reports-{name}"
        seen = {host: len(read_calls(self.files[host])) for host in HOSTS}
        env = dict(os.environ)
        env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
                    "ANSIBLE_LOCAL_TEMP": str(self.base / "tmp"), "ANSIBLE_PIPELINING": "True"})
        command = [
            str(BIN / "ansible-playbook"), "-i", str(self.inventory), str(REPO / "playbooks" / "remediate.yml"),
            "-e", f"report_dir={report_dir}", "-e", f"exchange_facts_run_id={run_id}",
            "-e", "exchange_hunt_enabled=false",
            "-e", json.dumps({"exchange_patch_plan_media_sha256": MEDIA_SHA256}),
            # Nothing here waits for Windows: poll and retry without pauses.
            "-e", "exchange_patch_async_poll=1", "-e", "exchange_patch_postcheck_retries=2",
            "-e", "exchange_patch_postcheck_delay=0", "-e", "exchange_maintenance_verify_retries=2",
            "-e", "exchange_maintenance_verify_delay=0",
        ]
        try:
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                                  check=False)
            plan_file = evidence / "plan.json"
            plan = json.loads(plan_file.read_text(encoding="utf-8")) if plan_file.is_file() else {}
            outcomes = {path.stem: json.loads(path.read_text(encoding="utf-8"))
                        for path in (evidence / "outcomes").glob("*.json")}
            after = {path.parent.name: json.loads(path.read_text(encoding="utf-8"))
                     for path in (evidence / "after").glob("*/server.json")}
        finally:
            shutil.rmtree(evidence, ignore_errors=True)
        report_file = report_dir / "report.json"
        report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else {}
        calls = {host: read_calls(self.files[host])[seen[host]:] for host in HOSTS}
        files = sorted(path.name for path in report_dir.glob("*")) if report_dir.is_dir() else []
        return RolloutRun(done, plan, outcomes, report, files, after, calls)


def _recap(stdout: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    for line in stdout.split("PLAY RECAP")[-1].splitlines():
        if " : " in line:
            host, counts = line.split(" : ", 1)
            recap[host.strip()] = {key: int(value) for key, value in (item.split("=") for item in counts.split())}
    return recap


def _changed_tasks(stdout: str) -> list[str]:
    """'TASK name: changed: [host]' for every result that reported a change."""
    found = []
    task = ""
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].split("]")[0]
        elif line.startswith("changed: ["):
            found.append(f"{task}: {line.strip()}")
    return found


def _kinds(calls: list[dict[str, Any]]) -> list[str]:
    return [call["kind"] for call in calls]


def _packages(calls: list[dict[str, Any]]) -> list[str]:
    return [call["path"].rsplit("\\", 1)[-1] for call in calls if call["kind"] == "win_package"]


def _window(calls: list[dict[str, Any]]) -> tuple[float, float]:
    """First and last moment a server was worked on by the apply play (fact collection aside)."""
    moments = [call["at"] for call in calls if call["kind"] != "facts"]
    return min(moments), max(moments)


def _normalised(build: str) -> str:
    """15.01.2507.072 -> 15.1.2507.72."""
    return ".".join(str(part) for part in _numbers(build))


# --------------------------------------------------------------------------- runs, one per scenario


@pytest.fixture(scope="module")
def healthy_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("rollout-healthy"))


@pytest.fixture(scope="module")
def healthy(healthy_lab: Lab) -> RolloutRun:
    return healthy_lab.run("healthy")


@pytest.fixture(scope="module")
def rerun(healthy_lab: Lab, healthy: RolloutRun) -> RolloutRun:
    assert healthy.done.returncode == 0, healthy.failed()
    return healthy_lab.run("rerun")


@pytest.fixture(scope="module")
def su_fails(tmp_path_factory: pytest.TempPathFactory) -> RolloutRun:
    failing = _first_wave_dag_member()
    lab = Lab(tmp_path_factory.mktemp("rollout-su-fails"), {failing: {
        "win_package_rc": {SU_FILE: 1603},
        "lab": lambda lab: dict(lab, msi_log_error_lines=[MSI_FAILURE]),
    }})
    return lab.run("su-fails")


def _unhealthy_peer_copy(facts: dict[str, Any]) -> dict[str, Any]:
    peer = _refusing_peer()
    for record in facts["dag"]["copies"]:
        if record["database"] == "DB01" and record["server"] == peer:
            record.update(status="FailedAndSuspended", copy_queue_length=250)
    return facts


def _refusing_peer() -> str:
    return next(name for name in DAG_HOSTS if name != _first_wave_dag_member()).upper()


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> RolloutRun:
    lab = Lab(tmp_path_factory.mktemp("rollout-refused"), {_first_wave_dag_member(): {
        "precheck": _unhealthy_peer_copy}})
    return lab.run("refused")


# --------------------------------------------------------------------------- 1. all healthy


def test_plan_puts_each_dag_member_in_its_own_wave_and_the_standalone_beside_one(healthy: RolloutRun) -> None:
    plan = healthy.plan
    assert plan, healthy.failed()
    waves = [wave["servers"] for wave in plan["waves"]]
    assert waves == expected_waves()
    assert len(waves) == 3 and plan["summary"]["lower_bound"] == 3
    assert all(len(set(wave) & set(DAG_HOSTS)) == 1 for wave in waves)
    assert any(STANDALONE in wave and len(wave) == 2 for wave in waves)
    assert plan["ad_preparation"]["needed"] is False
    for host in HOSTS:
        server = plan["servers"][host]
        assert server["state"] == "patch" and server["live"] is True, (host, server["reasons"])
        assert server["target"]["build"] == TARGET["update_build"] and server["target"]["su"] == TARGET["update"]
        updates = [step["kind"] for step in server["steps"] if step["kind"] != "prerequisite"]
        assert updates == (["su"] if host in DAG_HOSTS else ["cu", "su"]), host
        assert server["maintenance"] == ("dag" if host in DAG_HOSTS else "standalone")
    assert plan["servers"][STANDALONE]["current"]["build"] == SOLO_START["update_build"]


def test_every_server_is_patched_and_leaves_maintenance(healthy: RolloutRun) -> None:
    assert healthy.done.returncode == 0, healthy.failed()
    assert set(healthy.outcomes) == set(HOSTS)
    for host in HOSTS:
        outcome = healthy.outcomes[host]
        assert outcome["state"] == "patched", (host, outcome["reason"])
        assert outcome["failed_step"] is None and outcome["maintenance_exited"] is True
        assert outcome["build_after"] == TARGET["update_build"]
        assert outcome["build_before"] == (DAG_START if host in DAG_HOSTS else SOLO_START)["update_build"]
        assert outcome["setup_log"] == SU_LOG
        assert outcome["wave"] == healthy.plan["servers"][host]["wave"]
        assert all(check["ok"] for check in outcome["checks"]), host
        kinds = _kinds(healthy.calls[host])
        assert kinds.count("enter") == 1 and kinds.count("exit") == 1, kinds
        last_read_back = max(index for index, kind in enumerate(kinds) if kind == "state_exit")
        assert kinds.index("enter") < kinds.index("exit") < last_read_back, kinds
        # Installed once, elevated .msp with its log; the stand-alone server also ran setup.
        packages = _packages(healthy.calls[host])
        assert packages.count(SU_FILE) == 1
        if host == STANDALONE:
            assert packages == ["vcredist_x64.exe", "vcredist_x64.exe", "UcmaRuntimeSetup.exe", "Setup.exe", SU_FILE]
        else:
            assert packages == [SU_FILE]
            features = [call["name"] for call in healthy.calls[host] if call["kind"] == "win_feature"]
            assert features == ["RSAT-Clustering"]
        msp = next(call for call in healthy.calls[host] if call["kind"] == "win_package"
                   and call["path"].endswith(SU_FILE))
        assert msp["path"] == f"{MEDIA_ROOT}\\{_FOLDER}\\CU23\\{SU_FILE}"
        assert msp["log_path"] == SU_LOG


def test_waves_run_in_order_and_never_two_dag_members_at_once(healthy: RolloutRun) -> None:
    assert healthy.done.returncode == 0, healthy.failed()
    waves = [wave["servers"] for wave in healthy.plan["waves"]]
    # Everything the apply play did to the servers of one wave happened before anything it did to
    # the next wave's servers (the fact collection before and after the rollout aside).
    for earlier, later in pairwise(waves):
        assert max(_window(healthy.calls[host])[1] for host in earlier) < min(
            _window(healthy.calls[host])[0] for host in later), (earlier, later)
    # So the DAG members' maintenance windows, from entering to being read back in service, follow
    # each other in wave order and never overlap.
    spans = []
    for host in sorted(DAG_HOSTS, key=lambda name: healthy.plan["servers"][name]["wave"]):
        calls = healthy.calls[host]
        enter = next(call["at"] for call in calls if call["kind"] == "enter")
        back = max(call["at"] for call in calls if call["kind"] == "state_exit")
        su = next(call["at"] for call in calls if call["kind"] == "win_package")
        assert enter < su < back
        spans.append((enter, back))
    for (_, first_back), (second_enter, _) in pairwise(spans):
        assert first_back < second_enter
    # Each member's pre-checks read its peers' state from the simulated estate: all back in service.
    for host in DAG_HOSTS:
        [dag_health] = [check for check in healthy.outcomes[host]["checks"] if check["name"] == "dag_health"]
        assert dag_health["ok"] is True, (host, dag_health)


def test_report_shows_before_and_after(healthy: RolloutRun, report_schema: dict[str, Any]) -> None:
    assert healthy.done.returncode == 0, healthy.failed()
    assert set(REPORT_FILES) <= set(healthy.report_files)
    jsonschema.validate(healthy.report, report_schema)
    remediation = healthy.report["remediation"]
    assert remediation["rollout_stopped"] is False and remediation["stopped_by"] is None
    assert remediation["waves"] == [wave["servers"] for wave in healthy.plan["waves"]]
    assert remediation["summary"]["patched"] == len(HOSTS)
    for host in HOSTS:
        entry = healthy.report["hosts"][host]["remediation"]
        start = DAG_START if host in DAG_HOSTS else SOLO_START
        assert entry["state"] == "patched", (host, entry["reason"])
        assert entry["before"]["build"] == start["update_build"]
        assert entry["after"]["build"] == TARGET["update_build"]
        assert entry["target"]["build"] == TARGET["update_build"]
        assert entry["maintenance_exited"] is True
        # The report's assessment is the one taken after patching, from the facts collected again.
        assert healthy.report["hosts"][host]["exchange"]["build"] == TARGET["update_build"]
        collected = healthy.after[host]["exchange"]
        assert _normalised(collected["exsetup_version"]) == TARGET["update_build"]
        assert _package("CU23", TARGET["update_kb"]) in [item["package"] for item in collected["installed_updates"]]


# --------------------------------------------------------------------------- 2. run again


def test_second_run_finds_every_server_up_to_date_and_touches_none(rerun: RolloutRun) -> None:
    assert rerun.done.returncode == 0, rerun.failed()
    assert all(server["state"] == "up_to_date" for server in rerun.plan["servers"].values()), rerun.plan["servers"]
    assert rerun.plan["waves"] == []
    for host in HOSTS:
        entry = rerun.report["hosts"][host]["remediation"]
        assert entry["state"] == "up_to_date", (host, entry["reason"])
        assert entry["before"]["build"] == TARGET["update_build"]
        # Only the read-only fact collector ran.
        assert set(_kinds(rerun.calls[host])) == {"facts"}, rerun.calls[host]
        assert not CHANGING_CALLS & set(_kinds(rerun.calls[host]))


def test_second_run_changes_nothing_on_a_server(rerun: RolloutRun) -> None:
    assert rerun.done.returncode == 0, rerun.failed()
    # Results of tasks that ran on a server, not delegated to the controller ("[host -> localhost]").
    on_servers = [line for line in _changed_tasks(rerun.done.stdout) if " -> " not in line]
    assert on_servers == []


def test_second_run_play_recap_shows_no_change(rerun: RolloutRun) -> None:
    assert rerun.done.returncode == 0, rerun.failed()
    recap = _recap(rerun.done.stdout)
    assert set(HOSTS) <= set(recap)
    changed = {host: counts["changed"] for host, counts in recap.items() if host in HOSTS and counts["changed"]}
    assert changed == {}, "tasks that reported a change:\n" + "\n".join(_changed_tasks(rerun.done.stdout))


# --------------------------------------------------------------------------- 3. a failing update


def test_failed_su_is_recorded_with_its_log_and_the_server_leaves_maintenance(su_fails: RolloutRun) -> None:
    failing = _first_wave_dag_member()
    outcome = su_fails.outcomes[failing]
    assert outcome["state"] == "failed" and outcome["failed_step"] == "su", outcome
    assert outcome["wave"] == 1 and outcome["setup_log"] == SU_LOG
    assert "Install the SU .msp elevated" in outcome["reason"] and "(rc 1603)" in outcome["reason"]
    assert f"last error in {SU_LOG}: {MSI_FAILURE}" in outcome["reason"]
    assert outcome["maintenance_exited"] is True
    kinds = _kinds(su_fails.calls[failing])
    # No reboot and no post-check after the failed .msp; the log is read, the services repaired,
    # and the server is taken out of maintenance and read back in service.
    assert kinds.index("win_package") < kinds.index("loginfo") < kinds.index("win_service") < kinds.index("exit")
    assert "win_reboot" not in kinds and "postcheck" not in kinds
    assert kinds[-1] == "state_exit"
    loginfo = next(call for call in su_fails.calls[failing] if call["kind"] == "loginfo")
    assert loginfo["parameters"]["MsiLogPath"] == SU_LOG


def test_failed_su_stops_the_rollout_and_leaves_the_dag_partners_alone(su_fails: RolloutRun) -> None:
    failing = _first_wave_dag_member()
    for host in DAG_HOSTS:
        if host == failing:
            continue
        outcome = su_fails.outcomes[host]
        assert outcome["state"] == "skipped", outcome
        assert outcome["reason"] == f"rollout stopped after {failing} failed"
        assert outcome["wave"] > 1
        # Never contacted by the apply play: only the fact collection before the rollout.
        assert set(_kinds(su_fails.calls[host])) == {"facts"}, su_fails.calls[host]
        assert SU_FILE not in _packages(su_fails.calls[host])
    # The stand-alone server shared the failing server's wave, which had already started.
    assert su_fails.outcomes[STANDALONE]["state"] == "patched"


def test_failed_su_fails_the_run_after_writing_the_report(su_fails: RolloutRun,
                                                          report_schema: dict[str, Any]) -> None:
    failing = _first_wave_dag_member()
    assert su_fails.done.returncode != 0
    assert f"The rollout stopped: {failing} failed or was refused" in su_fails.done.stdout
    assert set(REPORT_FILES) <= set(su_fails.report_files), su_fails.failed()
    jsonschema.validate(su_fails.report, report_schema)
    remediation = su_fails.report["remediation"]
    assert remediation["rollout_stopped"] is True and remediation["stopped_by"] == failing
    entry = su_fails.report["hosts"][failing]["remediation"]
    assert (entry["state"], entry["failed_step"], entry["setup_log"]) == ("failed", "su", SU_LOG)
    assert entry["maintenance_exited"] is True and entry["after"] is None
    assert entry["before"]["build"] == DAG_START["update_build"]
    for host in DAG_HOSTS:
        if host != failing:
            skipped = su_fails.report["hosts"][host]["remediation"]
            assert skipped["state"] == "skipped" and skipped["reason"] == f"rollout stopped after {failing} failed"


# --------------------------------------------------------------------------- 4. a refused server


def test_refused_server_never_enters_maintenance_and_stops_the_rollout(refused: RolloutRun,
                                                                      report_schema: dict[str, Any]) -> None:
    failing = _first_wave_dag_member()
    outcome = refused.outcomes[failing]
    assert outcome["state"] == "refused" and outcome["failed_step"] == "precheck", outcome
    assert f"peer copy DB01\\{_refusing_peer()} is FailedAndSuspended, not Mounted or Healthy" in outcome["reason"]
    assert outcome["maintenance_exited"] is None
    assert not CHANGING_CALLS & set(_kinds(refused.calls[failing])), refused.calls[failing]
    for host in DAG_HOSTS:
        if host != failing:
            assert refused.outcomes[host]["state"] == "skipped"
            assert refused.outcomes[host]["reason"] == f"rollout stopped after {failing} was refused"
            assert set(_kinds(refused.calls[host])) == {"facts"}
    assert refused.done.returncode != 0
    remediation = refused.report["remediation"]
    assert remediation["rollout_stopped"] is True and remediation["stopped_by"] == failing
    assert refused.report["hosts"][failing]["remediation"]["state"] == "refused"
    assert set(REPORT_FILES) <= set(refused.report_files)
    jsonschema.validate(refused.report, report_schema)


def test_lab_servers_are_the_catalog_builds() -> None:
    # The estate is made of real catalog rows: Nov24SUv2 and Mar22SU are what the servers run.
    assert (DAG_START["update"], DAG_START["update_build"]) == ("Nov24SUv2", "15.1.2507.44")
    assert (SOLO_START["update"], SOLO_START["update_build"]) == ("Mar22SU", "15.1.2308.27")
    assert re.fullmatch(r"15\.1\.2507\.\d+", TARGET["update_build"]) and TARGET["update_kb"].startswith("KB")
