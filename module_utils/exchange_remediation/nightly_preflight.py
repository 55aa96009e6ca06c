"""Check a nightly run's inputs before any server is touched, and decide whether it patches.

Every problem found here would otherwise surface hours later (a malformed policy after the whole
estate was assessed, a missing previous report after the hunt), or never: a nightly job that
quietly stops comparing with yesterday looks green. So each one is an error with the variable's
name, collected together so one run shows them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from .maintenance_window import WindowError, parse_window, window_state
from .nightly_policy import PolicyError, parse_fail_when
from .report_drift import PreviousReportError, read_previous_report
from .report_history import ReportIdentity, find_previous_report

NIGHTLY_ARGUMENTS: dict[str, Any] = {
    "fail_when": {"type": "raw"},
    "policy_file": {"type": "str", "default": ""},
    "patch": {"type": "bool", "default": False},
    # dict, not raw: an AWX survey answer arrives as a JSON string, which Ansible turns into a dict.
    "window": {"type": "dict", "default": {}},
    "previous_report": {"type": "str", "default": "auto"},
    "report_root": {"type": "path", "required": True},
    "report_dir": {"type": "path", "required": True},
    "client": {"type": "str", "default": ""},
    "inventory": {"type": "str", "default": ""},
    "min_log_days": {"type": "raw", "default": 30},
    "hosts_without_media": {"type": "list", "elements": "str", "default": []},
    "now": {"type": "str", "default": ""},
}

CLIENT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def read_policy_yaml(path: str) -> Any:
    """A policy file's YAML; ValueError (with the parser's position) when it is not valid YAML."""
    with open(path, encoding="utf-8") as stream:
        try:
            return yaml.safe_load(stream)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML: {exc}") from exc


class NightlyInputError(ValueError):
    """One or more inputs are wrong; the message lists every one."""


@dataclass
class NightlyInputs:
    fail_when: list[str]
    patch_now: bool
    patch_window: dict[str, Any]
    previous_report: str
    min_log_days: int
    notes: list[str] = field(default_factory=list)

    def to_result(self) -> dict[str, Any]:
        return {"fail_when": self.fail_when, "patch_now": self.patch_now, "patch_window": self.patch_window,
                "previous_report": self.previous_report, "min_log_days": self.min_log_days, "notes": self.notes}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _policy(params: Mapping[str, Any], read_yaml: Callable[[str], Any], errors: list[str]) -> list[str]:
    raw = params.get("fail_when")
    source = "exchange_nightly_fail_when"
    if params.get("policy_file"):
        source = f"exchange_nightly_policy_file {params['policy_file']}"
        try:
            document = read_yaml(params["policy_file"])
        except (OSError, ValueError) as exc:
            errors.append(f"{source}: cannot be read ({exc})")
            return []
        if not isinstance(document, Mapping) or "fail_when" not in document:
            errors.append(f"{source}: must be a YAML mapping with a fail_when list, "
                          "e.g. 'fail_when: [compromised, vulnerable]'")
            return []
        raw = document["fail_when"]
    if raw is None:
        errors.append(f"{source}: no policy given; list the conditions that fail the run, or [] for none")
        return []
    try:
        return list(parse_fail_when(raw))
    except PolicyError as exc:
        errors.append(f"{source}: {exc}")
        return []


def _window(params: Mapping[str, Any], now: datetime, errors: list[str],
            notes: list[str]) -> tuple[bool, dict[str, Any]]:
    raw = params.get("window") or {}
    if not raw:
        if params.get("patch"):
            errors.append("exchange_nightly_patch is true but exchange_nightly_window is empty: "
                          "patching needs a maintenance window")
        return False, {}
    try:
        state = window_state(parse_window(raw), now)
    except WindowError as exc:
        errors.append(f"exchange_nightly_window: {exc}")
        return False, {}
    opens, closes = _iso(state.opens_at), _iso(state.closes_at)
    if not params.get("patch"):
        notes.append(f"patching is off (exchange_nightly_patch false); the window {opens} to {closes} is not used")
        return False, {}
    if not state.open:
        notes.append(f"outside the maintenance window (next: {opens} to {closes}): assess and hunt only")
        return False, {}
    missing = list(params.get("hosts_without_media") or [])
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        errors.append(f"exchange_nightly_patch is true and the window is open, but exchange_media_source is not set "
                      f"for the live server(s) {shown} ({{type: unc, http or local, location: ...}}; docs/media.md)")
        return False, {}
    notes.append(f"inside the maintenance window until {closes}: servers will be patched, wave by wave, "
                 "while each wave fits before it closes")
    return True, {"applied": True, "opens_at": opens, "closes_at": closes}


def _previous(params: Mapping[str, Any], errors: list[str], notes: list[str]) -> str:
    wanted = (params.get("previous_report") or "").strip()
    if not wanted:
        notes.append("drift check off (exchange_nightly_previous_report is empty)")
        return ""
    if wanted != "auto":
        path = os.path.abspath(wanted)
        try:
            read_previous_report(path)
        except PreviousReportError as exc:
            errors.append(f"exchange_nightly_previous_report: {exc}")
            return ""
        return path
    identity = ReportIdentity(params.get("client") or "", os.path.normpath(params.get("inventory") or ""))
    found = find_previous_report(params["report_root"], identity, exclude_dir=params["report_dir"])
    if found is None:
        notes.append(f"no earlier report of this estate under {params['report_root']}: "
                     "this run is the baseline, drift is checked from the next run on")
        return ""
    notes.append(f"comparing with the previous report {found}")
    return found


def check_nightly_inputs(params: Mapping[str, Any], read_yaml: Callable[[str], Any],
                         inventory_errors: Sequence[str] = ()) -> NightlyInputs:
    """All of the run's decisions, or NightlyInputError listing every problem (inventory_errors: what
    the adapter found wrong with the inventory itself, such as a vaulted value it cannot decrypt)."""
    errors: list[str] = list(inventory_errors)
    notes: list[str] = []
    now = datetime.now(UTC)
    if params.get("now"):
        try:
            now = datetime.fromisoformat(params["now"].replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"now: {params['now']!r} is not an ISO 8601 time")
    client = params.get("client") or ""
    if client and not CLIENT_NAME.match(client):
        errors.append(f"exchange_client {client!r}: use lower-case letters, digits and '-' "
                      "(it names the client's report and evidence folders)")
    try:
        min_log_days = int(params.get("min_log_days", 30))
        if min_log_days < 0 or str(params.get("min_log_days")).strip() in {"True", "False"}:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(f"exchange_nightly_min_log_days: {params.get('min_log_days')!r} "
                      "is not a whole number of days >= 0")
        min_log_days = 0
    fail_when = _policy(params, read_yaml, errors)
    patch_now, patch_window = _window(params, now, errors, notes)
    previous = _previous(params, errors, notes)
    if errors:
        raise NightlyInputError("the nightly run's inputs are wrong; no server was touched:\n- " + "\n- ".join(errors))
    return NightlyInputs(fail_when, patch_now, patch_window, previous, min_log_days, notes)
