"""Writing the report files: all four written, or none when report.json breaks its schema."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_samples import HOSTILE_SHOWN, sample_report, without_hunt

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


def test_every_format_shows_the_findings(tmp_path: Path) -> None:
    hosts = sample_report()["hosts"]
    written = write_reports(hosts, {"playbook": "hunt"}, "2026-11-29T10:00:00Z", str(tmp_path), SCHEMA)
    summary = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["summary"]
    assert summary == sample_report()["summary"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "summary.md").read_text(encoding="utf-8")
    junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    for text in (html, markdown, junit, "\n".join(written.table)):
        assert "PL-26855-HTTPPROXY" in text and "PL-27065-ECPSERVER" in text
    for text in (html, markdown, junit):
        assert "PNS-IIS-AUTODISCOVER-POWERSHELL" in text  # attempts too, marked as such
        assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    assert HOSTILE_SHOWN in markdown  # inside its fenced block
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    failure = ET.parse(tmp_path / "junit.xml").getroot().find(
        "./testsuite[@name='ex16-patched']/testcase[@name='compromised']/failure")
    assert HOSTILE_SHOWN in failure.text


def test_reports_without_a_hunt_are_written(tmp_path: Path) -> None:
    written = write_reports(without_hunt(sample_report())["hosts"], {}, "2026-11-29T10:00:00Z", str(tmp_path),
                            SCHEMA)
    assert sorted(written.files) == ["html", "json", "junit", "markdown"]
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["summary"]["hunted"] == 0
