"""patch_checks: the pre-check, step, post-check and maintenance decisions of the patch sequence.

Facts are shaped like the collectors' results (roles/exchange_patch/files/*.ps1,
roles/exchange_maintenance/files/Get-ExchangeMaintenanceState.ps1) for real estates: a two-member
Exchange 2016 DAG going from CU22 Oct21SU to CU23 Aug26SU, an Exchange 2019 CU14 server that needs
only its SU, and an Edge Transport server. Builds and KBs are rows of data/exchange-builds.csv.
References: patch-procedure.md §1 (pre-checks), §2 (maintenance), §4-§5 (verify the build), §7.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation import patch_checks
from exchange_remediation.patch_checks import (
    automatic_services,
    evaluate_postcheck,
    evaluate_precheck,
    maintenance_exit_problems,
    maintenance_problems,
    pending_steps,
    postcheck_failures,
    precheck_failures,
    start_mode,
    step_failures,
)

REPO = Path(__file__).resolve().parents[2]
GB = 1024**3

# Every component Get-ServerComponentState lists on an Exchange 2016/2019 Mailbox server.
COMPONENTS = [
    "ServerWideOffline", "HubTransport", "FrontendTransport", "Monitoring", "RecoveryActionsEnabled",
    "AutoDiscoverProxy", "ActiveSyncProxy", "EcpProxy", "EwsProxy", "ImapProxy", "OabProxy", "OwaProxy",
    "PopProxy", "PushNotificationsProxy", "RpsProxy", "RwsProxy", "RpcProxy", "UMCallRouter", "XropProxy",
    "HttpProxyAvailabilityGroup", "ForwardSyncDaemon", "ProvisioningRps", "MapiProxy", "EdgeTransport",
    "HighAvailability", "SharedCache", "MailboxDeliveryProxy", "RoutingUpdates", "RestProxy", "DarRuntime",
]
# Inactive on every on-premises server ("born in the cloud").
CLOUD_ONLY = {"ForwardSyncDaemon", "ProvisioningRps"}

# Synthetic digest: the checks compare strings; no real Microsoft file hash is claimed here.
CU23_SHA256 = hashlib.sha256(b"test media: ExchangeServer2016-x64-CU23.ISO").hexdigest()
SU_SHA256 = hashlib.sha256(b"test media: Exchange2016-KB5121576-x64-en.msp").hexdigest()

THRESHOLDS = {"min_free_disk_gb": 30, "max_copy_queue": 10, "max_replay_queue": 100, "allow_reboot": True}
# The role's default quiet switches (exchange_patch_prerequisite_arguments).
PREREQUISITE_ARGUMENTS = {"dotnet": ["/q", "/norestart"], "vcredist2012": ["/install", "/quiet", "/norestart"],
                          "vcredist2013": ["/install", "/quiet", "/norestart"], "ucma4": ["/passive", "/norestart"]}


def _components(inactive: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    inactive = inactive or {}
    states = []
    for name in COMPONENTS:
        if name in inactive:
            states.append({"component": name, "state": "Inactive", "inactive_requesters": inactive[name]})
        elif name in CLOUD_ONLY:
            states.append({"component": name, "state": "Inactive", "inactive_requesters": ["Functional"]})
        else:
            states.append({"component": name, "state": "Active", "inactive_requesters": []})
    return states


def _maintenance_components() -> list[dict[str, Any]]:
    """What Get-ServerComponentState shows once ServerWideOffline is Inactive."""
    return [
        {"component": name,
         "state": "Active" if name in ("Monitoring", "RecoveryActionsEnabled") else "Inactive",
         "inactive_requesters": [] if name in ("Monitoring", "RecoveryActionsEnabled") else ["Maintenance"]}
        for name in COMPONENTS
    ]


SERVICES = [
    {"name": "MSExchangeADTopology", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeAntispamUpdate", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeDagMgmt", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeDelivery", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeDiagnostics", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeEdgeSync", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeFastSearch", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeFrontEndTransport", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeHM", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeImap4", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeIMAP4BE", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeIS", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeMailboxAssistants", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeMailboxReplication", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeNotificationsBroker", "status": "Stopped", "start_mode": "delayed"},
    {"name": "MSExchangePop3", "status": "Stopped", "start_mode": "manual"},
    {"name": "MSExchangePOP3BE", "status": "Stopped", "start_mode": "manual"},
    {"name": "MSExchangeRepl", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeRPC", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeServiceHost", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeSubmission", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeThrottling", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeTransport", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeTransportLogSearch", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeUM", "status": "Running", "start_mode": "auto"},
    {"name": "MSExchangeUMCR", "status": "Running", "start_mode": "auto"},
    {"name": "HostControllerService", "status": "Running", "start_mode": "auto"},
    {"name": "FMS", "status": "Running", "start_mode": "auto"},
    {"name": "W3SVC", "status": "Running", "start_mode": "auto"},
    {"name": "WAS", "status": "Running", "start_mode": "manual"},
    {"name": "IISADMIN", "status": "Running", "start_mode": "auto"},
]

WATERMARKS_CLEAN = [
    {"role": role, "watermark": None, "action": None, "unpacked_version": "15.1.2375.7",
     "configured_version": "15.1.2375.7"}
    for role in ("CafeRole", "ClientAccessRole", "FrontendTransportRole", "HubTransportRole", "MailboxRole",
                 "UnifiedMessagingRole")
]


def _copy(database: str, server: str, status: str = "Healthy", **extra: Any) -> dict[str, Any]:
    record = {"database": database, "server": server, "status": status, "copy_queue_length": 0,
              "replay_queue_length": 0, "content_index_state": "Healthy"}
    record.update(extra)
    return record


def dag_facts() -> dict[str, Any]:
    """Healthy pre-check facts of EX16-DAG1, Exchange 2016 CU22 Oct21SU, two-member DAG01."""
    return {
        "collector": "Get-ExchangePatchPrecheckFacts",
        "hostname": "EX16-DAG1",
        "fqdn": "ex16-dag1.contoso.local",
        "collected_at": "2026-11-29T10:00:00Z",
        "cmdlets_loaded": True,
        "exchange": {
            "install_path": "D:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
            "exsetup_version": "15.01.2375.012",
            "admin_display_version": "Version 15.1 (Build 2375.7)",
            "roles": ["ClientAccess", "Mailbox", "UnifiedMessaging"],
            "edge": False,
        },
        "disks": [
            {"drive": "C:", "free_bytes": 84 * GB, "size_bytes": 200 * GB, "system": True, "install": False},
            {"drive": "D:", "free_bytes": 310 * GB, "size_bytes": 500 * GB, "system": False, "install": True},
        ],
        "pending_reboot": {"component_based_servicing": False, "windows_update": False, "pending_file_rename": False},
        "watermarks": copy.deepcopy(WATERMARKS_CLEAN),
        "setup_processes": [{"name": "msiexec", "id": 812, "command_line": "C:\\Windows\\system32\\msiexec.exe /V"}],
        "installer_in_progress": False,
        "services": copy.deepcopy(SERVICES),
        "service_health": [
            {"role": "Mailbox Server Role", "required_services_running": True, "services_not_running": []},
            {"role": "Client Access Server Role", "required_services_running": True, "services_not_running": []},
            {"role": "Unified Messaging Server Role", "required_services_running": True, "services_not_running": []},
        ],
        "dotnet_release": 528449,
        "installer_cache": [
            {"name": "Microsoft Exchange Server", "kind": "msi",
             "local_package": "C:\\Windows\\Installer\\3b4c1a.msi", "present": True},
            {"name": "Security Update for Exchange Server 2016 Cumulative Update 22 (KB5007011)", "kind": "msp",
             "local_package": "C:\\Windows\\Installer\\5d21e9.msp", "present": True},
            {"name": "Microsoft Server Speech Platform Runtime (x64)", "kind": "msi",
             "local_package": "C:\\Windows\\Installer\\1f0a77.msi", "present": True},
        ],
        "components": _components(),
        "dag": {
            "name": "DAG01",
            "members": ["EX16-DAG1", "EX16-DAG2"],
            "cluster_nodes": [{"name": "EX16-DAG1", "state": "Up"}, {"name": "EX16-DAG2", "state": "Up"}],
            "server_wide_offline": {"EX16-DAG2": "Active"},
            "copies": [
                _copy("DB01", "EX16-DAG1", "Mounted"),
                _copy("DB01", "EX16-DAG2", "Healthy", copy_queue_length=1, replay_queue_length=3),
                _copy("DB02", "EX16-DAG1", "Healthy"),
                _copy("DB02", "EX16-DAG2", "Mounted"),
            ],
        },
        "media": {
            "verified": {
                "2016-CU23-iso": {"path": "D:\\ExchangeMedia\\Exchange2016\\CU23\\ExchangeServer2016-x64-CU23.ISO",
                                  "sha256": CU23_SHA256, "signature_status": "Valid",
                                  "signer": "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond"},
                "2016-CU23-Aug26SU-msp": {"path": "D:\\ExchangeMedia\\Exchange2016\\CU23\\"
                                                  "Exchange2016-KB5121576-x64-en.msp",
                                          "sha256": SU_SHA256, "signature_status": "Valid",
                                          "signer": "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond"},
            },
            "failures": [],
        },
        "errors": [],
    }


def dag_plan() -> dict[str, Any]:
    """SERVER_PLAN of EX16-DAG1 (remediate-spec.md) from CU22 Oct21SU to CU23 Aug26SU."""
    return {
        "state": "patch", "reasons": [], "live": True,
        "hostname": "EX16-DAG1", "fqdn": "ex16-dag1.contoso.local",
        "product": "Exchange Server 2016", "product_code": "2016", "roles": ["Mailbox"], "edge": False,
        "maintenance": "dag", "dag": "DAG01", "dag_peers": ["ex16-dag2"], "dag_member_count": 2,
        "site": "HQ", "redirect_target": "ex16-dag2.contoso.local", "wave": 1,
        "current": {"build": "15.1.2375.12", "cu": "CU22", "su": "Oct21SU"},
        "target": {"cu": "CU23", "cu_build": "15.1.2507.6", "cu_kb": "KB5011155", "su": "Aug26SU",
                   "build": "15.1.2507.72", "su_kb": "KB5121576"},
        "license_switch": "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF",
        # The planner's shapes (patch_plan.py): .NET judged, other software not collected.
        "prerequisites": [
            {"id": "dotnet", "name": ".NET Framework 4.8", "status": "present",
             "detail": "Release 528449 >= 528040", "media": None, "blocking": False},
            {"id": "vcredist2012", "name": "Visual C++ 2012 Redistributable (x64)", "status": "unknown",
             "detail": "installed software not collected; installed idempotently at run time",
             "media": "prereq-vcredist2012", "blocking": False},
            {"id": "vcredist2013", "name": "Visual C++ 2013 Redistributable (x64)", "status": "unknown",
             "detail": "installed software not collected; installed idempotently at run time",
             "media": "prereq-vcredist2013", "blocking": False},
        ],
        "steps": [
            {"kind": "prerequisite", "id": "vcredist2013", "name": "Visual C++ 2013 Redistributable (x64)",
             "install": "package", "feature": None, "media": "prereq-vcredist2013", "reboot": False, "minutes": 10},
            {"kind": "cu", "name": "CU23", "product": "Exchange Server 2016", "build": "15.1.2507.6",
             "kb": "KB5011155", "media": "2016-CU23-iso",
             "arguments": ["/Mode:Upgrade", "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF"],
             "in_place_upgrade": False, "reboot": True, "reboot_before": False, "minutes": 195},
            {"kind": "su", "name": "Aug26SU", "build": "15.1.2507.72", "kb": "KB5121576",
             "media": "2016-CU23-Aug26SU-msp", "reboot": True, "minutes": 45},
        ],
        "media": [
            {"id": "prereq-vcredist2013", "kind": "prerequisite", "file": "vcredist_x64.exe",
             "relative_path": "Prerequisites/vcredist2013/vcredist_x64.exe", "sha256": None,
             "sha256_source": "none", "signed_by_microsoft": True},
            {"id": "2016-CU23-iso", "kind": "cu_iso", "file": "ExchangeServer2016-x64-CU23.ISO",
             "relative_path": "Exchange2016/CU23/ExchangeServer2016-x64-CU23.ISO", "sha256": CU23_SHA256,
             "sha256_source": "user", "signed_by_microsoft": True},
            {"id": "2016-CU23-Aug26SU-msp", "kind": "su_msp", "file": "Exchange2016-KB5121576-x64-en.msp",
             "relative_path": "Exchange2016/CU23/Exchange2016-KB5121576-x64-en.msp", "sha256": SU_SHA256,
             "sha256_source": "user", "signed_by_microsoft": True},
        ],
        "modelled_minutes": 250,
    }


def _with_vcredist_verified(facts: dict[str, Any]) -> dict[str, Any]:
    facts["media"]["verified"]["prereq-vcredist2013"] = {
        "path": "D:\\ExchangeMedia\\Prerequisites\\vcredist2013\\vcredist_x64.exe", "sha256": "",
        "signature_status": "Valid", "signer": "CN=Microsoft Corporation"}
    return facts


def healthy_dag() -> tuple[dict[str, Any], dict[str, Any]]:
    return _with_vcredist_verified(dag_facts()), dag_plan()


def su_only() -> tuple[dict[str, Any], dict[str, Any]]:
    """EX19-MBX1, stand-alone Exchange 2019 CU14 Nov24SUv2 -> Aug26SU (SU only)."""
    facts = dag_facts()
    facts.update(hostname="EX19-MBX1", fqdn="ex19-mbx1.contoso.local", dag=None)
    facts["exchange"].update(exsetup_version="15.2.1544.14", admin_display_version="Version 15.2 (Build 1544.4)",
                             roles=["Mailbox"])
    facts["services"] = [s for s in facts["services"] if s["name"] not in ("MSExchangeUM", "MSExchangeUMCR")]
    facts["media"] = {"verified": {"2019-CU14-Aug26SU-msp": {
        "path": "D:\\ExchangeMedia\\Exchange2019\\CU14\\Exchange2019-KB5121575-x64-en.msp",
        "sha256": SU_SHA256, "signature_status": "Valid", "signer": "CN=Microsoft Corporation"}}, "failures": []}
    plan = dag_plan()
    plan.update(hostname="EX19-MBX1", product="Exchange Server 2019", product_code="2019", maintenance="standalone",
                dag=None, dag_peers=[], dag_member_count=0, redirect_target=None, license_switch=None,
                current={"build": "15.2.1544.14", "cu": "CU14", "su": "Nov24SUv2"},
                target={"cu": "CU14", "cu_build": "15.2.1544.4", "cu_kb": "KB5035606", "su": "Aug26SU",
                        "build": "15.2.1544.44", "su_kb": "KB5121575"},
                prerequisites=[{"id": "dotnet", "name": ".NET Framework 4.8", "status": "present",
                                "detail": "Release 528449 >= 528040", "media": None, "blocking": False}],
                steps=[{"kind": "su", "name": "Aug26SU", "build": "15.2.1544.44", "kb": "KB5121575",
                        "media": "2019-CU14-Aug26SU-msp", "reboot": True, "minutes": 45}],
                media=[{"id": "2019-CU14-Aug26SU-msp", "kind": "su_msp", "file": "Exchange2019-KB5121575-x64-en.msp",
                        "relative_path": "Exchange2019/CU14/Exchange2019-KB5121575-x64-en.msp",
                        "sha256": SU_SHA256, "sha256_source": "user", "signed_by_microsoft": True}])
    return facts, plan


def _failures(facts: dict[str, Any], plan: dict[str, Any], arguments: dict[str, Any] | None = None,
              **thresholds: Any) -> list[str]:
    return precheck_failures(facts, plan, {**THRESHOLDS, **thresholds},
                             PREREQUISITE_ARGUMENTS if arguments is None else arguments)


def _one_failure(facts: dict[str, Any], plan: dict[str, Any], needle: str, arguments: dict[str, Any] | None = None,
                 **thresholds: Any) -> str:
    failures = _failures(facts, plan, arguments, **thresholds)
    matching = [failure for failure in failures if needle in failure]
    assert matching, f"expected a failure containing {needle!r}, got {failures}"
    return matching[0]


# --------------------------------------------------------------------------- pre-checks: happy paths


def test_healthy_dag_member_is_patched_with_every_pending_step():
    facts, plan = healthy_dag()
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.failures == []
    assert result.decision == "patch"
    assert result.build == "15.1.2375.12"
    assert [step["kind"] for step in result.pending_steps] == ["prerequisite", "cu", "su"]
    names = {check.name for check in result.checks}
    assert {"plan", "build", "exchange_cmdlets", "free_disk", "pending_reboot", "setup_watermark", "setup_running",
            "installer_cache", "services", "components", "dag_health", "prerequisites", "media",
            "reboot_allowed"} <= names
    disk = next(check for check in result.checks if check.name == "free_disk")
    assert disk.ok and "C: 84 GB free >= 30 GB" in disk.detail and "D: 310 GB free" in disk.detail
    as_dict = result.as_dict()
    assert as_dict["decision"] == "patch" and as_dict["failures"] == []
    assert all(set(check) == {"name", "ok", "detail"} for check in as_dict["checks"])


def test_standalone_server_needing_only_its_su():
    facts, plan = su_only()
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.failures == []
    assert result.decision == "patch"
    assert [step["name"] for step in result.pending_steps] == ["Aug26SU"]
    assert "dag_health" not in {check.name for check in result.checks}


@pytest.mark.parametrize("installed", ["15.1.2507.72", "15.01.2507.072", "15.1.2507.73"])
def test_server_already_at_its_target_is_up_to_date_and_left_alone(installed):
    facts, plan = healthy_dag()
    facts["exchange"]["exsetup_version"] = installed
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.decision == "up_to_date"
    assert result.pending_steps == ()
    # Nothing is installed, so neither media nor reboots are asked for.
    assert not {"media", "reboot_allowed", "prerequisites"} & {check.name for check in result.checks}


def test_up_to_date_wins_over_failing_checks():
    facts, plan = healthy_dag()
    facts["exchange"]["exsetup_version"] = "15.1.2507.72"
    facts["pending_reboot"]["windows_update"] = True
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.decision == "up_to_date"
    assert any("reboot is pending" in failure for failure in result.failures)


def test_plan_state_up_to_date_at_target_is_accepted():
    facts, plan = healthy_dag()
    facts["exchange"]["exsetup_version"] = "15.1.2507.72"
    plan.update(state="up_to_date", steps=[], wave=None)
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.decision == "up_to_date"
    assert all(check.ok for check in result.checks if check.name == "plan")


def test_resumed_server_after_its_cu_gets_only_the_su():
    facts, plan = healthy_dag()
    facts["exchange"]["exsetup_version"] = "15.1.2507.6"
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.failures == []
    assert [step["kind"] for step in result.pending_steps] == ["su"]


def test_pending_steps_compare_builds_as_numbers():
    plan = dag_plan()
    build = patch_checks._build("15.1.2375.12")
    assert [step["kind"] for step in pending_steps(build, plan)] == ["prerequisite", "cu", "su"]
    # 15.1.986.x would sort after 15.1.2507 as text; as numbers it is far below.
    assert len(pending_steps(patch_checks._build("15.1.986.5"), plan)) == 3
    assert pending_steps(patch_checks._build("15.1.2507.72"), plan) == []
    assert pending_steps(None, plan) == plan["steps"]


# --------------------------------------------------------------------------- pre-checks: every refusal


def test_unreadable_build_refuses():
    facts, plan = healthy_dag()
    facts["exchange"]["exsetup_version"] = None
    facts["errors"] = ["exchange.exsetup_version: D:\\...\\bin\\ExSetup.exe not found"]
    failure = _one_failure(facts, plan, "installed build could not be read")
    assert "ExSetup.exe not found" in failure
    assert evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS).decision == "refused"


def test_build_changed_since_the_plan_refuses():
    facts, plan = healthy_dag()
    facts["exchange"]["exsetup_version"] = "15.1.2375.17"
    assert "re-run the plan" in _one_failure(facts, plan, "is not the build the plan was made for")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"state": "blocked", "reasons": ["Exchange 2013 is out of support: migrate"]}, "out of support"),
        ({"live": False}, "offline evidence bundle"),
        ({"maintenance": "cluster"}, "maintenance path 'cluster'"),
        ({"target": {"cu": "CU23"}}, "no target build"),
    ],
)
def test_plan_that_does_not_patch_refuses(change, needle):
    facts, plan = healthy_dag()
    plan.update(change)
    _one_failure(facts, plan, needle)


def test_plan_without_a_step_reaching_the_target_refuses():
    facts, plan = healthy_dag()
    plan["steps"] = []
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.decision == "refused"
    assert "no step that reaches the target" in result.failures[-1]


def test_missing_exchange_cmdlets_refuse():
    facts, plan = healthy_dag()
    facts["cmdlets_loaded"] = False
    facts["errors"] = ["exchange.cmdlets: snap-in Microsoft.Exchange.Management.PowerShell.SnapIn is not registered"]
    assert "not registered" in _one_failure(facts, plan, "cmdlets could not be loaded")


def test_too_little_free_space_on_the_install_drive_refuses():
    facts, plan = healthy_dag()
    facts["disks"][1]["free_bytes"] = 12 * GB
    assert _one_failure(facts, plan, "D: has 12 GB free") == "D: has 12 GB free, less than the 30 GB setup needs"


def test_free_space_threshold_is_the_role_variable():
    facts, plan = healthy_dag()
    assert _failures(facts, plan, min_free_disk_gb=100) == ["C: has 84 GB free, less than the 100 GB setup needs"]


def test_unreadable_disks_refuse():
    facts, plan = healthy_dag()
    facts["disks"] = None
    facts["errors"] = ["disks: Access is denied"]
    _one_failure(facts, plan, "system drive could not be read")
    _one_failure(facts, plan, "install drive could not be read")


@pytest.mark.parametrize(
    ("key", "location"),
    [
        ("component_based_servicing", "Component Based Servicing\\RebootPending"),
        ("windows_update", "WindowsUpdate\\Auto Update\\RebootRequired"),
        ("pending_file_rename", "PendingFileRenameOperations"),
    ],
)
def test_each_pending_reboot_location_refuses(key, location):
    facts, plan = healthy_dag()
    facts["pending_reboot"][key] = True
    failure = _one_failure(facts, plan, location)
    assert "reboot the server first" in failure


def test_unreadable_pending_reboot_refuses():
    facts, plan = healthy_dag()
    facts["pending_reboot"] = None
    _one_failure(facts, plan, "pending-reboot registry locations could not be read")


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"action": "Install", "watermark": "BridgeheadComponent___3f2a"}, "never delete the watermark"),
        ({"action": None, "watermark": "MailboxComponent___9a1c"}, "earlier setup did not finish"),
        ({"configured_version": None, "unpacked_version": "15.1.2507.6"}, "UnpackedVersion 15.1.2507.6"),
    ],
)
def test_setup_watermark_refuses(values, needle):
    facts, plan = healthy_dag()
    facts["watermarks"][4].update(values)
    assert "MailboxRole" in _one_failure(facts, plan, needle)


def test_running_exsetup_refuses():
    facts, plan = healthy_dag()
    facts["setup_processes"].append({"name": "ExSetup", "id": 4410, "command_line": "ExSetup.exe /Mode:Upgrade"})
    _one_failure(facts, plan, "ExSetup (process 4410) is running")


def test_media_setup_exe_running_refuses():
    facts, plan = healthy_dag()
    facts["setup_processes"].append({"name": "Setup.exe", "id": 5120, "command_line": "E:\\Setup.exe /m:upgrade"})
    _one_failure(facts, plan, "Setup.exe (process 5120) is running")


def test_an_installing_msiexec_refuses_but_the_installer_service_does_not():
    facts, plan = healthy_dag()
    assert _failures(facts, plan) == []
    facts["setup_processes"].append(
        {"name": "msiexec", "id": 2288, "command_line": 'msiexec.exe /update "D:\\x.msp" /qn'})
    _one_failure(facts, plan, "msiexec (process 2288) is installing something")


def test_windows_installer_in_progress_refuses():
    facts, plan = healthy_dag()
    facts["installer_in_progress"] = True
    _one_failure(facts, plan, "Installer\\InProgress")


def test_missing_installer_cache_file_refuses():
    facts, plan = healthy_dag()
    facts["installer_cache"][1]["present"] = False
    failure = _one_failure(facts, plan, "5d21e9.msp is missing")
    assert "FixInstallerCache" in failure


def test_empty_or_unreadable_installer_cache_refuses():
    facts, plan = healthy_dag()
    facts["installer_cache"] = []
    _one_failure(facts, plan, "no installed Exchange package")
    facts["installer_cache"] = None
    _one_failure(facts, plan, "Windows Installer cache could not be checked")


def test_unreadable_dotnet_release_refuses():
    facts, plan = healthy_dag()
    facts["dotnet_release"] = None
    _one_failure(facts, plan, ".NET Framework 4.x Release could not be read")


def test_blocking_prerequisite_refuses():
    facts, plan = healthy_dag()
    plan["prerequisites"][0].update(status="present", blocking=True,
                                    detail=".NET 4.8.1 installed; the target CU supports only 4.8")
    assert "supports only 4.8" in _one_failure(facts, plan, "blocking prerequisite .NET Framework 4.8")


def test_missing_prerequisite_without_an_install_step_refuses():
    facts, plan = healthy_dag()
    plan["prerequisites"].append({"id": "urlrewrite", "name": "IIS URL Rewrite Module 2.1", "status": "missing",
                                  "detail": "required from 2016 CU22", "media": None, "blocking": False})
    _one_failure(facts, plan, "IIS URL Rewrite Module 2.1 is missing and the plan installs nothing")


def test_prerequisite_exe_without_unattended_arguments_refuses():
    facts, plan = healthy_dag()
    _one_failure(facts, plan, "runs vcredist_x64.exe without unattended arguments", arguments={})


def test_prerequisite_arguments_come_from_the_step_else_the_role():
    facts, plan = healthy_dag()
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    step = result.pending_steps[0]
    assert step["installer"] == "package" and step["arguments"] == ["/install", "/quiet", "/norestart"]
    assert step["path"] == "D:\\ExchangeMedia\\Prerequisites\\vcredist2013\\vcredist_x64.exe"
    plan["steps"][0]["arguments"] = ["/install", "/passive", "/norestart"]
    result = evaluate_precheck(facts, plan, THRESHOLDS, {})
    assert result.failures == [] and result.pending_steps[0]["arguments"] == ["/install", "/passive", "/norestart"]
    # The update steps carry the verified path of their media.
    assert result.pending_steps[1]["path"].endswith("ExchangeServer2016-x64-CU23.ISO")
    assert result.pending_steps[2]["path"].endswith("Exchange2016-KB5121576-x64-en.msp")
    assert "installer" not in result.pending_steps[1]


def test_prerequisite_msi_needs_no_arguments_and_msu_is_a_hotfix():
    facts, plan = healthy_dag()
    plan["steps"][:1] = [
        {"kind": "prerequisite", "id": "urlrewrite", "name": "IIS URL Rewrite Module", "install": "package",
         "feature": None, "media": "prereq-urlrewrite", "reboot": False, "minutes": 10},
        {"kind": "prerequisite", "id": "kb3206632", "name": "Windows Server 2016 update KB3206632",
         "install": "package", "feature": None, "media": "prereq-kb3206632", "reboot": True, "minutes": 25},
    ]
    plan["media"] += [
        {"id": "prereq-urlrewrite", "kind": "prerequisite", "file": "rewrite_amd64_en-US.msi",
         "relative_path": "Prerequisites/urlrewrite/rewrite_amd64_en-US.msi", "sha256": None,
         "sha256_source": "none", "signed_by_microsoft": True},
        {"id": "prereq-kb3206632", "kind": "prerequisite",
         "file": "windows10.0-kb3206632-x64_b2e20b7e1aa65288007de21e88cd21c3ffb05110.msu",
         "relative_path": "Prerequisites/kb3206632/"
                          "windows10.0-kb3206632-x64_b2e20b7e1aa65288007de21e88cd21c3ffb05110.msu",
         "sha256": None, "sha256_source": "none", "signed_by_microsoft": True},
    ]
    for media_id in ("prereq-urlrewrite", "prereq-kb3206632"):
        facts["media"]["verified"][media_id] = {"path": f"D:\\ExchangeMedia\\{media_id}", "sha256": "",
                                                "signature_status": "Valid", "signer": "CN=Microsoft Corporation"}
    result = evaluate_precheck(facts, plan, THRESHOLDS, {})
    assert result.failures == []
    urlrewrite, kb = result.pending_steps[:2]
    assert (urlrewrite["installer"], urlrewrite["arguments"]) == ("package", [])
    assert kb["installer"] == "hotfix" and "arguments" not in kb


def test_feature_step_of_the_planner_installs_a_windows_feature():
    facts, plan = healthy_dag()
    plan["steps"].insert(0, {"kind": "prerequisite", "id": "rsat_clustering",
                             "name": "Failover Clustering tools (RSAT-Clustering)", "install": "feature",
                             "feature": "RSAT-Clustering", "media": None, "reboot": False, "minutes": 10})
    result = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result.failures == [] and result.pending_steps[0]["installer"] == "feature"


def test_unknown_software_the_plan_does_not_install_is_not_a_refusal():
    # vcredist2012 is unknown (not collected) and has no step in this plan: not needed now.
    facts, plan = healthy_dag()
    assert plan["prerequisites"][1]["status"] == "unknown"
    assert _failures(facts, plan) == []


def test_unjudged_dotnet_refuses():
    facts, plan = healthy_dag()
    plan["prerequisites"][0].update(status="unknown", detail="Release not collected; the pre-check reads it before "
                                    "setup")
    _one_failure(facts, plan, "the plan could not judge the .NET release")


def test_prerequisite_feature_step_needs_no_media():
    facts, plan = healthy_dag()
    plan["prerequisites"].append({"id": "rsat-clustering", "name": "RSAT-Clustering", "status": "missing",
                                  "detail": "", "media": None, "blocking": False})
    plan["steps"].insert(0, {"kind": "prerequisite", "id": "rsat-clustering", "name": "RSAT-Clustering",
                             "feature": "RSAT-Clustering"})
    assert _failures(facts, plan) == []


def test_required_services_not_running_refuses():
    facts, plan = healthy_dag()
    facts["service_health"][0].update(required_services_running=False, services_not_running=["MSExchangeRepl"])
    _one_failure(facts, plan, "Mailbox Server Role: required services not running: MSExchangeRepl")


def test_disabled_iis_service_refuses():
    facts, plan = healthy_dag()
    next(s for s in facts["services"] if s["name"] == "W3SVC").update(start_mode="disabled", status="Stopped")
    _one_failure(facts, plan, "service W3SVC is Disabled")


def test_unlisted_services_refuse():
    facts, plan = healthy_dag()
    facts["services"] = []
    _one_failure(facts, plan, "services could not be listed")
    facts["service_health"] = None
    _one_failure(facts, plan, "Test-ServiceHealth returned nothing")


def test_server_left_in_maintenance_refuses():
    facts, plan = healthy_dag()
    facts["components"] = _components({"ServerWideOffline": ["Maintenance"]})
    failure = _one_failure(facts, plan, "component ServerWideOffline is Inactive")
    assert "held by requester Maintenance" in failure


def test_cloud_only_components_are_inactive_by_design():
    facts, plan = healthy_dag()
    assert all(c["state"] == "Inactive" for c in facts["components"] if c["component"] in CLOUD_ONLY)
    assert _failures(facts, plan) == []


def test_unreadable_components_refuse():
    facts, plan = healthy_dag()
    facts["components"] = None
    _one_failure(facts, plan, "Get-ServerComponentState returned nothing")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"status": "FailedAndSuspended"}, "peer copy DB01\\EX16-DAG2 is FailedAndSuspended"),
        ({"copy_queue_length": 42}, "copy queue 42 > 10"),
        ({"replay_queue_length": 250}, "replay queue 250 > 100"),
        ({"content_index_state": "Failed"}, "content index Failed"),
        ({"copy_queue_length": None}, "copy queue length unknown"),
    ],
)
def test_unhealthy_peer_copy_refuses(change, needle):
    facts, plan = healthy_dag()
    facts["dag"]["copies"][1].update(change)
    _one_failure(facts, plan, needle)


def test_queue_thresholds_are_the_role_variables():
    facts, plan = healthy_dag()
    facts["dag"]["copies"][1]["replay_queue_length"] = 150
    assert _failures(facts, plan, max_replay_queue=200) == []


def test_exchange_2019_content_index_not_applicable_is_healthy():
    facts, plan = healthy_dag()
    for copy_status in facts["dag"]["copies"]:
        copy_status["content_index_state"] = "NotApplicable"
    assert _failures(facts, plan) == []


def test_peer_already_in_maintenance_refuses():
    facts, plan = healthy_dag()
    facts["dag"]["server_wide_offline"]["EX16-DAG2"] = "Inactive"
    _one_failure(facts, plan, "never take two members of one DAG down at once")


def test_paused_peer_cluster_node_refuses():
    facts, plan = healthy_dag()
    facts["dag"]["cluster_nodes"][1]["state"] = "Paused"
    _one_failure(facts, plan, "DAG member EX16-DAG2: cluster node is Paused")


def test_own_paused_cluster_node_refuses():
    facts, plan = healthy_dag()
    facts["dag"]["cluster_nodes"][0]["state"] = "Paused"
    _one_failure(facts, plan, "this server's cluster node is Paused")


def test_dag_without_other_members_refuses():
    facts, plan = healthy_dag()
    facts["dag"]["members"] = ["EX16-DAG1"]
    _one_failure(facts, plan, "lists no other member")


def test_unreadable_dag_refuses():
    facts, plan = healthy_dag()
    facts["dag"] = None
    _one_failure(facts, plan, "the DAG could not be read")


def test_unreadable_peer_copy_status_refuses():
    facts, plan = healthy_dag()
    facts["errors"] = ["dag.copies.EX16-DAG2: The RPC server is unavailable"]
    _one_failure(facts, plan, "DAG health unknown: dag.copies.EX16-DAG2: The RPC server is unavailable")


def test_dag_member_without_redirect_target_refuses():
    facts, plan = healthy_dag()
    plan["redirect_target"] = None
    _one_failure(facts, plan, "no redirect target")


def test_database_without_a_healthy_copy_elsewhere_refuses():
    facts, plan = healthy_dag()
    facts["dag"]["copies"].append(_copy("DB03", "EX16-DAG1", "Mounted"))
    _one_failure(facts, plan, "database db03 has no healthy copy on another DAG member")


def test_media_failures_from_exchange_media_refuse():
    facts, plan = healthy_dag()
    facts["media"]["failures"] = ["2016-CU23-iso: SHA-256 mismatch (expected ..., found ...)"]
    _one_failure(facts, plan, "media: 2016-CU23-iso: SHA-256 mismatch")


def test_unstaged_media_refuses():
    facts, plan = healthy_dag()
    del facts["media"]["verified"]["2016-CU23-Aug26SU-msp"]
    _one_failure(facts, plan, "media 2016-CU23-Aug26SU-msp is not staged and verified")


def test_media_checksum_differing_from_the_plan_refuses():
    facts, plan = healthy_dag()
    facts["media"]["verified"]["2016-CU23-iso"]["sha256"] = hashlib.sha256(b"another file").hexdigest()
    _one_failure(facts, plan, "media 2016-CU23-iso: SHA-256")


@pytest.mark.parametrize("status", ["NotSigned", "HashMismatch", "NotTrusted", None])
def test_media_signature_not_valid_refuses(status):
    facts, plan = healthy_dag()
    facts["media"]["verified"]["2016-CU23-iso"]["signature_status"] = status
    _one_failure(facts, plan, "media 2016-CU23-iso: Authenticode signature is")


def test_media_not_verified_at_all_refuses():
    facts, plan = healthy_dag()
    del facts["media"]
    _one_failure(facts, plan, "exchange_media verify did not run")


def test_reboots_not_allowed_refuses():
    facts, plan = healthy_dag()
    _one_failure(facts, plan, "exchange_patch_allow_reboot is false", allow_reboot=False)


def test_edge_server_needs_no_dag_and_no_mailbox_services():
    facts, plan = su_only()
    facts["exchange"].update(roles=["EdgeTransport"], edge=True)
    facts["services"] = [{"name": "MSExchangeTransport", "status": "Running", "start_mode": "auto"},
                         {"name": "MSExchangeEdgeCredential", "status": "Running", "start_mode": "auto"},
                         {"name": "ADAM_MSExchange", "status": "Running", "start_mode": "auto"}]
    facts["service_health"] = [{"role": "Edge Transport Server Role", "required_services_running": True,
                                "services_not_running": []}]
    plan.update(maintenance="edge", edge=True, roles=["EdgeTransport"])
    assert _failures(facts, plan) == []


# --------------------------------------------------------------------------- after a step


def test_step_verification_reads_the_build_not_the_exit_code():
    cu = dag_plan()["steps"][1]
    facts = {"exchange": {"exsetup_version": "15.01.2507.006"}, "watermarks": WATERMARKS_CLEAN, "errors": []}
    assert step_failures(facts, cu) == []
    facts["exchange"]["exsetup_version"] = "15.1.2375.12"
    assert step_failures(facts, cu) == [
        "after CU23: installed build 15.1.2375.12 is below 15.1.2507.6; the update did not take"]


def test_step_verification_catches_a_watermark_left_by_setup():
    cu = dag_plan()["steps"][1]
    watermarks = copy.deepcopy(WATERMARKS_CLEAN)
    watermarks[4].update(action="Install", watermark="MailboxComponent___9a1c")
    facts = {"exchange": {"exsetup_version": "15.1.2507.6"}, "watermarks": watermarks}
    [problem] = step_failures(facts, cu)
    assert problem.startswith("after CU23: setup watermark under ExchangeServer\\v15\\MailboxRole")


def test_step_verification_with_unreadable_build():
    facts = {"exchange": {}, "watermarks": [], "errors": ["exchange.exsetup_version: Access is denied"]}
    assert step_failures(facts, dag_plan()["steps"][2]) == [
        "after Aug26SU: the installed build could not be read (exchange.exsetup_version: Access is denied)"]


# --------------------------------------------------------------------------- post-checks


def post_facts() -> dict[str, Any]:
    """EX16-DAG1 after CU23 Aug26SU and the reboots, still in maintenance."""
    services = copy.deepcopy(SERVICES)
    for service in services:
        if service["name"] == "MSExchangeImap4":
            service["status"] = "Stopped"  # stopped by design while ImapProxy is Inactive
    return {
        "exchange": {"exsetup_version": "15.01.2507.072", "admin_display_version": "Version 15.1 (Build 2507.6)"},
        "watermarks": [dict(w, unpacked_version="15.1.2507.6", configured_version="15.1.2507.6")
                       for w in WATERMARKS_CLEAN],
        "services": services,
        "service_health": [{"role": "Mailbox Server Role", "required_services_running": True,
                            "services_not_running": []}],
        "components": _maintenance_components(),
        "copies": [_copy("DB01", "EX16-DAG1", "Healthy"), _copy("DB02", "EX16-DAG1", "Healthy")],
        "cluster_node": {"name": "EX16-DAG1", "state": "Paused"},
        "web": [{"name": "owa", "url": "https://localhost/owa/healthcheck.htm", "status_code": 503, "error": None},
                {"name": "ecp", "url": "https://localhost/ecp/healthcheck.htm", "status_code": 503, "error": None}],
        "errors": [],
    }


def test_postcheck_happy_path_in_maintenance():
    checks = evaluate_postcheck(post_facts(), dag_plan(), SERVICES, THRESHOLDS)
    assert [c for c in checks if not c.ok] == []
    assert {c.name for c in checks} == {"build", "setup_watermark", "services", "web", "database_copies"}
    assert postcheck_failures(post_facts(), dag_plan(), SERVICES, THRESHOLDS) == []


def test_postcheck_build_below_target_fails():
    facts = post_facts()
    facts["exchange"]["exsetup_version"] = "15.1.2507.6"
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS) == [
        "installed build 15.1.2507.6 is below the target 15.1.2507.72"]


def test_postcheck_admin_display_version_below_target_cu_fails():
    facts = post_facts()
    facts["exchange"]["admin_display_version"] = "Version 15.1 (Build 2375.7)"
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS) == [
        "AdminDisplayVersion 15.1.2375.7 is below the target CU build 15.1.2507.6"]


def test_postcheck_unreadable_build_fails():
    facts = post_facts()
    facts["exchange"] = {}
    failures = postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS)
    assert any("could not be read after patching" in f for f in failures)
    assert any("AdminDisplayVersion None could not be read" in f for f in failures)


def test_postcheck_service_left_disabled_by_an_interrupted_update_fails():
    facts = post_facts()
    next(s for s in facts["services"] if s["name"] == "MSExchangeTransport").update(
        start_mode="disabled", status="Stopped")
    failures = postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS)
    assert "service MSExchangeTransport was auto before patching and is disabled now" in failures
    assert "service MSExchangeTransport was running before patching and is Stopped now" in failures


def test_postcheck_manual_service_now_disabled_fails():
    facts = post_facts()
    next(s for s in facts["services"] if s["name"] == "MSExchangePop3")["start_mode"] = "disabled"
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS) == [
        "service MSExchangePop3 was manual before patching and is disabled now"]


def test_postcheck_imap_stopped_only_excused_in_maintenance():
    facts = post_facts()
    facts["web"] = [dict(probe, status_code=200) for probe in facts["web"]]
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS, in_maintenance=True) == []
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS, in_maintenance=False) == [
        "service MSExchangeImap4 was running before patching and is Stopped now"]


def test_postcheck_service_gone_fails():
    facts = post_facts()
    facts["services"] = [s for s in facts["services"] if s["name"] != "FMS"]
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS) == ["service FMS is gone after patching"]


def test_postcheck_accepts_a_name_to_mode_mapping_as_the_record():
    recorded = {"MSExchangeIS": "Automatic", "W3SVC": {"start_mode": "auto", "status": "Running"}}
    assert postcheck_failures(post_facts(), dag_plan(), recorded, THRESHOLDS) == []
    facts = post_facts()
    next(s for s in facts["services"] if s["name"] == "MSExchangeIS")["start_mode"] = "manual"
    assert postcheck_failures(facts, dag_plan(), recorded, THRESHOLDS) == [
        "service MSExchangeIS was auto before patching and is manual now"]


def test_postcheck_without_a_record_fails():
    assert "no service start modes were recorded" in postcheck_failures(post_facts(), dag_plan(), [], THRESHOLDS)[0]


def test_postcheck_required_services_not_running_fails():
    facts = post_facts()
    facts["service_health"][0].update(required_services_running=False, services_not_running=["MSExchangeRPC"])
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS) == [
        "Mailbox Server Role: RequiredServicesRunning is false (MSExchangeRPC)"]


def test_postcheck_owa_500_after_a_non_elevated_su_fails():
    facts = post_facts()
    facts["web"][0]["status_code"] = 500
    [failure] = postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS)
    assert failure.startswith("owa healthcheck.htm returned HTTP 500")
    assert "without elevation" in failure


def test_postcheck_503_is_only_accepted_in_maintenance():
    assert postcheck_failures(post_facts(), dag_plan(), SERVICES, THRESHOLDS, in_maintenance=True) == []
    failures = postcheck_failures(post_facts(), dag_plan(), SERVICES, THRESHOLDS, in_maintenance=False)
    assert "owa healthcheck.htm returned HTTP 503" in failures


def test_postcheck_web_not_answering_fails():
    facts = post_facts()
    facts["web"][1].update(status_code=None, error="Unable to connect to the remote server")
    assert postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS) == [
        "ecp healthcheck.htm returned Unable to connect to the remote server"]


def test_postcheck_unhealthy_own_copy_fails():
    facts = post_facts()
    facts["copies"][1].update(status="Initializing", replay_queue_length=400)
    failures = postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS)
    assert "own copy DB02\\EX16-DAG1 is Initializing, not Mounted or Healthy" in failures
    assert "own copy DB02\\EX16-DAG1: replay queue 400 > 100" in failures


def test_postcheck_watermark_left_fails():
    facts = post_facts()
    facts["watermarks"][0].update(action="Install", watermark="CafeComponent___1")
    assert "earlier setup did not finish" in postcheck_failures(facts, dag_plan(), SERVICES, THRESHOLDS)[0]


def test_postcheck_on_edge_asks_for_no_web_and_no_copies():
    facts = post_facts()
    del facts["web"], facts["copies"]
    plan = dag_plan()
    plan.update(maintenance="edge", edge=True)
    checks = evaluate_postcheck(facts, plan, SERVICES, THRESHOLDS)
    assert {c.name for c in checks} == {"build", "setup_watermark", "services"}


def test_automatic_services_are_what_the_repair_restores():
    repaired = automatic_services(SERVICES)
    names = [item["name"] for item in repaired]
    assert "MSExchangeIS" in names and "W3SVC" in names and "IISADMIN" in names
    assert "WAS" not in names and "MSExchangePop3" not in names
    assert {"name": "MSExchangeNotificationsBroker", "start_mode": "delayed", "start": False} in repaired
    assert {"name": "MSExchangeIS", "start_mode": "auto", "start": True} in repaired
    assert names == sorted(names, key=str.casefold)


@pytest.mark.parametrize(
    ("raw", "mode"),
    [("Automatic", "auto"), ("Auto", "auto"), ("AutomaticDelayedStart", "delayed"), ("Manual", "manual"),
     ("Disabled", "disabled"), ("delayed", "delayed")],
)
def test_start_modes_normalise_to_win_service_values(raw, mode):
    assert start_mode(raw) == mode


# --------------------------------------------------------------------------- maintenance


def maintenance_state() -> dict[str, Any]:
    """EX16-DAG1 right after Enter-ExchangeMaintenance.ps1 (DAG path)."""
    return {
        "components": _maintenance_components(),
        "activation_policy": "Blocked",
        "cluster_node": {"name": "EX16-DAG1", "state": "Paused"},
        "queues": [
            {"identity": "EX16-DAG1\\Submission", "delivery_type": "Undefined", "message_count": 0},
            {"identity": "EX16-DAG1\\Poison", "delivery_type": "Undefined", "message_count": 2},
            {"identity": "EX16-DAG1\\Shadow\\7", "delivery_type": "ShadowRedundancy", "message_count": 14},
            {"identity": "EX16-DAG1\\12", "delivery_type": "SmtpRelayToMailboxDeliveryGroup", "message_count": 0},
        ],
        "copies": [_copy("DB01", "EX16-DAG1", "Healthy"), _copy("DB02", "EX16-DAG1", "Healthy")],
        "errors": [],
    }


def test_dag_member_fully_in_maintenance():
    assert maintenance_problems(maintenance_state(), "dag") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"activation_policy": "Unrestricted"}, "DatabaseCopyAutoActivationPolicy is Unrestricted, not Blocked"),
        ({"cluster_node": {"name": "EX16-DAG1", "state": "Up"}}, "cluster node is Up, not Paused"),
        ({"cluster_node": None}, "cluster node is unknown, not Paused"),
    ],
)
def test_dag_maintenance_not_effective(change, problem):
    state = maintenance_state()
    state.update(change)
    assert maintenance_problems(state, "dag") == [problem]


def test_component_still_active_is_a_problem():
    state = maintenance_state()
    next(c for c in state["components"] if c["component"] == "OwaProxy")["state"] = "Active"
    assert maintenance_problems(state, "dag") == ["component OwaProxy is still Active"]


def test_server_wide_offline_still_active_is_a_problem():
    state = maintenance_state()
    state["components"] = _components()
    problems = maintenance_problems(state, "dag")
    assert problems[0] == "component ServerWideOffline is Active, not Inactive"
    assert "component HubTransport is still Active" in problems


def test_active_database_left_on_the_server_is_a_problem():
    state = maintenance_state()
    state["copies"][0]["status"] = "Mounted"
    assert maintenance_problems(state, "dag") == ["database DB01 is still active (Mounted) on this server"]


def test_queue_still_holding_messages_is_a_problem_but_poison_and_shadow_are_not():
    state = maintenance_state()
    assert maintenance_problems(state, "dag") == []
    state["queues"][0]["message_count"] = 37
    assert maintenance_problems(state, "dag") == ["queue EX16-DAG1\\Submission still holds 37 messages"]


def test_unreadable_queues_and_components_are_problems():
    state = maintenance_state()
    state.update(queues=None, components=[], errors=["queues: The Microsoft Exchange Transport service is stopped"])
    problems = maintenance_problems(state, "dag")
    assert "Get-ServerComponentState returned nothing" in problems
    assert "the transport queues could not be read (queues: The Microsoft Exchange Transport service is stopped)" in (
        problems)


def test_standalone_without_redirect_target_keeps_its_queues():
    state = maintenance_state()
    state["queues"][0]["message_count"] = 37
    assert maintenance_problems(state, "standalone", expect_empty_queues=False) == []
    assert maintenance_problems(state, "standalone") == ["queue EX16-DAG1\\Submission still holds 37 messages"]


def test_standalone_ignores_cluster_and_activation():
    state = maintenance_state()
    state.update(activation_policy=None, cluster_node=None, copies=None)
    assert maintenance_problems(state, "standalone") == []


def test_edge_maintenance_is_drained_transport():
    state = {"components": _components({"HubTransport": ["Maintenance"]}), "queues": [
        {"identity": "EDGE01\\Submission", "delivery_type": "Undefined", "message_count": 0}]}
    assert maintenance_problems(state, "edge") == []
    state["components"] = _components()
    assert maintenance_problems(state, "edge") == ["component HubTransport is Active, not Draining"]


def test_unknown_maintenance_mode():
    assert maintenance_problems(maintenance_state(), "cluster") == ["unknown maintenance mode 'cluster'"]
    assert maintenance_exit_problems(maintenance_state(), "cluster") == ["unknown maintenance mode 'cluster'"]


def exit_state() -> dict[str, Any]:
    return {
        "components": _components(),
        "activation_policy": "Unrestricted",
        "cluster_node": {"name": "EX16-DAG1", "state": "Up"},
        "queues": [],
        "copies": [_copy("DB01", "EX16-DAG1", "Healthy"), _copy("DB02", "EX16-DAG1", "Mounted")],
        "errors": [],
    }


def test_dag_member_back_in_service():
    assert maintenance_exit_problems(exit_state(), "dag", "Unrestricted") == []
    assert maintenance_exit_problems(exit_state(), "dag") == []


def test_component_held_inactive_by_an_interrupted_setup_names_the_requester():
    state = exit_state()
    state["components"] = _components({"ServerWideOffline": ["Functional"], "Monitoring": ["Functional"]})
    assert maintenance_exit_problems(state, "dag") == [
        "component ServerWideOffline is Inactive (held by requester Functional)",
        "component Monitoring is Inactive (held by requester Functional)",
    ]


def test_exit_restores_the_recorded_activation_policy():
    state = exit_state()
    assert maintenance_exit_problems(state, "dag", "IntrasiteOnly") == [
        "DatabaseCopyAutoActivationPolicy is Unrestricted, expected IntrasiteOnly"]
    state["activation_policy"] = "IntrasiteOnly"
    assert maintenance_exit_problems(state, "dag", "IntrasiteOnly") == []


def test_exit_with_paused_node_and_unhealthy_copy():
    state = exit_state()
    state["cluster_node"]["state"] = "Paused"
    state["copies"][0]["status"] = "Resynchronizing"
    assert maintenance_exit_problems(state, "dag") == [
        "cluster node is Paused, not Up",
        "database copy DB01 is Resynchronizing, not Mounted or Healthy",
    ]


def test_exit_of_standalone_and_edge_checks_components_only():
    state = {"components": _components(), "errors": []}
    assert maintenance_exit_problems(state, "standalone") == []
    assert maintenance_exit_problems(state, "edge") == []
    state["components"] = _components({"HubTransport": ["Maintenance"]})
    assert maintenance_exit_problems(state, "edge") == [
        "component HubTransport is Inactive (held by requester Maintenance)"]


# --------------------------------------------------------------------------- the filter plugin


def _filters() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("exchange_patch_filters", REPO / "filter_plugins" /
                                                  "exchange_patch.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


def test_filter_plugin_exposes_the_decisions():
    filters = _filters()
    assert {"exchange_precheck_failures", "exchange_postcheck_failures", "exchange_patch_precheck",
            "exchange_patch_postcheck", "exchange_patch_step_failures", "exchange_patch_automatic_services",
            "exchange_maintenance_problems", "exchange_maintenance_exit_problems"} <= set(filters)
    facts, plan = healthy_dag()
    assert filters["exchange_precheck_failures"](facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS) == []
    result = filters["exchange_patch_precheck"](facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS)
    assert result["decision"] == "patch" and [s["kind"] for s in result["pending_steps"]] == ["prerequisite", "cu",
                                                                                               "su"]
    checks = filters["exchange_patch_postcheck"](post_facts(), plan, SERVICES, THRESHOLDS, True)
    assert all(check["ok"] for check in checks)
    assert filters["exchange_maintenance_problems"](maintenance_state(), "dag") == []
    assert filters["exchange_maintenance_exit_problems"](exit_state(), "dag", "Unrestricted") == []
    assert filters["exchange_patch_step_failures"](post_facts(), plan["steps"][2]) == []
    assert filters["exchange_patch_automatic_services"]([{"name": "W3SVC", "start_mode": "Automatic",
                                                          "status": "Running"}]) == [
        {"name": "W3SVC", "start_mode": "auto", "start": True}]


# --------------------------------------------------------------------------- the outcome

REPORT_FIELDS = {"host", "state", "reason", "failed_step", "setup_log", "build_before", "build_after",
                 "maintenance_exited", "wave", "started_at", "finished_at", "checks"}


def _progress(**changes: Any) -> dict[str, Any]:
    progress = {"check_mode": False, "interim": False, "failed_step": None, "failure": None, "finished": True,
                "maintenance_entered": True, "maintenance_exited": True, "maintenance_problems": [],
                "setup_log": "C:\\ExchangeSetupLogs\\KB5121576.msp.log", "build_after": "15.1.2507.72",
                "postchecks": [{"name": "build", "ok": True, "detail": "installed 15.1.2507.72 >= target"}],
                "started_at": "2026-11-29T10:00:00Z", "finished_at": "2026-11-29T14:10:00Z"}
    progress.update(changes)
    return progress


def _outcome(precheck: dict[str, Any] | None = None, plan: dict[str, Any] | None = None, **progress: Any):
    facts, default_plan = healthy_dag()
    plan = plan or default_plan
    if precheck is None:
        precheck = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS).as_dict()
    outcome = patch_checks.patch_outcome("ex16-dag1", plan, precheck, _progress(**progress))
    assert set(outcome) >= REPORT_FIELDS
    assert outcome["state"] in patch_checks.OUTCOME_STATES
    assert outcome["maintenance_exited"] in (True, False, None)
    return outcome


def test_outcome_patched():
    outcome = _outcome()
    assert outcome["state"] == "patched"
    assert outcome["failed_step"] is None
    assert outcome["build_before"] == "15.1.2375.12" and outcome["build_after"] == "15.1.2507.72"
    assert outcome["maintenance_exited"] is True and outcome["wave"] == 1
    assert outcome["planned"] == ["prerequisite Visual C++ 2013 Redistributable (x64)", "cu CU23 (KB5011155)",
                                  "su Aug26SU (KB5121576)"]
    assert outcome["reason"].startswith("installed prerequisite Visual C++")
    names = [check["name"] for check in outcome["checks"]]
    assert "free_disk" in names and "build" in names and names[-1] == "maintenance_exit"


def test_outcome_refused_is_untouched():
    facts, plan = healthy_dag()
    facts["dag"]["server_wide_offline"]["EX16-DAG2"] = "Inactive"
    precheck = evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS).as_dict()
    outcome = _outcome(precheck, plan, maintenance_entered=False, maintenance_exited=None, finished=False)
    assert outcome["state"] == "refused" and outcome["failed_step"] == "precheck"
    assert outcome["reason"].startswith("pre-checks failed, the server was not touched: DAG member EX16-DAG2")
    assert outcome["maintenance_exited"] is None and outcome["build_after"] is None


def test_outcome_refused_for_media_only():
    facts, plan = healthy_dag()
    facts["media"]["verified"]["2016-CU23-iso"]["signature_status"] = "HashMismatch"
    outcome = _outcome(evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS).as_dict(), plan)
    assert outcome["state"] == "refused" and outcome["failed_step"] == "media"


def test_outcome_up_to_date():
    facts, plan = healthy_dag()
    facts["exchange"]["exsetup_version"] = "15.1.2507.72"
    outcome = _outcome(evaluate_precheck(facts, plan, THRESHOLDS, PREREQUISITE_ARGUMENTS).as_dict(), plan)
    assert outcome["state"] == "up_to_date"
    assert outcome["build_after"] == outcome["build_before"] == "15.1.2507.72"
    assert outcome["planned"] == [] and outcome["maintenance_exited"] is None


def test_outcome_in_check_mode_says_what_would_run():
    outcome = _outcome(check_mode=True, maintenance_entered=False, finished=False)
    assert outcome["state"] == "skipped" and outcome["check_mode"] is True
    assert "would enter dag maintenance and run prerequisite" in outcome["reason"]
    assert outcome["maintenance_exited"] is None


def test_outcome_failed_setup_left_in_and_out_of_maintenance():
    outcome = _outcome(failed_step="cu", finished=False, build_after=None,
                       failure="Setup.exe returned 1; last error: [ERROR] The following error was generated")
    assert outcome["state"] == "failed" and outcome["failed_step"] == "cu"
    assert outcome["reason"].startswith("Setup.exe returned 1")
    assert outcome["maintenance_exited"] is True
    stuck = _outcome(failed_step="su", finished=False, failure="msiexec returned 1603", maintenance_exited=False,
                     maintenance_problems=["cluster node is Paused, not Up"])
    assert stuck["maintenance_exited"] is False
    assert "still in maintenance: cluster node is Paused, not Up" in stuck["reason"]
    assert {"name": "maintenance_exit", "ok": False, "detail": "cluster node is Paused, not Up"} in stuck["checks"]


def test_outcome_patched_but_not_out_of_maintenance_is_failed():
    outcome = _outcome(maintenance_exited=False, maintenance_problems=["component Monitoring is Inactive"])
    assert outcome["state"] == "failed" and outcome["failed_step"] == "maintenance_exit"
    assert "leaving maintenance failed: component Monitoring is Inactive" in outcome["reason"]


def test_interim_outcome_of_an_interrupted_run():
    outcome = _outcome(interim=True, failed_step="cu", finished=False, maintenance_exited=None)
    assert outcome["state"] == "failed" and outcome["failed_step"] == "cu"
    assert "the run ended during step cu" in outcome["reason"]
    assert outcome["maintenance_exited"] is False


def test_outcome_of_a_plan_that_does_not_patch_or_is_offline():
    plan = dag_plan()
    plan.update(state="blocked", reasons=["setup watermark present in the collected setup registry"])
    refused = patch_checks.patch_outcome("ex16-dag1", plan, None, _progress(maintenance_entered=False))
    assert refused["state"] == "refused" and "setup watermark present" in refused["reason"]
    plan.update(live=False)
    skipped = patch_checks.patch_outcome("ex16-dag1", plan, None, _progress(maintenance_entered=False))
    assert skipped["state"] == "skipped" and "offline evidence bundle" in skipped["reason"]


def test_outcome_is_accepted_by_the_remediation_report():
    from exchange_remediation.remediation_summary import outcome_problem

    for outcome in (_outcome(), _outcome(failed_step="cu", finished=False, failure="x"),
                    _outcome(check_mode=True)):
        assert outcome_problem("ex16-dag1", outcome) is None
