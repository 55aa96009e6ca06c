"""What the exchange_assess, exchange_hunt and exchange_report tasks do, given validated arguments.

Shared by the modules in library/ and the action plugins of the same names: each adapter only
validates arguments and turns these results (or exceptions) into Ansible results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from .estate_assessment import assess_estate, read_assessment, write_assessment
from .report_files import NightlyOptions, ReportInputError, read_remediation, write_reports


class TaskInputError(ValueError):
    """The task's arguments or inputs cannot be used; the message says why."""


def run_assess(params: Mapping[str, Any]) -> dict[str, Any]:
    today = None
    if params.get("today"):
        try:
            today = dt.date.fromisoformat(params["today"])
        except ValueError as exc:
            raise TaskInputError(f"today must be an ISO date (YYYY-MM-DD), got {params['today']!r}") from exc
    hunt = None
    if params.get("hunt_file"):
        from .estate_hunt import read_hunt

        try:
            hunt = read_hunt(params["hunt_file"])
        except (OSError, ValueError) as exc:
            raise TaskInputError(f"cannot read the hunt results {params['hunt_file']}: {exc}") from exc
    if not 0 <= params["min_coverage_percent"] <= 100:
        raise TaskInputError(f"min_coverage_percent must be between 0 and 100, got {params['min_coverage_percent']}")
    try:
        assessment = assess_estate(params["hosts"], params["data_dir"], today, params["signature_max_age_days"],
                                   hunt, params["min_coverage_percent"])
    except ValueError as exc:
        raise TaskInputError(f"cannot load the catalog data: {exc}") from exc
    try:
        write_assessment(assessment, params["output_file"])
    except OSError as exc:
        raise TaskInputError(f"cannot write {params['output_file']}: {exc.strerror}") from exc
    return {"changed": False, "hosts": assessment.compact(), "summary": assessment.summary,
            "output_file": params["output_file"]}


def run_report(params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    try:
        hosts = read_assessment(params["assessment_file"])
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"cannot read the assessment {params['assessment_file']}: {exc}") from exc
    remediation = None
    if params.get("plan_file"):
        try:
            remediation = read_remediation(hosts, params["plan_file"], params.get("before_file") or None,
                                           params.get("outcomes_dir") or None)
        except ReportInputError as exc:
            raise TaskInputError(str(exc)) from exc
    elif params.get("before_file") or params.get("outcomes_dir"):
        # Outcomes and a before assessment only mean something against the plan they carried out.
        raise TaskInputError("before_file and outcomes_dir need plan_file (the plan.json of the same run)")
    nightly = _nightly_options(params)
    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    try:
        written = write_reports(hosts, params["run"], generated_at, params["report_dir"], params["schema_path"],
                                params["formats"], write=not check_mode, remediation=remediation, nightly=nightly)
    except ImportError as exc:
        raise TaskInputError(f"a Python package the reports need is missing ({exc.name}); run make setup") from exc
    except OSError as exc:
        raise TaskInputError(f"cannot write reports to {params['report_dir']}: {exc}") from exc
    except ValueError as exc:
        raise TaskInputError(str(exc)) from exc
    # Writing reports is output of the run on the controller, not a change to a managed server.
    result = {"changed": False, "files": written.files, "report_dir": params["report_dir"],
              "summary": written.report["summary"], "table": written.table,
              "policy": written.report.get("policy")}
    if remediation is not None:
        result["remediation"] = remediation.estate
    return result


def _nightly_options(params: Mapping[str, Any]) -> NightlyOptions:
    """The nightly parameters (policy, patch_window, previous_report, min_log_days,
    export_hostnames), checked; all absent = a report exactly as before."""
    from .maintenance_window import WindowError, check_patch_window
    from .nightly_policy import PolicyError, parse_fail_when
    from .report_drift import PreviousReportError, read_previous_report

    fail_when = None
    if params.get("policy") is not None:
        try:
            fail_when = parse_fail_when(params["policy"])
        except PolicyError as exc:
            raise TaskInputError(f"policy: {exc}") from exc
    patch_window = None
    if params.get("patch_window"):
        try:
            patch_window = check_patch_window(params["patch_window"])
        except WindowError as exc:
            raise TaskInputError(str(exc)) from exc
    # A path: compare with it. An empty string: drift is checked but there is no earlier report
    # (a nightly run's first night), which the report says. Omitted: no drift object.
    previous = None
    if params.get("previous_report"):
        try:
            previous = read_previous_report(params["previous_report"])
        except PreviousReportError as exc:
            raise TaskInputError(str(exc)) from exc
    min_log_days = params.get("min_log_days") or 0
    if min_log_days < 0:
        raise TaskInputError(f"min_log_days must be 0 (off) or more, got {min_log_days}")
    return NightlyOptions(fail_when, patch_window, params.get("previous_report") is not None, previous,
                          params.get("previous_report") or None, min_log_days,
                          params.get("export_hostnames", True) is not False)


def run_hunt(params: Mapping[str, Any], progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Either the collector's instructions (collection_spec) or the hunt over every host's bundle."""
    # Imported here: every task of the play imports this module in its own worker, and only the
    # hunt task needs the engine.
    from .estate_hunt import hunt_estate, summarise_hunt, write_hunt
    from .hunt_engine import HuntLimits

    if params["max_findings_per_rule"] < 1:
        raise TaskInputError("max_findings_per_rule must be at least 1")
    if params.get("collection_spec"):
        return _collection_spec(params)
    if not isinstance(params.get("hosts"), Mapping) or not params.get("output_file"):
        raise TaskInputError("hosts and output_file are required unless collection_spec is true")
    try:
        results = hunt_estate(params["hosts"], params["data_dir"],
                              HuntLimits(max_findings_per_rule=params["max_findings_per_rule"]), progress)
    except ValueError as exc:
        raise TaskInputError(f"cannot load the indicator rules: {exc}") from exc
    try:
        write_hunt(results, params["output_file"])
    except OSError as exc:
        raise TaskInputError(f"cannot write {params['output_file']}: {exc.strerror}") from exc
    hosts = {name: {"status": entry["status"], "error": entry.get("error"),
                    "findings": len(entry.get("findings") or [])} for name, entry in results.items()}
    return {"changed": False, "hosts": hosts, "summary": summarise_hunt(results), "output_file": params["output_file"]}


def _collection_spec(params: Mapping[str, Any]) -> dict[str, Any]:
    from .hunt_collection_spec import collection_spec
    from .hunt_rule import load_rule_set

    for name in ("since_days", "max_bytes", "max_file_bytes", "max_events_per_channel"):
        if params[name] < 1:
            raise TaskInputError(f"{name} must be at least 1")
    try:
        rule_set = load_rule_set(params["data_dir"])
    except ValueError as exc:
        raise TaskInputError(f"cannot load the indicator rules: {exc}") from exc
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=params["since_days"])).date().isoformat()
    spec = collection_spec(rule_set, since=since, max_bytes=params["max_bytes"],
                           max_file_bytes=params["max_file_bytes"],
                           max_events_per_channel=params["max_events_per_channel"])
    return {"changed": False, "collection_spec": spec}
