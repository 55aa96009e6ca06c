"""tools/export_indicators.py: files written from a real demo report.json, clear errors, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import export_indicators
import pytest
import stix2
from test_indicator_export import demo_report

from exchange_remediation.indicator_export import CSV_COLUMNS, report_host_names

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "export_indicators.py"


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "reports" / "20261129T020000Z" / "report.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(demo_report(), indent=2), encoding="utf-8")
    return path


def test_writes_csv_and_stix(report_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = export_indicators.main([str(report_file), "--csv", str(out / "indicators.csv"),
                                   "--stix", str(out / "indicators.stix.json")])
    assert code == 0
    data = (out / "indicators.csv").read_bytes()
    assert data.startswith((",".join(CSV_COLUMNS) + "\r\n").encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert any(row["value"] == "104.140.114.110" and row["server"] == "ex16-legacy" for row in rows)
    bundle = stix2.parse((out / "indicators.stix.json").read_text(encoding="utf-8"), allow_custom=False)
    said = capsys.readouterr().out
    assert f"indicators.csv: {len(rows)} indicator rows" in said
    assert f"indicators.stix.json: {len(bundle.objects)} STIX objects" in said
    assert not list(out.glob("*.tmp"))


def test_no_hostnames(report_file: Path, tmp_path: Path) -> None:
    csv_path, stix_path = tmp_path / "i.csv", tmp_path / "i.stix.json"
    assert export_indicators.main([str(report_file), "--csv", str(csv_path), "--stix", str(stix_path),
                                   "--no-hostnames"]) == 0
    text = (csv_path.read_text(encoding="utf-8") + stix_path.read_text(encoding="utf-8")).lower()
    for name in report_host_names(demo_report()):
        assert name.lower() not in text, name
    assert "server-05" in text


def test_csv_to_standard_output(report_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_indicators.main([str(report_file), "--csv", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("type,value,scope,")
    assert "indicator rows" in captured.err


def test_same_report_same_files(report_file: Path, tmp_path: Path) -> None:
    for run in ("a", "b"):
        assert export_indicators.main([str(report_file), "--csv", str(tmp_path / run / "i.csv"),
                                       "--stix", str(tmp_path / run / "i.json")]) == 0
    for name in ("i.csv", "i.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    (b"{not json", "not JSON"),
    (b"\xff\xfe\x00garbage", "not JSON"),
    (b'{"schema": 2, "hosts": {}}', "not a report.json"),
    (b'[{"schema": 1}]', "not a report.json"),
    (b'{"schema": 1, "hosts": []}', "not a report.json"),
])
def test_bad_input_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None,
                           message: str) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_bytes(content)
    assert export_indicators.main([str(path), "--csv", str(tmp_path / "i.csv")]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"export_indicators: report {path}: ")
    assert message in error
    assert not (tmp_path / "i.csv").exists()


def test_a_folder_is_not_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_indicators.main([str(tmp_path), "--csv", "-"]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_unwritable_output_exits_1(report_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    assert export_indicators.main([str(report_file), "--stix", str(blocker / "i.json")]) == 1
    assert f"STIX bundle {blocker / 'i.json'}: cannot be written" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    [],  # no report
    ["report.json"],  # nothing to write
    ["report.json", "--csv", "-", "--stix", "-"],  # both to standard output
    ["report.json", "--csv", "x.csv", "--colour"],  # unknown option
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        export_indicators.main(argv)
    assert stopped.value.code == 2
    assert "usage: export_indicators.py" in capsys.readouterr().err


def test_the_script_runs_on_its_own(report_file: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(TOOL), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "--no-hostnames" in done.stdout
    done = subprocess.run([sys.executable, str(TOOL), str(report_file), "--stix", str(tmp_path / "b.json")],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["type"] == "bundle"
    done = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "missing.json"), "--csv", "-"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "no such file" in done.stderr
