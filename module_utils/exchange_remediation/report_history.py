"""Find the report a nightly run compares itself with: the newest earlier report of the same estate.

Reports of different estates can share one reports/ folder (the demo, molecule runs, a client
without exchange_client set). Comparing with another estate's report would be worse than no drift
check at all - every server would show as added or gone, and an MSP would see one client's host
names in another's report - so a report counts only when it names the same client and inventory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .report_drift import PreviousReportError, read_previous_report


@dataclass(frozen=True)
class ReportIdentity:
    client: str
    inventory: str


def report_identity(report: Mapping[str, Any]) -> ReportIdentity:
    run = report.get("run") if isinstance(report.get("run"), Mapping) else {}
    return ReportIdentity(str(run.get("client") or ""), os.path.normpath(str(run.get("inventory") or "")))


def find_previous_report(report_root: str, identity: ReportIdentity, exclude_dir: str = "") -> str | None:
    """The newest <report_root>/<run>/report.json of the same estate, by modification time.

    Folders are walked one level deep (reports/<client>/<run>/); unreadable or foreign reports
    are passed over, never an error: auto-discovery must not stop a nightly run.
    """
    if not os.path.isdir(report_root):
        return None
    excluded = os.path.realpath(exclude_dir) if exclude_dir else ""
    candidates: list[tuple[float, str]] = []
    for name in os.listdir(report_root):
        folder = os.path.join(report_root, name)
        path = os.path.join(folder, "report.json")
        if not os.path.isfile(path) or (excluded and os.path.realpath(folder) == excluded):
            continue
        candidates.append((os.path.getmtime(path), path))
    for _mtime, path in sorted(candidates, reverse=True):
        try:
            report = read_previous_report(path)
        except PreviousReportError:
            continue
        if report_identity(report) == identity:
            return path
    return None
