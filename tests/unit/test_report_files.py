"""Writing the report files: all four written, or none when report.json breaks its schema."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_samples import sample_report

from exchange_remediation.report_files import ReportSchemaError, write_reports

SCHEMA = str(Path(__file__).resolve().parents[2] / "docs" / "report.schema.json")


def test_every_format_is_written_and_readable(tmp_path: Path) -> None:
    hosts = sample_report()["hosts"]
    written = write_reports(hosts, {"playbook": "assess"}, "2026-11-29T10:00:00Z", str(tmp_path), SCHEMA)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "report.html", "report.json", "summary.md"]
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["hosts"].keys() == hosts.keys()
    assert ET.parse(tmp_path / "junit.xml").getroot().tag == "testsuites"
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert written.files["markdown"] == str(tmp_path / "summary.md")
    assert any(line.startswith("Totals:") for line in written.table)


def test_a_report_that_breaks_its_schema_publishes_nothing(tmp_path: Path) -> None:
    hosts = sample_report()["hosts"]
    first = next(iter(hosts))
    hosts[first]["status"] = "probably fine"
    with pytest.raises(ReportSchemaError, match="status"):
        write_reports(hosts, {}, "2026-11-29T10:00:00Z", str(tmp_path), SCHEMA)
    assert list(tmp_path.iterdir()) == []


def test_check_mode_writes_nothing_but_still_validates_and_tabulates(tmp_path: Path) -> None:
    written = write_reports(sample_report()["hosts"], {}, "2026-11-29T10:00:00Z", str(tmp_path / "out"), SCHEMA,
                            write=False)
    assert not (tmp_path / "out").exists()
    assert written.files == {} and written.table
