"""Decisions behind the per-server patch sequence (patch-procedure.md §1, §2, §4, §7).

The PowerShell collectors of roles exchange_patch and exchange_maintenance only read; every
judgement — may this server be touched, is it in maintenance, did the update take — is made
here, on the controller, and unit-tested on Linux.

Fact shapes (what the collectors return; any key may be missing or null when it could not be
read, and the reason is then in ``errors`` as "section: reason"):

Pre-check facts (Get-ExchangePatchPrecheckFacts.ps1)::

    {"hostname": "EX19-DAG1", "cmdlets_loaded": true,
     "exchange": {"exsetup_version": "15.2.1544.14", "admin_display_version": "Version 15.2 (Build 1544.4)",
                  "roles": ["Mailbox"], "edge": false, "install_path": "C:\\\\...\\\\V15\\\\"},
     "disks": [{"drive": "C:", "free_bytes": 90194313216, "size_bytes": 214748364800,
                "system": true, "install": true}],
     "pending_reboot": {"component_based_servicing": false, "windows_update": false,
                        "pending_file_rename": false},
     "watermarks": [{"role": "MailboxRole", "watermark": null, "action": null,
                     "unpacked_version": "15.2.1544.4", "configured_version": "15.2.1544.4"}],
     "setup_processes": [{"name": "msiexec", "id": 812, "command_line": "C:\\\\Windows\\\\system32\\\\msiexec.exe /V"}],
     "installer_in_progress": false,
     "services": [{"name": "MSExchangeIS", "status": "Running", "start_mode": "auto"}],
     "service_health": [{"role": "Mailbox Server Role", "required_services_running": true,
                         "services_not_running": []}],
     "dotnet_release": 528449,
     "installer_cache": [{"name": "Microsoft Exchange Server", "kind": "msi",
                          "local_package": "C:\\\\Windows\\\\Installer\\\\2d1f5.msi", "present": true}],
     "components": [{"component": "ServerWideOffline", "state": "Active", "inactive_requesters": []}],
     "dag": {"name": "DAG01", "members": ["EX19-DAG1", "EX19-DAG2"],
             "cluster_nodes": [{"name": "EX19-DAG2", "state": "Up"}],
             "server_wide_offline": {"EX19-DAG2": "Active"},
             "copies": [{"database": "DB01", "server": "EX19-DAG2", "status": "Mounted",
                         "copy_queue_length": 0, "replay_queue_length": 0,
                         "content_index_state": "Healthy"}]},
     "media": {"verified": {"<media id>": {"path": "...", "sha256": "...", "signature_status": "Valid",
                                           "signer": "..."}},
               "failures": []},
     "errors": []}

``media`` is not collected by the script: the role adds what exchange_media's ``verify`` entry
point found. ``dag`` is null on a server that is not in a DAG.

Post-check facts (Get-ExchangePatchPostcheckFacts.ps1) carry ``exchange``, ``watermarks``,
``services``, ``service_health``, ``components``, ``copies`` (this server's database copies, same
shape as above), ``cluster_node`` ({"name", "state"}) and ``web`` ([{"name": "owa", "url": ...,
"status_code": 200, "error": null}]); with ``-BuildOnly`` only ``exchange`` and ``watermarks``.

Maintenance state (Get-ExchangeMaintenanceState.ps1): ``components``, ``activation_policy``
("Unrestricted" | "IntrasiteOnly" | "Blocked"), ``cluster_node`` ({"name", "state"}),
``queues`` ([{"identity": "EX19-DAG1\\\\Submission", "delivery_type": "Undefined",
"message_count": 0}]), ``copies`` (this server's copies, with ``status`` "Mounted" for an active
copy) and ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .build_number import Build, parse_admin_display_version, parse_file_version

MAINTENANCE_MODES = ("dag", "standalone", "edge")

# Components that are Inactive on every on-premises server: they serve Exchange Online
# ("born in the cloud"); an Inactive state there is not a fault and not maintenance.
DEFAULT_INACTIVE_COMPONENTS = frozenset({"forwardsyncdaemon", "provisioningrps"})
# The only components left Active while a server is in maintenance (patch-procedure §2.1).
MAINTENANCE_ACTIVE_COMPONENTS = frozenset({"monitoring", "recoveryactionsenabled"})

# Database copy states that carry the load: the active copy (Mounted) or a passive copy that
# replicates (Healthy). Everything else (Initializing, Resynchronizing, Suspended, Failed,
# ServiceDown, DisconnectedAndHealthy, ...) is not yet, or no longer, a copy to rely on.
HEALTHY_COPY_STATES = frozenset({"mounted", "healthy"})
# Exchange 2019 search (Big Funnel) keeps no separate per-copy content index and reports
# NotApplicable; every other state than Healthy means the index needs attention.
HEALTHY_INDEX_STATES = frozenset({"healthy", "notapplicable"})

# Exchange setup processes: ExSetup.exe / ExSetupUI.exe (installed setup) and Setup.exe (media).
_SETUP_PROCESS = re.compile(r"^(exsetup\w*|setup)(\.exe)?$", re.IGNORECASE)
# The Windows Installer service itself runs as "msiexec.exe /V"; any other msiexec is an install.
_MSIEXEC = re.compile(r"^msiexec(\.exe)?$", re.IGNORECASE)
_MSI_SERVICE = re.compile(r"\s/V\s*$", re.IGNORECASE)
# ImapProxy/PopProxy are Inactive in maintenance, and by design the IMAP4/POP3 front-end
# services stop with them (Set-ServerComponentState help): not a post-check failure.
_STOPPED_BY_MAINTENANCE = frozenset({"msexchangeimap4", "msexchangepop3"})

_GB = 1024**3


@dataclass(frozen=True)
class Check:
    """One verified condition, as it appears in outcomes/<host>.json ``checks``."""

    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class PrecheckResult:
    """What the pre-checks decided for one server.

    ``decision``: ``patch`` (pending steps, every check passed), ``up_to_date`` (the installed
    build already reaches the target: nothing is installed, the server is only verified) or
    ``refused`` (at least one check failed: the server is not touched).
    """

    decision: str
    build: str | None
    pending_steps: tuple[Mapping[str, Any], ...]
    checks: tuple[Check, ...]

    @property
    def failures(self) -> list[str]:
        return [check.detail for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "build": self.build,
            "pending_steps": [dict(step) for step in self.pending_steps],
            "checks": [check.as_dict() for check in self.checks],
            "failures": self.failures,
        }


@dataclass
class _Checks:
    """Collects checks; a name that gathered no problem is reported once as passed."""

    items: list[Check] = field(default_factory=list)

    def section(self, name: str, problems: Sequence[str], passed: str) -> None:
        if problems:
            self.items.extend(Check(name, False, problem) for problem in problems)
        else:
            self.items.append(Check(name, True, passed))


# --------------------------------------------------------------------------- small readers


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _key(value: Any) -> str:
    """Case-insensitive comparison key for names Windows treats case-insensitively."""
    return _text(value).casefold()


def _short_name(value: Any) -> str:
    """Server name without its DNS domain, for comparing "EX2" with "ex2.contoso.local"."""
    return _key(value).split(".", 1)[0]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _records(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _flag(value: Any) -> bool | None:
    """A collected true/false (PowerShell booleans arrive as bool; text tolerated)."""
    if isinstance(value, bool):
        return value
    text = _key(value)
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None


def _errors_for(facts: Mapping[str, Any], *sections: str) -> str:
    """The collector's reasons for the given sections, to say why a fact is missing."""
    found = [
        _text(error)
        for error in facts.get("errors") or []
        if any(_key(error).startswith(section.casefold()) for section in sections)
    ]
    return f" ({'; '.join(found)})" if found else ""


def _build(text: Any) -> Build | None:
    return parse_file_version(text).build if isinstance(text, str) else None


def _gb(value: float) -> str:
    return f"{value / _GB:.0f} GB"


_START_MODES = {
    "auto": "auto",
    "automatic": "auto",
    "delayed": "delayed",
    "automaticdelayedstart": "delayed",
    "automatic (delayed start)": "delayed",
    "manual": "manual",
    "disabled": "disabled",
}


def start_mode(value: Any) -> str:
    """Normalise a service start mode to what ansible.windows.win_service takes.

    Get-Service says Automatic for both immediate and delayed start; the collectors read the
    DelayedAutostart registry value to tell them apart and send ``auto`` or ``delayed``.
    """
    text = _key(value)
    return _START_MODES.get(text, text)


def _services(value: Any) -> dict[str, Mapping[str, Any]]:
    """Services by lower-cased name, from a collected list or a name -> record/mode mapping."""
    found: dict[str, Mapping[str, Any]] = {}
    if isinstance(value, Mapping):
        for name, record in value.items():
            found[_key(name)] = (
                {"name": name, **record} if isinstance(record, Mapping) else {"name": name, "start_mode": record}
            )
    else:
        for record in _records(value):
            if _text(record.get("name")):
                found[_key(record["name"])] = record
    return found


def automatic_services(services: Any) -> list[dict[str, Any]]:
    """Services recorded with an automatic start mode: what the repair step restores.

    Returns [{"name", "start_mode", "start"}] with start_mode ``auto`` or ``delayed`` as recorded,
    for ansible.windows.win_service (patch-procedure §5: set every service recorded as Automatic
    back to Automatic and start it). ``start`` is true for the services that were running when
    recorded: an automatic service that was stopped then (some stop themselves by design) keeps
    its start mode but is not forced to run.
    """
    repaired = []
    for record in _services(services).values():
        mode = start_mode(record.get("start_mode"))
        if mode in ("auto", "delayed"):
            repaired.append({"name": _text(record.get("name")), "start_mode": mode,
                             "start": _key(record.get("status")) == "running"})
    return sorted(repaired, key=lambda item: item["name"].casefold())


def _components(value: Any) -> dict[str, Mapping[str, Any]]:
    return {_key(record.get("component")): record for record in _records(value) if _text(record.get("component"))}


def _held_by(record: Mapping[str, Any]) -> str:
    requesters = [_text(name) for name in record.get("inactive_requesters") or [] if _text(name)]
    return f" (held by requester {', '.join(requesters)})" if requesters else ""


# --------------------------------------------------------------------------- pending steps


def _step_build(step: Mapping[str, Any]) -> Build | None:
    return _build(step.get("build"))


def pending_steps(build: Build | None, server_plan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The plan's steps that the installed build still needs, in the plan's order.

    A CU or SU step is done when the build reaches the step's build (own integer comparison,
    never win_package creates_version: that is an exact match). Prerequisites serve the CU:
    they are dropped with it once a resumed server already runs the CU build, and kept for a
    plan without a CU step while its SU is pending.
    """
    steps = [step for step in server_plan.get("steps") or [] if isinstance(step, Mapping)]
    if build is None:
        return steps

    def done(step: Mapping[str, Any]) -> bool:
        wanted = _step_build(step)
        return wanted is not None and build >= wanted

    updates = [step for step in steps if step.get("kind") in ("cu", "su") and not done(step)]
    if not updates:
        return []
    cu_steps = [step for step in steps if step.get("kind") == "cu"]
    keep_prerequisites = not cu_steps or any(not done(step) for step in cu_steps)
    return [
        step for step in steps
        if step in updates or (step.get("kind") == "prerequisite" and keep_prerequisites)
    ]


def _installer(step: Mapping[str, Any], media_by_id: Mapping[str, Mapping[str, Any]]) -> str:
    """How a prerequisite step installs: a Windows feature, an .msu OS update, or a package."""
    if step.get("install") == "feature" or _text(step.get("feature")):
        return "feature"
    # win_package does not take .msu files; ansible.windows.win_hotfix does.
    if _text(media_by_id.get(_text(step.get("media")), {}).get("file")).lower().endswith(".msu"):
        return "hotfix"
    return "package"


def install_steps(pending: Sequence[Mapping[str, Any]], media_by_id: Mapping[str, Mapping[str, Any]],
                  verified: Mapping[str, Any], prerequisite_arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pending steps with what the role needs to run them.

    ``path``: where exchange_media verified the step's file on the server; prerequisites also get
    ``installer`` (feature, hotfix, package) and, for packages, ``arguments``: the step's own,
    else the role's quiet switches for that prerequisite id (the plan carries none for
    prerequisites; an .exe without them would wait for a click).
    """
    steps = []
    for step in pending:
        entry = dict(step)
        item = verified.get(_text(step.get("media")))
        entry["path"] = _text(item.get("path")) or None if isinstance(item, Mapping) else None
        if step.get("kind") == "prerequisite":
            entry["installer"] = _installer(step, media_by_id)
            if entry["installer"] == "package":
                arguments = step.get("arguments") or prerequisite_arguments.get(_text(step.get("id"))) or []
                entry["arguments"] = [str(argument) for argument in arguments]
        steps.append(entry)
    return steps


# --------------------------------------------------------------------------- pre-checks


def _check_plan(plan: Mapping[str, Any], up_to_date: bool) -> list[str]:
    problems = []
    state = plan.get("state")
    if state not in ("patch", "up_to_date") or (state == "up_to_date" and not up_to_date):
        reasons = "; ".join(_text(reason) for reason in plan.get("reasons") or [] if _text(reason))
        problems.append(
            f"the plan does not patch this server (state {state!r}){': ' + reasons if reasons else ''}"
        )
    if plan.get("live") is False:
        problems.append("the plan was made from an offline evidence bundle: it is never applied")
    if plan.get("maintenance") not in MAINTENANCE_MODES:
        problems.append(f"the plan's maintenance path {plan.get('maintenance')!r} is not dag, standalone or edge")
    if _build(_mapping(plan.get("target")).get("build")) is None:
        problems.append("the plan has no target build")
    return problems


def _check_build(build: Build | None, facts: Mapping[str, Any], plan: Mapping[str, Any]) -> list[str]:
    if build is None:
        raw = _mapping(facts.get("exchange")).get("exsetup_version")
        return [
            f"the installed build could not be read (ExSetup.exe FileVersion {raw!r})"
            + _errors_for(facts, "exchange")
        ]
    planned = _build(_mapping(plan.get("current")).get("build"))
    target = _build(_mapping(plan.get("target")).get("build"))
    if target is not None and build >= target:
        return []
    # The plan's steps are only valid from the build it was made for; a server resumed after
    # its CU (build = the CU step's build) is the one other state they still fit.
    cu_builds = {_step_build(step) for step in plan.get("steps") or [] if _mapping(step).get("kind") == "cu"}
    if planned is not None and (build == planned or build in cu_builds):
        return []
    return [
        f"installed build {build} is not the build the plan was made for ({planned or 'unknown'}): "
        "re-run the plan before patching"
    ]


def _check_cmdlets(facts: Mapping[str, Any]) -> list[str]:
    if _flag(facts.get("cmdlets_loaded")) is True:
        return []
    return ["the Exchange Management Shell cmdlets could not be loaded" + _errors_for(facts, "exchange.cmdlets")]


def _check_disks(facts: Mapping[str, Any], minimum_gb: float) -> tuple[list[str], str]:
    disks = _records(facts.get("disks"))
    needed = [disk for disk in disks if _flag(disk.get("system")) or _flag(disk.get("install"))]
    problems = []
    if not any(_flag(disk.get("system")) for disk in needed):
        problems.append("free space on the system drive could not be read" + _errors_for(facts, "disks"))
    if not any(_flag(disk.get("install")) for disk in needed):
        problems.append("free space on the Exchange install drive could not be read" + _errors_for(facts, "disks"))
    passed = []
    for disk in needed:
        free = _number(disk.get("free_bytes"))
        drive = _text(disk.get("drive")) or "?"
        if free is None:
            problems.append(f"{drive} free space could not be read")
        elif free < minimum_gb * _GB:
            problems.append(f"{drive} has {_gb(free)} free, less than the {minimum_gb:g} GB setup needs")
        else:
            passed.append(f"{drive} {_gb(free)} free >= {minimum_gb:g} GB")
    return problems, ", ".join(passed)


_REBOOT_LOCATIONS = {
    "component_based_servicing": (
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending"
    ),
    "windows_update": r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
    "pending_file_rename": r"PendingFileRenameOperations under HKLM\SYSTEM\CurrentControlSet\Control\Session Manager",
}


def _check_pending_reboot(facts: Mapping[str, Any]) -> list[str]:
    pending = facts.get("pending_reboot")
    if not isinstance(pending, Mapping):
        return ["the pending-reboot registry locations could not be read" + _errors_for(facts, "pending_reboot")]
    problems = []
    for key, location in _REBOOT_LOCATIONS.items():
        value = _flag(pending.get(key))
        if value is None:
            problems.append(f"pending reboot unknown: {location} could not be read")
        elif value:
            problems.append(f"a reboot is pending ({location}): reboot the server first, then run again")
    return problems


def watermark_problems(facts: Mapping[str, Any]) -> list[str]:
    """A Watermark or Action value, or UnpackedVersion without ConfiguredVersion, under a role
    key of HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v15 means an earlier setup is half done.
    Setup must be resumed by hand; the watermark is never deleted (CSS-Exchange InstallWatermark)."""
    watermarks = facts.get("watermarks")
    if not isinstance(watermarks, list):
        return ["the setup watermark keys could not be read" + _errors_for(facts, "watermarks")]
    problems = []
    for record in _records(watermarks):
        role = _text(record.get("role")) or "?"
        if _text(record.get("watermark")) or _text(record.get("action")):
            problems.append(
                f"setup watermark under ExchangeServer\\v15\\{role} (Action {_text(record.get('action')) or '-'}, "
                f"Watermark {_text(record.get('watermark')) or '-'}): an earlier setup did not finish; resume it "
                "by hand and never delete the watermark"
            )
        elif _text(record.get("unpacked_version")) and not _text(record.get("configured_version")):
            problems.append(
                f"ExchangeServer\\v15\\{role} has UnpackedVersion {_text(record.get('unpacked_version'))} but no "
                "ConfiguredVersion: an earlier setup did not finish"
            )
    return problems


def _check_setup_running(facts: Mapping[str, Any]) -> list[str]:
    processes = facts.get("setup_processes")
    problems = []
    if not isinstance(processes, list):
        problems.append("running setup processes could not be listed" + _errors_for(facts, "setup_processes"))
    for record in _records(processes):
        name = _text(record.get("name"))
        command = _text(record.get("command_line"))
        if _SETUP_PROCESS.match(name):
            problems.append(f"{name} (process {record.get('id')}) is running: another setup is in progress")
        elif _MSIEXEC.match(name) and not _MSI_SERVICE.search(command):
            problems.append(
                f"msiexec (process {record.get('id')}) is installing something ({command or 'command line unknown'})"
            )
    if _flag(facts.get("installer_in_progress")):
        problems.append(
            r"Windows Installer reports an installation in progress "
            r"(HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Installer\InProgress)"
        )
    return problems


def _check_installer_cache(facts: Mapping[str, Any]) -> list[str]:
    cache = facts.get("installer_cache")
    if not isinstance(cache, list):
        return ["the Windows Installer cache could not be checked" + _errors_for(facts, "installer_cache")]
    if not cache:
        return ["no installed Exchange package was found in the Windows Installer registry"]
    return [
        f"{_text(item.get('name')) or 'an Exchange package'}: cached {_text(item.get('kind')) or 'package'} "
        f"{_text(item.get('local_package')) or '(no LocalPackage value)'} is missing from %WINDIR%\\Installer; "
        "run CSS-Exchange FixInstallerCache before patching"
        for item in _records(cache)
        if _flag(item.get("present")) is not True
    ]


def _check_prerequisites(facts: Mapping[str, Any], plan: Mapping[str, Any], pending: Sequence[Mapping[str, Any]],
                         media_by_id: Mapping[str, Mapping[str, Any]]) -> list[str]:
    problems = []
    if _number(facts.get("dotnet_release")) is None:
        problems.append(".NET Framework 4.x Release could not be read" + _errors_for(facts, "dotnet_release"))
    # The plan's own steps count (not only pending ones): a resumed server whose CU is done
    # installed them on the first attempt.
    installing = {_key(step.get("id")) for step in _records(plan.get("steps")) if step.get("kind") == "prerequisite"}
    for item in _records(plan.get("prerequisites")):
        name = _text(item.get("name")) or _text(item.get("id")) or "a prerequisite"
        status = _key(item.get("status"))
        detail = f" ({_text(item.get('detail'))})" if _text(item.get("detail")) else ""
        if _flag(item.get("blocking")):
            problems.append(f"blocking prerequisite {name}: {_text(item.get('detail')) or status or 'see the plan'}")
        elif status == "missing" and _key(item.get("id")) not in installing:
            problems.append(f"prerequisite {name} is missing and the plan installs nothing for it{detail}")
        elif status == "unknown" and _key(item.get("id")).startswith("dotnet"):
            # Which .NET both the installed and the target CU support was not judged: the plan
            # had no Release to judge it by. Unknown software the run installs idempotently (or
            # that this run's steps do not need) is fine; an unjudged .NET is not.
            problems.append(f"{name}: the plan could not judge the .NET release{detail}; collect the facts and "
                            "plan again")
    for step in pending:
        if step.get("kind") != "prerequisite" or step.get("installer") == "feature":
            continue
        name = _text(step.get("name")) or _text(step.get("id")) or "a prerequisite"
        media = media_by_id.get(_text(step.get("media")))
        if media is None:
            problems.append(f"prerequisite step {name} names no media of the plan")
        elif _text(media.get("file")).lower().endswith(".exe") and not step.get("arguments"):
            # An .exe without its quiet switches waits for a click that never comes.
            problems.append(f"prerequisite step {name} runs {media.get('file')} without unattended arguments "
                            "(exchange_patch_prerequisite_arguments)")
    return problems


def _check_services(facts: Mapping[str, Any], edge: bool) -> list[str]:
    problems = []
    health = facts.get("service_health")
    if not isinstance(health, list) or not health:
        problems.append("Test-ServiceHealth returned nothing" + _errors_for(facts, "service_health"))
    for record in _records(health):
        if _flag(record.get("required_services_running")) is not True:
            missing = ", ".join(_text(name) for name in record.get("services_not_running") or [])
            problems.append(
                f"{_text(record.get('role')) or 'a role'}: required services not running: {missing or 'unknown'}"
            )
    services = facts.get("services")
    if not isinstance(services, list) or not services:
        problems.append("the Exchange and IIS services could not be listed" + _errors_for(facts, "services"))
        return problems
    # A Disabled IIS or core Exchange service before patching is the trace of an interrupted
    # update (patch-procedure §9): repair it first instead of stacking another update on it.
    core = ("msexchangetransport",) if edge else ("w3svc", "was", "msexchangeis", "msexchangetransport")
    recorded = _services(services)
    for name in core:
        record = recorded.get(name)
        if record is None:
            problems.append(f"service {name} was not found")
        elif start_mode(record.get("start_mode")) == "disabled":
            problems.append(f"service {_text(record.get('name'))} is Disabled: an earlier update may have been "
                            "interrupted; repair the services first")
    return problems


def _check_components(facts: Mapping[str, Any]) -> list[str]:
    components = _components(facts.get("components"))
    if not components:
        return ["Get-ServerComponentState returned nothing" + _errors_for(facts, "components")]
    return [
        f"component {_text(record.get('component'))} is {_text(record.get('state')) or 'unknown'}{_held_by(record)}: "
        "the server is in maintenance or was left there"
        for name, record in components.items()
        if name not in DEFAULT_INACTIVE_COMPONENTS and _key(record.get("state")) != "active"
    ]


def _copy_problems(copy: Mapping[str, Any], thresholds: Mapping[str, Any], whose: str) -> list[str]:
    label = f"{_text(copy.get('database')) or '?'}\\{_text(copy.get('server')) or '?'}"
    problems = []
    status = _text(copy.get("status"))
    if _key(status) not in HEALTHY_COPY_STATES:
        problems.append(f"{whose} copy {label} is {status or 'unknown'}, not Mounted or Healthy")
    for key, limit_key, what in (
        ("copy_queue_length", "max_copy_queue", "copy queue"),
        ("replay_queue_length", "max_replay_queue", "replay queue"),
    ):
        value = _number(copy.get(key))
        limit = _number(thresholds.get(limit_key))
        if value is None:
            problems.append(f"{whose} copy {label}: {what} length unknown")
        elif limit is not None and value > limit:
            problems.append(f"{whose} copy {label}: {what} {value:g} > {limit:g}")
    index = _text(copy.get("content_index_state"))
    if _key(index) not in HEALTHY_INDEX_STATES:
        problems.append(f"{whose} copy {label}: content index {index or 'unknown'}, not Healthy")
    return problems


def _check_dag(facts: Mapping[str, Any], plan: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[str]:
    dag = facts.get("dag")
    if not isinstance(dag, Mapping):
        return ["the DAG could not be read (the plan says this server is a DAG member)" + _errors_for(facts, "dag")]
    me = _short_name(facts.get("hostname"))
    members = [_text(name) for name in dag.get("members") or [] if _text(name)]
    peers = [name for name in members if _short_name(name) != me]
    problems = []
    if not peers:
        problems.append(f"DAG {_text(dag.get('name')) or '?'} lists no other member to carry the load")
    if not _text(plan.get("redirect_target")):
        problems.append("the plan names no redirect target for the queued messages of this DAG member")
    nodes = {_short_name(node.get("name")): _text(node.get("state")) for node in _records(dag.get("cluster_nodes"))}
    offline = {_short_name(name): _text(state) for name, state in _mapping(dag.get("server_wide_offline")).items()}
    copies = _records(dag.get("copies"))
    for peer in peers:
        key = _short_name(peer)
        state = nodes.get(key)
        if _key(state) != "up":
            problems.append(f"DAG member {peer}: cluster node is {state or 'unknown'}, not Up")
        if _key(offline.get(key)) != "active":
            problems.append(
                f"DAG member {peer}: ServerWideOffline is {offline.get(key) or 'unknown'}, not Active "
                "(never take two members of one DAG down at once)"
            )
        # A member without copies is legal; one whose copies could not be read is reported
        # from the collector's errors below.
        for copy in copies:
            if _short_name(copy.get("server")) == key:
                problems.extend(_copy_problems(copy, thresholds, "peer"))
    if nodes.get(me) is not None and _key(nodes.get(me)) != "up":
        problems.append(f"this server's cluster node is {nodes[me]}, not Up: it was left in maintenance")
    for error in facts.get("errors") or []:
        if _key(error).startswith("dag."):
            problems.append(f"DAG health unknown: {_text(error)}")
    # Every database this server holds must have a healthy copy elsewhere to move to.
    mine = {_key(copy.get("database")) for copy in copies if _short_name(copy.get("server")) == me}
    for database in sorted(mine):
        others = [
            copy for copy in copies
            if _key(copy.get("database")) == database and _short_name(copy.get("server")) != me
            and _key(copy.get("status")) in HEALTHY_COPY_STATES
        ]
        if not others:
            problems.append(f"database {database} has no healthy copy on another DAG member to take over")
    return problems


def _check_media(facts: Mapping[str, Any], pending: Sequence[Mapping[str, Any]],
                 media_by_id: Mapping[str, Mapping[str, Any]]) -> list[str]:
    needed = []
    for step in pending:
        media_id = _text(step.get("media"))
        if media_id and media_id not in needed:
            needed.append(media_id)
    if not needed:
        return []
    media = facts.get("media")
    if not isinstance(media, Mapping):
        return ["the media were not verified on the server (exchange_media verify did not run)"]
    problems = [f"media: {_text(failure)}" for failure in media.get("failures") or [] if _text(failure)]
    verified = _mapping(media.get("verified"))
    for media_id in needed:
        item = verified.get(media_id)
        plan_item = media_by_id.get(media_id, {})
        if not isinstance(item, Mapping) or not _text(item.get("path")):
            problems.append(f"media {media_id} is not staged and verified on the server")
            continue
        expected = _key(plan_item.get("sha256"))
        if expected and _key(item.get("sha256")) != expected:
            problems.append(f"media {media_id}: SHA-256 {item.get('sha256')} does not match {plan_item.get('sha256')}")
        if plan_item.get("signed_by_microsoft", True) and _key(item.get("signature_status")) != "valid":
            problems.append(
                f"media {media_id}: Authenticode signature is {item.get('signature_status') or 'unknown'}, not Valid"
            )
    return problems


def evaluate_precheck(facts: Mapping[str, Any], server_plan: Mapping[str, Any], thresholds: Mapping[str, Any],
                      prerequisite_arguments: Mapping[str, Any] | None = None) -> PrecheckResult:
    """Every pre-check of patch-procedure §1 on one server's read-only facts.

    ``thresholds``: ``min_free_disk_gb``, ``max_copy_queue``, ``max_replay_queue``,
    ``allow_reboot``; ``prerequisite_arguments``: quiet switches by prerequisite id (see
    install_steps). Any failed check refuses the server: it is then never touched and never
    enters maintenance. A server already at its target build is ``up_to_date`` whatever the
    other checks say (nothing would be installed); its checks are still reported.
    """
    facts = _mapping(facts)
    plan = _mapping(server_plan)
    thresholds = _mapping(thresholds)
    build = _build(_mapping(facts.get("exchange")).get("exsetup_version"))
    target = _build(_mapping(plan.get("target")).get("build"))
    up_to_date = build is not None and target is not None and build >= target
    media_by_id = {_text(item.get("id")): item for item in _records(plan.get("media"))}
    pending = [] if up_to_date else install_steps(
        pending_steps(build, plan), media_by_id, _mapping(_mapping(facts.get("media")).get("verified")),
        _mapping(prerequisite_arguments))
    edge = plan.get("maintenance") == "edge" or _flag(_mapping(facts.get("exchange")).get("edge")) is True

    checks = _Checks()
    checks.section("plan", _check_plan(plan, up_to_date),
                   f"plan state {plan.get('state')}, {plan.get('maintenance')} maintenance path")
    checks.section("build", _check_build(build, facts, plan),
                   f"installed {build}, target {target}" + (" (already reached)" if up_to_date else ""))
    checks.section("exchange_cmdlets", _check_cmdlets(facts), "Exchange Management Shell cmdlets loaded")
    minimum = _number(thresholds.get("min_free_disk_gb"))
    disk_problems, disk_detail = _check_disks(facts, 30.0 if minimum is None else minimum)
    checks.section("free_disk", disk_problems, disk_detail)
    checks.section("pending_reboot", _check_pending_reboot(facts), "no reboot pending")
    checks.section("setup_watermark", watermark_problems(facts), "no setup watermark")
    checks.section("setup_running", _check_setup_running(facts), "no setup or installer running")
    checks.section("installer_cache", _check_installer_cache(facts), "every Exchange package is in the installer cache")
    checks.section("services", _check_services(facts, edge), "required services running, none Disabled")
    checks.section("components", _check_components(facts), "every server component Active")
    if plan.get("maintenance") == "dag":
        checks.section("dag_health", _check_dag(facts, plan, thresholds),
                       "every other DAG member is Up, Active and has healthy copies")
    if not up_to_date:
        checks.section("prerequisites", _check_prerequisites(facts, plan, pending, media_by_id),
                       f".NET release {facts.get('dotnet_release')}, no missing or blocking prerequisite")
        checks.section("media", _check_media(facts, pending, media_by_id), "media staged, SHA-256 and signature valid")
        reboot_problems = []
        if pending and _flag(thresholds.get("allow_reboot")) is False:
            reboot_problems.append(
                "updates need reboots but exchange_patch_allow_reboot is false: nothing is installed"
            )
        checks.section("reboot_allowed", reboot_problems, "reboots allowed")

        # Build below target and yet no step left: the plan cannot bring it there.
        checks.section("steps", [] if pending else ["the plan has no step that reaches the target build"],
                       ", ".join(_text(step.get("name")) or _text(step.get("kind")) for step in pending))

    items = tuple(checks.items)
    if up_to_date:
        decision = "up_to_date"
    elif any(not check.ok for check in items):
        decision = "refused"
    else:
        decision = "patch"
    return PrecheckResult(decision, str(build) if build else None, tuple(pending), items)


def precheck_failures(facts: Mapping[str, Any], server_plan: Mapping[str, Any], thresholds: Mapping[str, Any],
                      prerequisite_arguments: Mapping[str, Any] | None = None) -> list[str]:
    """Why the server must not be touched; empty when every pre-check passed."""
    return evaluate_precheck(facts, server_plan, thresholds, prerequisite_arguments).failures


# --------------------------------------------------------------------------- after a step


def step_failures(facts: Mapping[str, Any], step: Mapping[str, Any]) -> list[str]:
    """Whether an update step took, from the build and the watermarks read right after it.

    The exit code alone is not trusted (ExchangeDsc re-reads state; a non-elevated .msp "succeeds"
    without updating files): the build must reach the step's build and no watermark may remain.
    """
    facts = _mapping(facts)
    problems = []
    build = _build(_mapping(facts.get("exchange")).get("exsetup_version"))
    wanted = _step_build(_mapping(step))
    name = _text(_mapping(step).get("name")) or _text(_mapping(step).get("kind")) or "the update"
    if build is None:
        problems.append(f"after {name}: the installed build could not be read" + _errors_for(facts, "exchange"))
    elif wanted is not None and build < wanted:
        problems.append(f"after {name}: installed build {build} is below {wanted}; the update did not take")
    problems.extend(f"after {name}: {problem}" for problem in watermark_problems(facts))
    return problems


# --------------------------------------------------------------------------- post-checks


def _check_post_build(facts: Mapping[str, Any], plan: Mapping[str, Any]) -> tuple[list[str], str]:
    exchange = _mapping(facts.get("exchange"))
    build = _build(exchange.get("exsetup_version"))
    target_map = _mapping(plan.get("target"))
    target = _build(target_map.get("build"))
    problems = []
    if build is None:
        problems.append("the installed build could not be read after patching" + _errors_for(facts, "exchange"))
    elif target is None:
        problems.append("the plan has no target build to compare with")
    elif build < target:
        problems.append(f"installed build {build} is below the target {target}")
    cu_build = _build(target_map.get("cu_build"))
    admin = parse_admin_display_version(exchange.get("admin_display_version")).build
    if admin is None:
        problems.append(
            f"AdminDisplayVersion {exchange.get('admin_display_version')!r} could not be read"
            + _errors_for(facts, "exchange")
        )
    elif cu_build is not None and admin < cu_build:
        problems.append(f"AdminDisplayVersion {admin} is below the target CU build {cu_build}")
    return problems, f"installed {build} >= target {target}, AdminDisplayVersion {admin}"


def _check_post_services(facts: Mapping[str, Any], recorded: Mapping[str, Mapping[str, Any]],
                         in_maintenance: bool) -> list[str]:
    problems = []
    now = _services(facts.get("services"))
    if not now:
        return ["the services could not be listed after patching" + _errors_for(facts, "services")]
    if not recorded:
        problems.append("no service start modes were recorded before patching to compare with")
    for key, before in recorded.items():
        name = _text(before.get("name")) or key
        mode_before = start_mode(before.get("start_mode"))
        after = now.get(key)
        if after is None:
            problems.append(f"service {name} is gone after patching")
            continue
        mode_after = start_mode(after.get("start_mode"))
        if mode_before in ("auto", "delayed") and mode_after not in ("auto", "delayed"):
            problems.append(f"service {name} was {mode_before} before patching and is {mode_after} now")
        elif mode_before == "manual" and mode_after == "disabled":
            problems.append(f"service {name} was manual before patching and is disabled now")
        was_running = _key(before.get("status")) == "running"
        expected_stopped = in_maintenance and key in _STOPPED_BY_MAINTENANCE
        if was_running and not expected_stopped and _key(after.get("status")) != "running":
            problems.append(f"service {name} was running before patching and is {_text(after.get('status'))} now")
    health = facts.get("service_health")
    if not isinstance(health, list) or not health:
        problems.append("Test-ServiceHealth returned nothing" + _errors_for(facts, "service_health"))
    for record in _records(health):
        if _flag(record.get("required_services_running")) is not True:
            missing = ", ".join(_text(name) for name in record.get("services_not_running") or [])
            problems.append(f"{_text(record.get('role')) or 'a role'}: RequiredServicesRunning is false "
                            f"({missing or 'unknown'})")
    return problems


def _check_web(facts: Mapping[str, Any], in_maintenance: bool) -> list[str]:
    web = facts.get("web")
    if not isinstance(web, list) or not web:
        return ["OWA/ECP healthcheck.htm was not requested" + _errors_for(facts, "web")]
    problems = []
    for probe in _records(web):
        name = _text(probe.get("name")) or _text(probe.get("url"))
        code = _number(probe.get("status_code"))
        if code == 200:
            continue
        # In maintenance the proxy components are Inactive, and healthcheck.htm answers 503 by
        # design once the application has loaded. 500 is the signature of an SU whose files were
        # not updated ("Could not load file or assembly"), which is what this check is for.
        if code == 503 and in_maintenance:
            continue
        shown = f"HTTP {code:g}" if code is not None else _text(probe.get("error")) or "no answer"
        problems.append(f"{name} healthcheck.htm returned {shown}" + (
            " (an SU installed without elevation leaves OWA/ECP at HTTP 500)" if code == 500 else ""))
    return problems


def _check_post_copies(facts: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[str]:
    copies = facts.get("copies")
    if not isinstance(copies, list):
        return ["this server's database copies could not be read" + _errors_for(facts, "copies")]
    problems = []
    for copy in _records(copies):
        problems.extend(_copy_problems(copy, thresholds, "own"))
    node = _mapping(facts.get("cluster_node"))
    if not _text(node.get("state")):
        problems.append("this server's cluster node could not be read" + _errors_for(facts, "cluster_node"))
    return problems


def evaluate_postcheck(facts: Mapping[str, Any], server_plan: Mapping[str, Any], recorded_start_modes: Any,
                       thresholds: Mapping[str, Any] | None = None, in_maintenance: bool = True) -> list[Check]:
    """The post-checks of patch-procedure §7, before the server leaves maintenance.

    ``recorded_start_modes``: the services recorded by the pre-checks (the collected list, or a
    mapping of name -> start mode or -> {start_mode, status}).
    """
    facts = _mapping(facts)
    plan = _mapping(server_plan)
    limits = _mapping(thresholds)
    recorded = _services(recorded_start_modes)
    edge = plan.get("maintenance") == "edge"
    checks = _Checks()
    build_problems, build_detail = _check_post_build(facts, plan)
    checks.section("build", build_problems, build_detail)
    checks.section("setup_watermark", watermark_problems(facts), "no setup watermark left")
    checks.section("services", _check_post_services(facts, recorded, in_maintenance),
                   f"{len(recorded)} recorded services keep their start modes; RequiredServicesRunning")
    if not edge:
        checks.section("web", _check_web(facts, in_maintenance), "OWA and ECP healthcheck.htm answer")
    if plan.get("maintenance") == "dag":
        checks.section("database_copies", _check_post_copies(facts, limits), "own copies Healthy, queues low")
    return list(checks.items)


def postcheck_failures(facts: Mapping[str, Any], server_plan: Mapping[str, Any], recorded_start_modes: Any,
                       thresholds: Mapping[str, Any] | None = None, in_maintenance: bool = True) -> list[str]:
    """Why the update cannot be called done; empty when every post-check passed."""
    return [
        check.detail
        for check in evaluate_postcheck(facts, server_plan, recorded_start_modes, thresholds, in_maintenance)
        if not check.ok
    ]


# --------------------------------------------------------------------------- maintenance


def _is_exempt_queue(queue: Mapping[str, Any]) -> bool:
    """Poison and Shadow Redundancy queues keep messages by design during maintenance."""
    identity = _key(queue.get("identity"))
    delivery = _key(queue.get("delivery_type"))
    return delivery == "shadowredundancy" or "\\shadow\\" in identity or identity.endswith("\\poison")


def _queue_problems(state: Mapping[str, Any]) -> list[str]:
    queues = state.get("queues")
    if not isinstance(queues, list):
        return ["the transport queues could not be read" + _errors_for(state, "queues")]
    problems = []
    for queue in _records(queues):
        if _is_exempt_queue(queue):
            continue
        count = _number(queue.get("message_count"))
        if count is None or count > 0:
            problems.append(f"queue {_text(queue.get('identity'))} still holds "
                            f"{'an unknown number of' if count is None else f'{count:g}'} messages")
    return problems


def maintenance_problems(state: Mapping[str, Any], mode: str, expect_empty_queues: bool = True) -> list[str]:
    """What still keeps a server from being in maintenance (verify after entering, §2.1).

    dag: only Monitoring and RecoveryActionsEnabled Active, activation Blocked, cluster node
    Paused, no active copy, queues empty; standalone: the components and the queues; edge:
    transport drained (HubTransport not Active, queues empty). ``expect_empty_queues`` is false
    for a stand-alone server with no other Mailbox server to redirect to: its queues persist.
    Poison and Shadow Redundancy queues are ignored.
    """
    state = _mapping(state)
    if mode not in MAINTENANCE_MODES:
        return [f"unknown maintenance mode {mode!r}"]
    problems = []
    components = _components(state.get("components"))
    if not components:
        problems.append("Get-ServerComponentState returned nothing" + _errors_for(state, "components"))
    elif mode == "edge":
        hub = components.get("hubtransport")
        if hub is None or _key(hub.get("state")) == "active":
            problems.append(f"component HubTransport is {_text((hub or {}).get('state')) or 'missing'}, not Draining")
    else:
        offline = components.get("serverwideoffline")
        if offline is None or _key(offline.get("state")) != "inactive":
            problems.append(
                f"component ServerWideOffline is {_text((offline or {}).get('state')) or 'missing'}, not Inactive"
            )
        problems.extend(
            f"component {_text(record.get('component'))} is still Active"
            for name, record in components.items()
            if name not in MAINTENANCE_ACTIVE_COMPONENTS and _key(record.get("state")) == "active"
        )
    if mode == "dag":
        policy = _text(state.get("activation_policy"))
        if _key(policy) != "blocked":
            problems.append(f"DatabaseCopyAutoActivationPolicy is {policy or 'unknown'}, not Blocked")
        node = _text(_mapping(state.get("cluster_node")).get("state"))
        if _key(node) != "paused":
            problems.append(f"cluster node is {node or 'unknown'}, not Paused")
        copies = state.get("copies")
        if not isinstance(copies, list):
            problems.append("this server's database copies could not be read" + _errors_for(state, "copies"))
        problems.extend(
            f"database {_text(copy.get('database'))} is still active (Mounted) on this server"
            for copy in _records(copies)
            if _key(copy.get("status")) in ("mounted", "mounting")
        )
    if expect_empty_queues:
        problems.extend(_queue_problems(state))
    return problems


def maintenance_exit_problems(state: Mapping[str, Any], mode: str, original_policy: str | None = None) -> list[str]:
    """What is still not back in service after leaving maintenance (§2.3 "Verify").

    Every component Active (ForwardSyncDaemon and ProvisioningRps are Inactive on-premises by
    design), and on a DAG member the cluster node Up, the recorded activation policy back, the
    copies Mounted or Healthy. A component an interrupted setup left Inactive names the requester
    that holds it (Functional, Deployment) so it can be set Active with that requester.
    """
    state = _mapping(state)
    if mode not in MAINTENANCE_MODES:
        return [f"unknown maintenance mode {mode!r}"]
    problems = []
    components = _components(state.get("components"))
    if not components:
        problems.append("Get-ServerComponentState returned nothing" + _errors_for(state, "components"))
    problems.extend(
        f"component {_text(record.get('component'))} is {_text(record.get('state')) or 'unknown'}{_held_by(record)}"
        for name, record in components.items()
        if name not in DEFAULT_INACTIVE_COMPONENTS and _key(record.get("state")) != "active"
    )
    if mode == "dag":
        node = _text(_mapping(state.get("cluster_node")).get("state"))
        if _key(node) != "up":
            problems.append(f"cluster node is {node or 'unknown'}, not Up")
        wanted = _text(original_policy) or "Unrestricted"
        policy = _text(state.get("activation_policy"))
        if _key(policy) != _key(wanted):
            problems.append(f"DatabaseCopyAutoActivationPolicy is {policy or 'unknown'}, expected {wanted}")
        copies = state.get("copies")
        if not isinstance(copies, list):
            problems.append("this server's database copies could not be read" + _errors_for(state, "copies"))
        problems.extend(
            f"database copy {_text(copy.get('database'))} is {_text(copy.get('status')) or 'unknown'}, "
            "not Mounted or Healthy"
            for copy in _records(copies)
            if _key(copy.get("status")) not in HEALTHY_COPY_STATES
        )
    return problems


# --------------------------------------------------------------------------- the outcome

OUTCOME_STATES = ("patched", "failed", "refused", "skipped", "up_to_date")


def _step_label(step: Mapping[str, Any]) -> str:
    kind = _text(step.get("kind"))
    name = _text(step.get("name")) or _text(step.get("id")) or kind
    kb = _text(step.get("kb"))
    return f"{kind} {name}" + (f" ({kb})" if kb else "")


def _build_text(value: Any) -> str | None:
    """A build as the report shows it ("15.01.2507.072" -> "15.1.2507.72"); unparseable text as is."""
    build = _build(value)
    return str(build) if build is not None else (_text(value) or None)


def patch_outcome(host: str, server_plan: Mapping[str, Any], precheck: Mapping[str, Any] | None,
                  progress: Mapping[str, Any]) -> dict[str, Any]:
    """outcomes/<host>.json (remediate-spec.md) from the pre-check result and the run's progress.

    ``precheck``: PrecheckResult.as_dict(), or None when no pre-check ran (the plan does not
    patch the server). ``progress`` is what role exchange_patch recorded while it ran:
    ``check_mode``, ``interim`` (written before the sequence ended: an interrupted run leaves it
    behind), ``failed_step``, ``failure``, ``finished``, ``maintenance_entered``,
    ``maintenance_exited``, ``maintenance_problems``, ``setup_log``, ``build_after``,
    ``postchecks``, ``started_at``, ``finished_at``. Beyond the contract the outcome carries
    ``planned`` (the steps that were or would be run) and ``check_mode``.

    refused means untouched: the pre-checks failed and the server never entered maintenance.
    """
    plan = _mapping(server_plan)
    progress = _mapping(progress)
    current = _mapping(plan.get("current"))
    target = _mapping(plan.get("target"))
    result = _mapping(precheck)
    checks = [dict(check) for check in _records(result.get("checks"))]
    pending = _records(result.get("pending_steps"))
    outcome: dict[str, Any] = {
        "host": host,
        "state": "failed",
        "reason": None,
        "failed_step": None,
        "setup_log": _text(progress.get("setup_log")) or None,
        "build_before": _build_text(result.get("build")) or _build_text(current.get("build")),
        "build_after": None,
        "maintenance_exited": None,
        "wave": plan.get("wave") if isinstance(plan.get("wave"), int) and not isinstance(plan.get("wave"), bool)
        else None,
        "started_at": _text(progress.get("started_at")) or None,
        "finished_at": _text(progress.get("finished_at")) or None,
        "checks": checks,
        "planned": [_step_label(step) for step in pending],
        "check_mode": bool(progress.get("check_mode")),
    }
    decision = _text(result.get("decision"))
    if plan.get("live") is False:
        outcome.update(state="skipped", reason="offline evidence bundle: planned only, never applied")
        return outcome
    if not result:
        reasons = "; ".join(_text(reason) for reason in plan.get("reasons") or [] if _text(reason))
        outcome.update(state="refused", failed_step="precheck",
                       reason=f"the plan does not patch this server (state {plan.get('state')!r})"
                       + (f": {reasons}" if reasons else ""))
        return outcome
    failures = [_text(check.get("detail")) for check in checks if check.get("ok") is False]
    if decision == "up_to_date":
        outcome.update(state="up_to_date", build_after=outcome["build_before"],
                       reason=f"build {outcome['build_before']} already reaches the target {target.get('build')}: "
                       "nothing installed" + (f"; checks that failed: {'; '.join(failures)}" if failures else ""))
        return outcome
    if decision != "patch":
        media_only = failures and all(check.get("name") == "media" for check in checks if check.get("ok") is False)
        outcome.update(state="refused", failed_step="media" if media_only else "precheck",
                       reason="pre-checks failed, the server was not touched: " + "; ".join(failures or ["unknown"]))
        return outcome
    steps = ", ".join(outcome["planned"])
    if outcome["check_mode"]:
        outcome.update(state="skipped", reason=f"check mode: pre-checks passed; would enter {plan.get('maintenance')} "
                       f"maintenance and run {steps}, then post-check and leave maintenance")
        return outcome

    entered = bool(progress.get("maintenance_entered"))
    exited = progress.get("maintenance_exited")
    outcome["maintenance_exited"] = exited if isinstance(exited, bool) else (False if entered else None)
    outcome["build_after"] = _build_text(progress.get("build_after"))
    outcome["checks"] = checks + [dict(check) for check in _records(progress.get("postchecks"))]
    exit_problems = [_text(problem) for problem in progress.get("maintenance_problems") or [] if _text(problem)]
    outcome["checks"] += [{"name": "maintenance_exit", "ok": False, "detail": problem} for problem in exit_problems]
    if entered and exited is True:
        outcome["checks"].append({"name": "maintenance_exit", "ok": True, "detail": "every component Active again"})
    step = _text(progress.get("failed_step")) or None
    if progress.get("interim"):
        outcome.update(failed_step=step, reason=f"the run ended during step {step or 'unknown'} before this "
                       "server's sequence finished (host unreachable or play interrupted): check the server")
        return outcome
    failure = _text(progress.get("failure"))
    if failure or not progress.get("finished"):
        reason = failure or f"the sequence stopped during step {step or 'unknown'}"
        if entered and exited is not True:
            reason += "; the server is still in maintenance: " + ("; ".join(exit_problems) or "it did not answer")
        outcome.update(failed_step=step, reason=reason)
        return outcome
    if entered and exited is not True:
        outcome.update(failed_step="maintenance_exit", reason="updates installed and verified, but leaving "
                       "maintenance failed: " + ("; ".join(exit_problems) or "the server did not answer"))
        return outcome
    outcome.update(state="patched", reason=f"installed {steps}; build {outcome['build_after'] or 'unknown'}")
    return outcome
