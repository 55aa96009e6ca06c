"""Argument specs shared by each module in library/ and the action plugin of the same name,
so both validate a task's arguments identically."""

from __future__ import annotations

from typing import Any

ASSESS_ARGUMENTS: dict[str, Any] = {
    "hosts": {"type": "dict", "required": True},
    "data_dir": {"type": "path", "required": True},
    "output_file": {"type": "path", "required": True},
    "today": {"type": "str"},
    "signature_max_age_days": {"type": "int", "default": 7},
}

REPORT_ARGUMENTS: dict[str, Any] = {
    "assessment_file": {"type": "path", "required": True},
    "report_dir": {"type": "path", "required": True},
    "schema_path": {"type": "path", "required": True},
    "run": {"type": "dict", "default": {}},
    "formats": {"type": "list", "elements": "str", "choices": ["html", "markdown", "junit"],
                "default": ["html", "markdown", "junit"]},
}
