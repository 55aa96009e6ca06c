"""By when an update's fix had reached a server, from the dates of its installed update packages.

The registry keeps an install date per update package of the installed CU. When the package that
brought the fix (or a later one on the same CU) is listed with a date, that date is exact. When
the fix came with the CU itself, the CU was installed before its first update package, so that
package's date bounds it. Without a dated package nothing is known, and the window stays open
until collection. Every answer is the latest the fix can have arrived: a longer window can only
lower the log coverage and turn fewer hits into "attempts against a patched server".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from .build_identity import BuildIdentity
from .exposure_window import FixDate
from .update_name import update_month

_KB = re.compile(r"KB(\d{6,7})", re.IGNORECASE)


def parse_day(value: Any) -> dt.date | None:
    """ISO dates, ISO timestamps and the registry's YYYYMMDD InstallDate."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def dated_packages(exchange: Mapping[str, Any]) -> list[tuple[str, dt.date]]:
    """(KB, install day) of every installed update package that carries a readable date."""
    packages = exchange.get("installed_updates")
    if not isinstance(packages, list):
        return []
    found = []
    for package in packages:
        if not isinstance(package, Mapping):
            continue
        day = parse_day(package.get("installed"))
        name = package.get("package")
        if day is None or not isinstance(name, str):
            continue
        found.extend((f"KB{kb}", day) for kb in _KB.findall(name))
    return found


def fix_date_finder(identity: BuildIdentity, exchange: Mapping[str, Any]) -> Callable[[str], FixDate]:
    """fixed_by (an update name such as "Mar21SU", or "build 14.3.513.0" on Exchange 2010) -> FixDate."""
    packages = dated_packages(exchange)
    cu = identity.cu

    def find(fixed_by: str) -> FixDate:
        if cu is None:
            # Exchange 2010: the last rollup (RU32) carries every fix; its package is the newest one.
            if packages:
                kb, day = max(packages, key=lambda item: item[1])
                return FixDate(day, f"{kb} installed {day}")
            return FixDate(None, f"{fixed_by}: no dated update package")
        month = update_month(fixed_by)
        if month is not None and month.year % 100 < cu.released.year % 100:
            cu_kbs = {u.kb for u in cu.updates if u.kb}
            on_cu = sorted((day, kb) for kb, day in packages if kb in cu_kbs)
            if on_cu:
                day, kb = on_cu[0]
                return FixDate(day, f"came with {cu.name}, installed before its update {kb} ({day})")
            return FixDate(None, f"came with {cu.name}, installed on an unknown date")
        own = next((u for u in cu.updates if u.name == fixed_by), None)
        later_kbs = {u.kb for u in cu.updates if u.kb and (own is None or u.build >= own.build)}
        installed = sorted((day, kb) for kb, day in packages if kb in later_kbs)
        if installed:
            day, kb = installed[0]
            return FixDate(day, f"{fixed_by} or later ({kb}) installed {day}")
        return FixDate(None, f"{fixed_by}: no dated update package")

    return find
