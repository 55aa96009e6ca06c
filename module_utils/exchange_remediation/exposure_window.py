"""When a server was open to an exploitation campaign, and how much of that its logs can see.

A family's window runs from the later of the day exploitation began in the wild and the day
Exchange was installed on the server, until the day the fix was installed (or the day the
evidence was collected, while the server is still open). Logs that reach back over the whole
window can show whether the server was attacked; logs that cover a sliver of it cannot clear it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from .cve_status import MITIGATED, NOT_APPLICABLE, PATCHED, VULNERABLE

FAMILIES_FILE = os.path.join("indicators", "exploitation-windows.yml")


class ExposureDataError(ValueError):
    """The exploitation-windows data file is missing or malformed."""


@dataclass(frozen=True)
class ExploitationFamily:
    name: str
    attacks: tuple[str, ...]
    cves: tuple[str, ...]
    began: dt.date
    mass_exploitation: tuple[dt.date, dt.date] | None


@dataclass(frozen=True)
class FixDate:
    """The latest day by which a fix was on the server; None when no record tells."""

    day: dt.date | None
    basis: str


@dataclass(frozen=True)
class ExposureWindow:
    family: ExploitationFamily
    start: dt.date | None
    end: dt.date | None
    basis: str

    @property
    def exposed(self) -> bool:
        return self.start is not None and self.end is not None and self.start < self.end

    def to_report(self, covered: float | None) -> dict[str, Any]:
        return {
            "attack": self.family.name,
            "attacks": list(self.family.attacks),
            "cves": list(self.family.cves),
            "exploitation_began": self.family.began.isoformat(),
            "exposed": self.exposed,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "end_basis": self.basis,
            "covered_percent": covered,
        }


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ExposureDataError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from exc


def parse_families(data: Any) -> tuple[ExploitationFamily, ...]:
    if not isinstance(data, Mapping) or not isinstance(data.get("families"), list):
        raise ExposureDataError(f"{FAMILIES_FILE} must hold a 'families' list")
    families = []
    for index, item in enumerate(data["families"]):
        where = f"{FAMILIES_FILE} families[{index}]"
        if not isinstance(item, Mapping) or not item.get("name") or not item.get("cves"):
            raise ExposureDataError(f"{where} needs a name and cves")
        mass = item.get("mass_exploitation")
        families.append(ExploitationFamily(
            name=str(item["name"]),
            attacks=tuple(str(a) for a in item.get("attacks") or (item["name"],)),
            cves=tuple(str(c) for c in item["cves"]),
            began=_date(item.get("exploitation_began"), where),
            mass_exploitation=(_date(mass["from"], where), _date(mass["to"], where)) if mass else None,
        ))
    return tuple(families)


def load_families(data_dir: str) -> tuple[ExploitationFamily, ...]:
    path = os.path.join(data_dir, FAMILIES_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise ExposureDataError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ExposureDataError(f"{path} is not valid YAML: {exc}") from exc
    return parse_families(data)


def exposure_window(family: ExploitationFamily, statuses: Mapping[str, tuple[str, str | None]],
                    fix_date: Callable[[str], FixDate], installed_on: dt.date | None,
                    collected_on: dt.date) -> ExposureWindow:
    """statuses: CVE -> (status, update that fixes it) from the assessment of the server's build."""
    start = max(family.began, installed_on) if installed_on else family.began
    states = {cve: statuses.get(cve, ("unknown", None)) for cve in family.cves}
    relevant = {cve: state for cve, state in states.items() if state[0] != NOT_APPLICABLE}
    if not relevant:
        return ExposureWindow(family, None, None, "not applicable to this product")
    if collected_on <= start:
        return ExposureWindow(family, start, collected_on, f"the campaign began on {start}, after the evidence "
                                                           "was collected")
    still_open = sorted(cve for cve, (status, _) in relevant.items() if status != PATCHED)
    if still_open:
        status = relevant[still_open[0]][0]
        why = {VULNERABLE: "vulnerable", MITIGATED: "mitigated, not patched"}.get(status, "status unknown")
        return ExposureWindow(family, start, collected_on, f"open when collected ({still_open[0]} {why})")
    fixes = [fix_date(fixed_by) for _, fixed_by in relevant.values() if fixed_by]
    if not fixes or any(fix.day is None for fix in fixes):
        return ExposureWindow(family, start, collected_on, "patched on an unknown date: counted as open until "
                                                           "collection")
    last = max(fixes, key=lambda fix: fix.day or dt.date.min)
    end = last.day or collected_on
    if installed_on and installed_on >= end:
        return ExposureWindow(family, start, end, f"installed on {installed_on}, after the fix ({last.basis})")
    if end <= start:
        return ExposureWindow(family, start, end, f"fixed before exploitation began ({last.basis})")
    return ExposureWindow(family, start, end, last.basis)
