"""The maintenance window a nightly run may patch in: weekly, or one-off.

Weekly windows are wall-clock times in the estate's time zone ("Saturday and Sunday 01:00 to
05:00 Europe/Berlin"), so they follow daylight saving time: on the night the clocks go back the
window is an hour longer in real time, and on the night they go forward an hour shorter. A local
time that does not exist (skipped by the spring change) is read as zoneinfo does (fold=0, the
offset before the change), i.e. an hour later on the new clock. Times are returned in UTC.

Pure: stdlib only (zoneinfo reads the system's tz database, or the tzdata package).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKLY_KEYS = ("days", "start", "end", "timezone")
_ONE_OFF_KEYS = ("opens_at", "closes_at")


class WindowError(ValueError):
    """The window cannot be used; the message names the offending key."""


@dataclass(frozen=True)
class WeeklyWindow:
    days: tuple[int, ...]  # weekday numbers, Monday 0
    start: dt.time
    end: dt.time
    timezone: str

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True)
class OneOffWindow:
    opens_at: dt.datetime
    closes_at: dt.datetime


Window = WeeklyWindow | OneOffWindow


@dataclass(frozen=True)
class WindowState:
    """The current occurrence when open, else the next one (or the past one of a one-off window)."""

    open: bool
    opens_at: dt.datetime
    closes_at: dt.datetime


def _day(value: object) -> int:
    if isinstance(value, str):
        text = value.strip().lower()
        for number, name in enumerate(DAYS):
            if text in (name, name[:3]):
                return number
    raise WindowError(f"days: {value!r} is not a day (monday ... sunday, or mon ... sun)")


def _clock(key: str, value: object) -> dt.time:
    if isinstance(value, str):
        try:
            hours, minutes = value.strip().split(":")
            return dt.time(int(hours), int(minutes))
        except ValueError:
            pass
    raise WindowError(f"{key}: {value!r} is not a time of day HH:MM (e.g. 01:00)")


def _moment(key: str, value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise WindowError(f"{key}: {value!r} is not an ISO 8601 date and time") from exc
    else:
        raise WindowError(f"{key}: {value!r} is not an ISO 8601 date and time")
    if moment.tzinfo is None:
        raise WindowError(f"{key}: {value!r} has no UTC offset (add Z or e.g. +01:00)")
    return moment.astimezone(dt.UTC)


def parse_window(value: object) -> Window:
    """A window from its variable (exchange_nightly_window), or WindowError naming the key."""
    if not isinstance(value, Mapping):
        raise WindowError(f"the window must be a mapping, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in (*_WEEKLY_KEYS, *_ONE_OFF_KEYS))
    if unknown:
        raise WindowError(f"{unknown[0]}: unknown key; a weekly window has {', '.join(_WEEKLY_KEYS)}, "
                          f"a one-off window {', '.join(_ONE_OFF_KEYS)}")
    weekly = [key for key in _WEEKLY_KEYS if key in value]
    one_off = [key for key in _ONE_OFF_KEYS if key in value]
    if weekly and one_off:
        raise WindowError(f"{one_off[0]}: a window is either weekly ({', '.join(_WEEKLY_KEYS)}) or one-off "
                          f"({', '.join(_ONE_OFF_KEYS)}), not both")
    if one_off:
        for key in _ONE_OFF_KEYS:
            if key not in value:
                raise WindowError(f"{key}: missing (a one-off window needs opens_at and closes_at)")
        opens, closes = _moment("opens_at", value["opens_at"]), _moment("closes_at", value["closes_at"])
        if closes <= opens:
            raise WindowError(f"closes_at: {value['closes_at']!r} is not after opens_at {value['opens_at']!r}")
        return OneOffWindow(opens, closes)
    for key in ("days", "start", "end"):
        if key not in value:
            raise WindowError(f"{key}: missing (a weekly window needs days, start and end)")
    days = value["days"]
    if isinstance(days, str):
        days = [days]
    if not isinstance(days, list) or not days:
        raise WindowError(f"days: {value['days']!r} is not a list of days")
    timezone = value.get("timezone", "UTC")
    if not isinstance(timezone, str) or not timezone.strip():
        raise WindowError(f"timezone: {timezone!r} is not an IANA time zone name (e.g. Europe/Berlin)")
    try:
        zoneinfo.ZoneInfo(timezone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowError(f"timezone: {timezone!r} is not an IANA time zone name (e.g. Europe/Berlin)") from exc
    return WeeklyWindow(tuple(sorted({_day(day) for day in days})), _clock("start", value["start"]),
                        _clock("end", value["end"]), timezone.strip())


def _occurrence(window: WeeklyWindow, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = window.zone
    opens = dt.datetime.combine(day, window.start, tzinfo=zone)
    # An end at or before the start is on the next day ("22:00 to 02:00"; "01:00 to 01:00" is 24 h).
    end_day = day + dt.timedelta(days=1) if window.end <= window.start else day
    closes = dt.datetime.combine(end_day, window.end, tzinfo=zone)
    return opens.astimezone(dt.UTC), closes.astimezone(dt.UTC)


def window_state(window: Window, now: dt.datetime) -> WindowState:
    """Whether the window is open at now, with the times of that occurrence (or the next)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC)
    if isinstance(window, OneOffWindow):
        return WindowState(window.opens_at <= now < window.closes_at, window.opens_at, window.closes_at)
    today = now.astimezone(window.zone).date()
    # From yesterday (a window past midnight may still be open) to a week ahead.
    for offset in range(-1, 8):
        day = today + dt.timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        opens, closes = _occurrence(window, day)
        if closes > now:
            return WindowState(opens <= now, opens, closes)
    raise AssertionError("a weekly window with at least one day recurs within eight days")


def fits(state: WindowState, now: dt.datetime, minutes: float) -> bool:
    """Whether work of that many minutes started at now ends before the window closes.
    Whether the window is open is state.open's question, not this one."""
    return now + dt.timedelta(minutes=minutes) <= state.closes_at


def iso_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def check_patch_window(value: Mapping[str, Any]) -> dict[str, Any]:
    """The report's ``patch_window`` object from the exchange_report parameter, checked."""
    unknown = sorted(str(key) for key in value if key not in ("applied", "opens_at", "closes_at"))
    if unknown:
        raise WindowError(f"patch_window.{unknown[0]}: unknown key (applied, opens_at, closes_at)")
    if not isinstance(value.get("applied"), bool):
        raise WindowError(f"patch_window.applied: {value.get('applied')!r} is not true or false")
    record: dict[str, Any] = {"applied": value["applied"]}
    for key in ("opens_at", "closes_at"):
        moment = value.get(key)
        record[key] = None if moment in (None, "") else iso_z(_moment(f"patch_window.{key}", moment))
    return record
