"""docs/report.schema.json: accepts the sample report, rejects what breaks the contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_samples import sample_report

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_schema_declares_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["schema", "generated_at", "hosts"]


def test_sample_report_is_valid(validator: jsonschema.Draft7Validator) -> None:
    errors = [error.message for error in validator.iter_errors(sample_report())]
    assert errors == []


def test_minimal_contract_report_is_valid(validator: jsonschema.Draft7Validator) -> None:
    # Exactly the DESIGN.md example keys, no extension: older writers stay valid.
    report = {
        "schema": 1,
        "generated_at": "2021-03-08T10:00:00Z",
        "hosts": {"ex01": {
            "status": "ok",
            "exchange": {"product": "Exchange Server 2016", "cu": "CU19", "su": "Mar21SU",
                         "build": "15.1.2176.9", "supported": False, "latest": False},
            "cves": {"CVE-2021-26855": "patched"},
            "indicators": [],
            "verdict": {"vulnerable": False, "compromised": "no"},
        }},
    }
    assert validator.is_valid(report)


def test_unknown_extension_keys_are_allowed(validator: jsonschema.Draft7Validator) -> None:
    report = sample_report()
    report["future_key"] = {"anything": [1, 2]}
    report["hosts"]["ex16"]["mitigations"] = [{"cve": "CVE-2021-26857", "verified": True}]
    report["hosts"]["ex16"]["exchange"]["su_known"] = True
    assert validator.is_valid(report)


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(report: dict[str, Any]) -> None:
        target = report
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(report: dict[str, Any]) -> None:
        target = report
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


BAD_REPORTS = {
    "schema version 2": _set(("schema",), 2),
    "no hosts": _delete(("hosts",)),
    "bad status": _set(("hosts", "ex19", "status"), "fine"),
    "bad cve value": _set(("hosts", "ex19", "cves", "CVE-2021-26855"), "fixed"),
    "bad cve id": _set(("hosts", "ex19", "cves", "26855"), "patched"),
    "bad cve_details status": _set(("hosts", "ex16", "cve_details", "CVE-2021-26855", "status"), "open"),
    "error host without reason": _delete(("hosts", "ex13-broken", "error")),
    "error host with null reason": _set(("hosts", "ex13-broken", "error"), None),
    "error host reported clean": _set(("hosts", "ex13-broken", "verdict", "compromised"), "no"),
    "verdict vulnerable as text": _set(("hosts", "ex16", "verdict", "vulnerable"), "yes"),
    "verdict compromised bad": _set(("hosts", "ex16", "verdict", "compromised"), "maybe"),
    "missing verdict": _delete(("hosts", "ex19", "verdict")),
    "bad severity": _set(("hosts", "ex16", "indicators", 0, "severity"), "info"),
    "indicator without line key": _delete(("hosts", "ex16", "indicators", 0, "line")),
    "indicator line as text": _set(("hosts", "ex16", "indicators", 0, "line"), "7"),
    "zero-padded build": _set(("hosts", "ex16", "exchange", "build"), "15.01.2176.002"),
    "supported as text": _set(("hosts", "ex16", "exchange", "supported"), "no"),
    "bad support_end": _set(("hosts", "ex16", "exchange", "support_end"), "14/10/2025"),
    "bad next_step action": _set(("hosts", "ex16", "next_step", "action"), "reboot"),
    "warning without code": _delete(("hosts", "ex16", "warnings", 0, "code")),
    "bad source": _set(("hosts", "ex16", "source"), "winrm"),
    "negative summary count": _set(("summary", "hosts"), -1),
    "check_mode as text": _set(("run", "check_mode"), "yes"),
}


@pytest.mark.parametrize("mutate", BAD_REPORTS.values(), ids=list(BAD_REPORTS))
def test_schema_rejects(validator: jsonschema.Draft7Validator,
                        mutate: Callable[[dict[str, Any]], None]) -> None:
    report = sample_report()
    assert validator.is_valid(report)
    mutate(report)
    assert not validator.is_valid(report)
