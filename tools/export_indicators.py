#!/usr/bin/env python3
"""Export the indicators of a report.json as CSV and/or a STIX 2.1 bundle (docs/exports.md).

    python tools/export_indicators.py reports/20261129T020000Z/report.json \\
        --csv indicators.csv --stix indicators.stix.json --no-hostnames

Exit status: 0 written, 1 bad input (missing or unreadable file, not a report.json, a file that
cannot be written), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "module_utils"))

from exchange_remediation.indicator_export import indicator_rows, indicators_csv  # noqa: E402

STDOUT = "-"


class ExportError(Exception):
    """Bad input or output; the message is for the user."""


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="export_indicators.py",
        description="Export the indicators (attacker addresses, user agents, files, hashes, URLs) of a report.json "
                    "as CSV and/or a STIX 2.1 bundle, e.g. to share with a CERT.",
        epilog="Exit status: 0 written, 1 bad input or unwritable output, 2 usage error. See docs/exports.md.")
    result.add_argument("report", metavar="REPORT_JSON", help="report.json written by playbooks/assess.yml")
    result.add_argument("--csv", metavar="FILE", help="write the CSV here ('-' for standard output)")
    result.add_argument("--stix", metavar="FILE", help="write the STIX 2.1 bundle here ('-' for standard output)")
    result.add_argument("--no-hostnames", action="store_true",
                        help="name servers by pseudonym (server-01, …) and replace every inventory name, hostname "
                             "and FQDN in the exported values by [redacted]")
    return result


def read_report(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise ExportError(f"report {path}: no such file") from exc
    except IsADirectoryError as exc:
        raise ExportError(f"report {path}: is a folder; give the report.json inside it") from exc
    except OSError as exc:
        raise ExportError(f"report {path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        report = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ExportError(f"report {path}: not JSON ({exc})") from exc
    if not isinstance(report, dict) or report.get("schema") != 1 or not isinstance(report.get("hosts"), Mapping):
        raise ExportError(f"report {path}: not a report.json (format 1 needs \"schema\": 1 and a \"hosts\" object)")
    return report


def write_text(path: str, text: str, what: str) -> None:
    if path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        folder = os.path.dirname(os.path.abspath(path))
        temporary = f"{path}.tmp"
        os.makedirs(folder, exist_ok=True)
        # newline="": the CSV already has its CRLF line ends, which must not be translated.
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise ExportError(f"{what} {path}: cannot be written ({exc.strerror or exc})") from exc


def export(report_path: str, csv_path: str | None, stix_path: str | None, include_hostnames: bool) -> list[str]:
    """Write the requested files; returns one line per file for the user."""
    report = read_report(report_path)
    done = []
    if csv_path:
        rows = indicator_rows(report, include_hostnames)
        write_text(csv_path, indicators_csv(rows), "CSV")
        done.append(f"{csv_path}: {len(rows)} indicator rows")
    if stix_path:
        try:
            from exchange_remediation.stix_export import stix_bundle
            text = stix_bundle(report, include_hostnames)
        except ImportError as exc:
            raise ExportError(f"the STIX export needs the Python package {exc.name or 'stix2'}: "
                              "pip install -r requirements.txt") from exc
        write_text(stix_path, text, "STIX bundle")
        done.append(f"{stix_path}: {len(json.loads(text).get('objects', []))} STIX objects")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)  # exits 2 on a usage error
    if not arguments.csv and not arguments.stix:
        parser().error("nothing to write: give --csv FILE and/or --stix FILE")
    if arguments.csv == STDOUT and arguments.stix == STDOUT:
        parser().error("only one of --csv and --stix can go to standard output")
    try:
        done = export(arguments.report, arguments.csv, arguments.stix, not arguments.no_hostnames)
    except ExportError as exc:
        print(f"export_indicators: {exc}", file=sys.stderr)
        return 1
    for line in done:
        print(line, file=sys.stderr if STDOUT in (arguments.csv, arguments.stix) else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
