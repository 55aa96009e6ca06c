"""Names of Exchange security and hotfix updates, e.g. ``Mar21SU``, ``Apr25HU``, ``Nov24SUv2``."""

from __future__ import annotations

import re
from typing import NamedTuple

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
UPDATE_NAME = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)(\d{2})(SU|HU)(v\d+)?$")


class UpdateMonth(NamedTuple):
    """Release month of an update; the CSV has no update dates, the name carries them."""

    year: int
    month: int


def update_month(name: str) -> UpdateMonth | None:
    match = UPDATE_NAME.match(name)
    if match is None:
        return None
    return UpdateMonth(2000 + int(match.group(2)), _MONTHS.index(match.group(1)) + 1)
