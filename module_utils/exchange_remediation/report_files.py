"""Write a run's reports (report.json, report.html, summary.md, junit.xml) to a folder, and read
the remediation run's files the reports show (plan.json, outcomes/<host>.json, the assessment
taken before patching)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .estate_assessment import read_assessment
from .estate_report import build_report
from .remediation_summary import RemediationReport, UnreadableOutcome, check_plan, summarise_remediation
from .report_html import render_html
from .report_junit import render_junit
from .report_markdown import render_markdown
from .report_table import render_summary_table

FILE_NAMES = {"json": "report.json", "html": "report.html", "markdown": "summary.md", "junit": "junit.xml"}
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "html": render_html, "markdown": render_markdown, "junit": render_junit,
}
OPTIONAL_FORMATS = tuple(RENDERERS)


class ReportSchemaError(ValueError):
    """report.json does not satisfy its schema; nothing was written."""


class ReportInputError(ValueError):
    """A file the report reads cannot be used; the message names it and says why."""


@dataclass
class WrittenReports:
    report: dict[str, Any]
    table: list[str]
    files: dict[str, str] = field(default_factory=dict)


def _write_atomically(path: str, text: str) -> None:
    """A reader (CI collecting artefacts) never sees a half-written report."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load_schema_validator(schema_path: str) -> Callable[[dict[str, Any]], None]:
    """Compile the JSON Schema once; the validator raises ReportSchemaError on the first problem.

    fastjsonschema compiles the schema to Python and checks a 200-host report in tens of
    milliseconds, where the generic jsonschema validator needs about a second.
    """
    import fastjsonschema

    with open(schema_path, encoding="utf-8") as handle:
        compiled = fastjsonschema.compile(json.load(handle))

    def validate(report: dict[str, Any]) -> None:
        try:
            compiled(report)
        except fastjsonschema.JsonSchemaException as exc:
            raise ReportSchemaError(f"report.json does not match its schema: {exc.message}") from exc

    return validate


def _problem(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def read_plan(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return check_plan(json.load(handle))
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError and PlanError are ValueErrors
        raise ReportInputError(f"cannot read the plan {path}: {_problem(exc)}") from exc


def read_before(path: str) -> dict[str, dict[str, Any]]:
    try:
        return read_assessment(path)
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"cannot read the assessment taken before remediation {path}: {_problem(exc)}") from exc


def read_outcomes(folder: str) -> dict[str, dict[str, Any] | UnreadableOutcome]:
    """Every outcomes/<host>.json, by host. A missing folder means no server was touched yet (a
    plan-only run); a file that cannot be read or parsed is kept as UnreadableOutcome, so its
    server is reported with the reason instead of disappearing from the report."""
    if not os.path.exists(folder):
        return {}
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ReportInputError(f"cannot read the outcomes folder {folder}: {_problem(exc)}") from exc
    outcomes: dict[str, dict[str, Any] | UnreadableOutcome] = {}
    for name in names:
        # Dot files are editor or atomic-write leftovers, not outcomes.
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                outcomes[name[: -len(".json")]] = json.load(handle)
        except (OSError, ValueError) as exc:
            outcomes[name[: -len(".json")]] = UnreadableOutcome(f"{name}: {_problem(exc)}")
    return outcomes


def read_remediation(hosts: Mapping[str, Mapping[str, Any]], plan_file: str, before_file: str | None = None,
                     outcomes_dir: str | None = None) -> RemediationReport:
    """The report's remediation from the run's files; ReportInputError names a file that cannot be used."""
    plan = read_plan(plan_file)
    before = read_before(before_file) if before_file else None
    outcomes = read_outcomes(outcomes_dir) if outcomes_dir else {}
    return summarise_remediation(hosts, plan, before, outcomes)


def write_reports(hosts: Mapping[str, Mapping[str, Any]], run: Mapping[str, Any], generated_at: str,
                  report_dir: str, schema_path: str, formats: Sequence[str] = OPTIONAL_FORMATS,
                  write: bool = True, remediation: RemediationReport | None = None) -> WrittenReports:
    report = build_report(hosts, generated_at, run, remediation)
    pending: dict[str, int] = {}
    if write:
        os.makedirs(report_dir, exist_ok=True)
        # Rendering starts while the parent validates; nothing is published unless valid.
        pending = _render_in_children(report, formats, report_dir)
    try:
        load_schema_validator(schema_path)(report)
    except BaseException:
        for name, pid in pending.items():
            _child_succeeded(pid)
            _remove_quietly(_staged_path(report_dir, name))
        raise
    result = WrittenReports(report, render_summary_table(report).splitlines())
    if not write:
        return result
    # Compact: json.dumps with indent falls back to the pure-Python encoder, several times slower
    # on a large estate; `jq . report.json` pretty-prints it for a reader.
    _write_atomically(os.path.join(report_dir, FILE_NAMES["json"]), json.dumps(report) + "\n")
    result.files["json"] = os.path.join(report_dir, FILE_NAMES["json"])
    for name in formats:
        path = os.path.join(report_dir, FILE_NAMES[name])
        if _child_succeeded(pending.get(name)):
            os.replace(_staged_path(report_dir, name), path)
        else:
            # A child that failed (or no fork on this platform) is redone here, so its error surfaces.
            _remove_quietly(_staged_path(report_dir, name))
            _write_atomically(path, RENDERERS[name](report))
        result.files[name] = path
    return result


def _staged_path(report_dir: str, name: str) -> str:
    return os.path.join(report_dir, f".staged-{FILE_NAMES[name]}")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _render_in_children(report: dict[str, Any], formats: Sequence[str], report_dir: str) -> dict[str, int]:
    """Render each report in a forked child into a staged file: the renderers are CPU-bound and
    independent, and a 200-host estate spends most of its report time in them.
    Returns format -> child pid."""
    if not hasattr(os, "fork") or len(formats) < 2:
        return {}
    children = {}
    for name in formats:
        pid = os.fork()
        if pid == 0:  # child: render, write, leave without running the parent's cleanup
            code = 1
            try:
                _write_atomically(_staged_path(report_dir, name), RENDERERS[name](report))
                code = 0
            finally:
                os._exit(code)
        children[name] = pid
    return children


def _child_succeeded(pid: int | None) -> bool:
    if pid is None:
        return False
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
