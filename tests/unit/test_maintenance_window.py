"""maintenance_window: weekly windows in real time zones (daylight saving included) and one-off ones."""

from __future__ import annotations

import datetime as dt

import pytest

from exchange_remediation.maintenance_window import (
    OneOffWindow,
    WeeklyWindow,
    WindowError,
    check_patch_window,
    fits,
    parse_window,
    window_state,
)

UTC = dt.UTC
WEEKEND_BERLIN = {"days": ["saturday", "sunday"], "start": "01:00", "end": "05:00", "timezone": "Europe/Berlin"}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_parse_a_weekly_window() -> None:
    window = parse_window({"days": ["Sat", "SUNDAY", "sat"], "start": "01:00", "end": "05:00",
                           "timezone": "Europe/Berlin"})
    assert window == WeeklyWindow((5, 6), dt.time(1), dt.time(5), "Europe/Berlin")
    assert parse_window({"days": "wed", "start": "22:30", "end": "02:00"}).timezone == "UTC"


def test_parse_a_one_off_window() -> None:
    window = parse_window({"opens_at": "2026-11-28T02:00:00+01:00", "closes_at": "2026-11-28T05:00:00Z"})
    assert window == OneOffWindow(utc("2026-11-28T01:00:00Z"), utc("2026-11-28T05:00:00Z"))


def test_inside_the_window_on_a_winter_saturday() -> None:
    # 2026-11-28 is a Saturday; Berlin is UTC+1 in winter.
    state = window_state(parse_window(WEEKEND_BERLIN), utc("2026-11-28T02:30:00Z"))
    assert state.open is True
    assert (state.opens_at, state.closes_at) == (utc("2026-11-28T00:00:00Z"), utc("2026-11-28T04:00:00Z"))


def test_outside_the_window_gives_the_next_one() -> None:
    # Monday morning: the next window opens on Saturday.
    state = window_state(parse_window(WEEKEND_BERLIN), utc("2026-11-30T08:00:00Z"))
    assert state.open is False
    assert (state.opens_at, state.closes_at) == (utc("2026-12-05T00:00:00Z"), utc("2026-12-05T04:00:00Z"))
    # Saturday after the window closed: Sunday's.
    state = window_state(parse_window(WEEKEND_BERLIN), utc("2026-11-28T04:00:00Z"))
    assert state.open is False and state.opens_at == utc("2026-11-29T00:00:00Z")


def test_the_night_the_clocks_go_back_is_an_hour_longer() -> None:
    # Last Sunday of October 2026 (the 25th): 03:00 CEST becomes 02:00 CET inside the window.
    state = window_state(parse_window(WEEKEND_BERLIN), utc("2026-10-25T01:30:00Z"))
    assert state.open is True
    assert state.opens_at == utc("2026-10-24T23:00:00Z")  # 01:00 CEST
    assert state.closes_at == utc("2026-10-25T04:00:00Z")  # 05:00 CET
    assert state.closes_at - state.opens_at == dt.timedelta(hours=5)
    # The Saturday before is still summer time: four hours.
    saturday = window_state(parse_window(WEEKEND_BERLIN), utc("2026-10-24T00:00:00Z"))
    assert saturday.open is True and saturday.closes_at - saturday.opens_at == dt.timedelta(hours=4)
    assert saturday.opens_at == utc("2026-10-23T23:00:00Z")


def test_the_night_the_clocks_go_forward_is_an_hour_shorter() -> None:
    # Last Sunday of March 2026 (the 29th): 02:00 CET becomes 03:00 CEST.
    state = window_state(parse_window(WEEKEND_BERLIN), utc("2026-03-29T00:30:00Z"))
    assert state.open is True
    assert (state.opens_at, state.closes_at) == (utc("2026-03-29T00:00:00Z"), utc("2026-03-29T03:00:00Z"))
    # A start inside the skipped hour is read with the offset before the change (fold=0): 02:30 CET.
    skipped = parse_window({**WEEKEND_BERLIN, "days": ["sun"], "start": "02:30", "end": "06:00"})
    state = window_state(skipped, utc("2026-03-28T12:00:00Z"))
    assert state.opens_at == utc("2026-03-29T01:30:00Z") and state.closes_at == utc("2026-03-29T04:00:00Z")


def test_a_window_past_midnight_is_open_the_next_morning() -> None:
    # Friday 22:00 to 02:00 New York (EST, UTC-5): Saturday 01:00 local is still Friday's window.
    window = parse_window({"days": ["fri"], "start": "22:00", "end": "02:00", "timezone": "America/New_York"})
    state = window_state(window, utc("2026-11-28T06:00:00Z"))
    assert state.open is True
    assert (state.opens_at, state.closes_at) == (utc("2026-11-28T03:00:00Z"), utc("2026-11-28T07:00:00Z"))


def test_equal_start_and_end_is_a_whole_day() -> None:
    window = parse_window({"days": ["tue"], "start": "06:00", "end": "06:00"})
    state = window_state(window, utc("2026-12-01T05:00:00Z"))
    assert state.open is False and state.closes_at - state.opens_at == dt.timedelta(hours=24)


def test_a_one_off_window_before_during_and_after() -> None:
    window = parse_window({"opens_at": "2026-11-28T01:00:00Z", "closes_at": "2026-11-28T05:00:00Z"})
    assert window_state(window, utc("2026-11-27T20:00:00Z")).open is False
    during = window_state(window, utc("2026-11-28T01:00:00Z"))
    assert during.open is True and during.closes_at == utc("2026-11-28T05:00:00Z")
    after = window_state(window, utc("2026-11-28T05:00:00Z"))
    assert after.open is False and after.opens_at == utc("2026-11-28T01:00:00Z")


def test_fits_compares_the_work_with_the_close() -> None:
    state = window_state(parse_window(WEEKEND_BERLIN), utc("2026-11-28T02:30:00Z"))
    now = utc("2026-11-28T02:30:00Z")
    assert fits(state, now, 90) is True  # ends 04:00Z, exactly at the close
    assert fits(state, now, 91) is False


def test_now_must_carry_its_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_state(parse_window(WEEKEND_BERLIN), dt.datetime(2026, 11, 28, 2, 30))


@pytest.mark.parametrize(("value", "message"), [
    ([], "the window must be a mapping, got list"),
    ({**WEEKEND_BERLIN, "duration": 4}, "duration: unknown key"),
    ({**WEEKEND_BERLIN, "days": ["saturday", "funday"]}, "days: 'funday' is not a day"),
    ({**WEEKEND_BERLIN, "days": []}, "days: [] is not a list of days"),
    ({**WEEKEND_BERLIN, "days": [6]}, "days: 6 is not a day"),
    ({**WEEKEND_BERLIN, "start": "1 am"}, "start: '1 am' is not a time of day HH:MM"),
    ({**WEEKEND_BERLIN, "end": "25:00"}, "end: '25:00' is not a time of day HH:MM"),
    ({**WEEKEND_BERLIN, "timezone": "Europe/Bonn"}, "timezone: 'Europe/Bonn' is not an IANA time zone name"),
    ({**WEEKEND_BERLIN, "timezone": "../../etc/passwd"}, "timezone: '../../etc/passwd' is not an IANA"),
    ({"days": ["sat"], "end": "05:00"}, "start: missing"),
    ({**WEEKEND_BERLIN, "opens_at": "2026-11-28T01:00:00Z"}, "opens_at: a window is either weekly"),
    ({"opens_at": "2026-11-28T01:00:00Z"}, "closes_at: missing"),
    ({"opens_at": "2026-11-28T01:00:00", "closes_at": "2026-11-28T05:00:00Z"},
     "opens_at: '2026-11-28T01:00:00' has no UTC offset"),
    ({"opens_at": "tonight", "closes_at": "2026-11-28T05:00:00Z"}, "opens_at: 'tonight' is not an ISO 8601"),
    ({"opens_at": "2026-11-28T05:00:00Z", "closes_at": "2026-11-28T01:00:00Z"},
     "closes_at: '2026-11-28T01:00:00Z' is not after"),
])
def test_errors_name_the_key(value: object, message: str) -> None:
    with pytest.raises(WindowError) as raised:
        parse_window(value)
    assert str(raised.value).startswith(message)


def test_check_patch_window() -> None:
    assert check_patch_window({"applied": True, "opens_at": "2026-11-28T02:00:00+01:00",
                               "closes_at": "2026-11-28T05:00:00Z"}) == {
        "applied": True, "opens_at": "2026-11-28T01:00:00Z", "closes_at": "2026-11-28T05:00:00Z"}
    assert check_patch_window({"applied": False}) == {"applied": False, "opens_at": None, "closes_at": None}
    for value, message in (({"applied": "yes"}, "patch_window.applied: 'yes' is not true or false"),
                           ({"applied": True, "window": {}}, "patch_window.window: unknown key"),
                           ({"applied": True, "closes_at": "05:00"}, "patch_window.closes_at: '05:00' is not an ISO")):
        with pytest.raises(WindowError) as raised:
            check_patch_window(value)
        assert str(raised.value).startswith(message)
