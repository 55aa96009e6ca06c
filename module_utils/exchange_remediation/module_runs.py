"""What the exchange_assess and exchange_report tasks do, given validated arguments.

Shared by the modules in library/ and the action plugins of the same names: each adapter only
validates arguments and turns these results (or exceptions) into Ansible results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .estate_assessment import assess_estate, read_assessment, write_assessment
from .report_files import write_reports


class TaskInputError(ValueError):
    """The task's arguments or inputs cannot be used; the message says why."""


def run_assess(params: Mapping[str, Any]) -> dict[str, Any]:
    today = None
    if params.get("today"):
        try:
            today = dt.date.fromisoformat(params["today"])
        except ValueError as exc:
            raise TaskInputError(f"today must be an ISO date (YYYY-MM-DD), got {params['today']!r}") from exc
    try:
        assessment = assess_estate(params["hosts"], params["data_dir"], today, params["signature_max_age_days"])
    except ValueError as exc:
        raise TaskInputError(f"cannot load the build catalog: {exc}") from exc
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
    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    try:
        written = write_reports(hosts, params["run"], generated_at, params["report_dir"], params["schema_path"],
                                params["formats"], write=not check_mode)
    except ImportError as exc:
        raise TaskInputError(f"a Python package the reports need is missing ({exc.name}); run make setup") from exc
    except OSError as exc:
        raise TaskInputError(f"cannot write reports to {params['report_dir']}: {exc}") from exc
    except ValueError as exc:
        raise TaskInputError(str(exc)) from exc
    # Writing reports is output of the run on the controller, not a change to a managed server.
    return {"changed": False, "files": written.files, "report_dir": params["report_dir"],
            "summary": written.report["summary"], "table": written.table}
