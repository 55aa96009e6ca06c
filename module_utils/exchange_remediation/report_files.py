"""Write a run's reports (report.json, report.html, summary.md, junit.xml) to a folder."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .estate_report import build_report
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


def write_reports(hosts: Mapping[str, Mapping[str, Any]], run: Mapping[str, Any], generated_at: str,
                  report_dir: str, schema_path: str, formats: Sequence[str] = OPTIONAL_FORMATS,
                  write: bool = True) -> WrittenReports:
    report = build_report(hosts, generated_at, run)
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
