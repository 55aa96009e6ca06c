"""A wave starts only when its modelled duration fits before the maintenance window closes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exchange_remediation.wave_window import WaveWindowError, parse_instant, wave_skip_reason

NOW = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)


def test_a_wave_that_fits_starts():
    # demo plan: one wave of 335 modelled minutes; window 01:00-07:30 UTC leaves 360 min.
    assert wave_skip_reason("2026-11-28T07:30:00Z", 1, 335, NOW) == ""


def test_a_wave_that_would_overrun_is_held_back_with_the_numbers():
    reason = wave_skip_reason("2026-11-28T05:00:00Z", 2, 335, NOW)
    assert reason == ("the maintenance window closes at 2026-11-28T05:00:00Z: wave 2 needs about 335 min, "
                      "210 min are left")


def test_a_closed_window_says_so():
    reason = wave_skip_reason("2026-11-28T01:00:00Z", 1, 45, NOW)
    assert reason == "the maintenance window closed at 2026-11-28T01:00:00Z"


def test_offsets_are_honoured():
    # 06:00 in Berlin (UTC+1 in November) is 05:00 UTC.
    assert wave_skip_reason("2026-11-28T06:00:00+01:00", 1, 210, NOW) == ""
    assert wave_skip_reason("2026-11-28T06:00:00+01:00", 1, 211, NOW) != ""


@pytest.mark.parametrize("text", ["2026-11-28T05:00:00", "Saturday 05:00", ""])
def test_a_time_without_offset_or_unreadable_is_refused(text):
    with pytest.raises(WaveWindowError):
        parse_instant(text)
