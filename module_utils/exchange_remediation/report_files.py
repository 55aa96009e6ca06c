"""Write a run's reports (report.json, report.html with a page per server, summary.md, junit.xml,
and the indicator exports) to a folder, and read the remediation run's files the reports show
(plan.json, outcomes/<host>.json, the assessment taken before patching).

A nightly run adds to report.json, in this order: each server's log retention, the patch
window, the drift against the previous report, then the policy, which is evaluated last so that
its conditions see all of them."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .estate_assessment import read_assessment
from .estate_report import build_report
from .log_retention import apply_retention
from .nightly_policy import evaluate_policy
from .remediation_summary import RemediationReport, UnreadableOutcome, check_plan, summarise_remediation
from .report_drift import compare_reports
from .report_html import page_names, render_html, render_server_pages
from .report_junit import render_junit
from .report_markdown import render_markdown
from .report_table import render_summary_table

FILE_NAMES = {"json": "report.json", "html": "report.html", "markdown": "summary.md", "junit": "junit.xml",
              "stix": "indicators.stix.json", "indicators_csv": "indicators.csv"}
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "html": render_html, "markdown": render_markdown, "junit": render_junit,
}
# Written unless the task asks otherwise; the indicator exports only on request.
OPTIONAL_FORMATS = tuple(RENDERERS)
FORMATS = (*RENDERERS, "stix", "indicators_csv")
SERVER_PAGES = "servers"
# report.json's top-level keys in the order a reader meets them; hosts, the long one, last.
_KEY_ORDER = ("schema", "generated_at", "run", "summary", "remediation", "patch_window", "drift", "policy")


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


@dataclass(frozen=True)
class NightlyOptions:
    """What a nightly run adds to report.json; the defaults add nothing."""

    fail_when: tuple[str, ...] | None = None  # None: no policy object
    patch_window: Mapping[str, Any] | None = None  # checked record (maintenance_window.check_patch_window)
    # drift: compare with the previous report (report_drift.read_previous_report); with drift
    # but no previous report (the first night), the drift object says so (previous null).
    drift: bool = False
    previous: Mapping[str, Any] | None = None
    previous_path: str | None = None
    min_log_days: int = 0  # 0: no retention check
    include_hostnames: bool = True  # in the indicator exports


def extend_report(report: dict[str, Any], options: NightlyOptions) -> dict[str, Any]:
    """report with the nightly keys; policy last, so its conditions see drift and retention."""
    report = apply_retention(report, options.min_log_days)
    if options.patch_window is not None:
        report["patch_window"] = dict(options.patch_window)
    if options.drift or options.previous is not None:
        report["drift"] = compare_reports(report, options.previous, options.previous_path)
    if options.fail_when is not None:
        report["policy"] = evaluate_policy(report, options.fail_when)
    ordered = {key: report[key] for key in _KEY_ORDER if key in report}
    ordered.update((key, value) for key, value in report.items() if key not in ordered)
    return ordered


def render_files(name: str, report: dict[str, Any], include_hostnames: bool = True) -> dict[str, str]:
    """The files of one format, by path relative to the report folder."""
    if name == "stix":
        from .stix_export import stix_bundle  # another concern's module: only loaded when asked for

        return {FILE_NAMES[name]: stix_bundle(report, include_hostnames)}
    if name == "indicators_csv":
        from .indicator_export import indicator_rows, indicators_csv

        return {FILE_NAMES[name]: indicators_csv(indicator_rows(report, include_hostnames))}
    files = {FILE_NAMES[name]: RENDERERS[name](report)}
    if name == "html":
        names = page_names(report)
        for host, page in render_server_pages(report).items():
            files[f"{SERVER_PAGES}/{names[host]}.html"] = page
    return files


def write_reports(hosts: Mapping[str, Mapping[str, Any]], run: Mapping[str, Any], generated_at: str,
                  report_dir: str, schema_path: str, formats: Sequence[str] = OPTIONAL_FORMATS,
                  write: bool = True, remediation: RemediationReport | None = None,
                  nightly: NightlyOptions | None = None) -> WrittenReports:
    nightly = nightly or NightlyOptions()
    report = extend_report(build_report(hosts, generated_at, run, remediation), nightly)
    pending: dict[str, int] = {}
    if write:
        os.makedirs(report_dir, exist_ok=True)
        # Rendering starts while the parent validates; nothing is published unless valid.
        pending = _render_in_children(report, formats, report_dir, nightly.include_hostnames)
    try:
        load_schema_validator(schema_path)(report)
    except BaseException:
        for name, pid in pending.items():
            _child_succeeded(pid)
            _remove_staged(report_dir, name)
        raise
    result = WrittenReports(report, render_summary_table(report).splitlines())
    if not write:
        return result
    # Compact: json.dumps with indent falls back to the pure-Python encoder, several times slower
    # on a large estate; `jq . report.json` pretty-prints it for a reader.
    _write_atomically(os.path.join(report_dir, FILE_NAMES["json"]), json.dumps(report) + "\n")
    result.files["json"] = os.path.join(report_dir, FILE_NAMES["json"])
    for name in formats:
        if _child_succeeded(pending.get(name)):
            _publish_staged(report_dir, name)
        else:
            # A child that failed (or no fork on this platform) is redone here, so its error surfaces.
            _remove_staged(report_dir, name)
            for relative, text in render_files(name, report, nightly.include_hostnames).items():
                path = os.path.join(report_dir, relative)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                _write_atomically(path, text)
        result.files[name] = os.path.join(report_dir, FILE_NAMES[name])
    return result


def _staged_dir(report_dir: str, name: str) -> str:
    return os.path.join(report_dir, f".staged-{FILE_NAMES[name]}")


def _remove_staged(report_dir: str, name: str) -> None:
    staged = _staged_dir(report_dir, name)
    if os.path.isdir(staged):
        shutil.rmtree(staged, ignore_errors=True)
    elif os.path.lexists(staged):  # a staged file left by an older version that crashed
        os.unlink(staged)


def _publish_staged(report_dir: str, name: str) -> None:
    """Move a child's files into place, one atomic rename each; the main file last, so that a
    reader who sees report.html also finds its server pages."""
    staged = _staged_dir(report_dir, name)
    relatives = sorted(os.path.relpath(os.path.join(folder, file), staged)
                       for folder, _, files in os.walk(staged) for file in files)
    for relative in sorted(relatives, key=lambda path: path == FILE_NAMES[name]):
        target = os.path.join(report_dir, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(os.path.join(staged, relative), target)
    _remove_staged(report_dir, name)


def _render_in_children(report: dict[str, Any], formats: Sequence[str], report_dir: str,
                        include_hostnames: bool = True) -> dict[str, int]:
    """Render each report in a forked child into a staged folder: the renderers are CPU-bound and
    independent, and a 200-host estate spends most of its report time in them.
    Returns format -> child pid."""
    if not hasattr(os, "fork") or len(formats) < 2:
        return {}
    children = {}
    for name in formats:
        _remove_staged(report_dir, name)  # left over by a run that was killed
        pid = os.fork()
        if pid == 0:  # child: render, write, leave without running the parent's cleanup
            code = 1
            try:
                staged = _staged_dir(report_dir, name)
                for relative, text in render_files(name, report, include_hostnames).items():
                    path = os.path.join(staged, relative)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    _write_atomically(path, text)
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
