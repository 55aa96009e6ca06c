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
    "hunt_file": {"type": "path"},
    "min_coverage_percent": {"type": "float", "default": 90.0},
}

HUNT_ARGUMENTS: dict[str, Any] = {
    "data_dir": {"type": "path", "required": True},
    "hosts": {"type": "dict"},
    "output_file": {"type": "path"},
    "max_findings_per_rule": {"type": "int", "default": 200},
    "collection_spec": {"type": "bool", "default": False},
    "since_days": {"type": "int", "default": 90},
    "max_bytes": {"type": "int", "default": 64 * 1024 * 1024},
    "max_file_bytes": {"type": "int", "default": 16 * 1024 * 1024},
    "max_events_per_channel": {"type": "int", "default": 20000},
}

REPORT_ARGUMENTS: dict[str, Any] = {
    "assessment_file": {"type": "path", "required": True},
    "report_dir": {"type": "path", "required": True},
    "schema_path": {"type": "path", "required": True},
    "run": {"type": "dict", "default": {}},
    "formats": {"type": "list", "elements": "str", "choices": ["html", "markdown", "junit", "stix", "indicators_csv"],
                "default": ["html", "markdown", "junit"]},
    # The remediation run's files (remediate.yml); all absent = an assessment report.
    "before_file": {"type": "path"},
    "plan_file": {"type": "path"},
    "outcomes_dir": {"type": "path"},
    # The nightly run (nightly.yml); all absent = a report exactly as before.
    "policy": {"type": "list", "elements": "str"},
    "patch_window": {"type": "dict"},
    "previous_report": {"type": "path"},
    "min_log_days": {"type": "int", "default": 0},
    "export_hostnames": {"type": "bool", "default": True},
}
