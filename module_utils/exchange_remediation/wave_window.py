"""Whether a patch wave can still finish before the maintenance window closes.

A wave that starts late runs past the window with servers in maintenance mode: worse than not
starting it. The plan's modelled minutes per wave (patch-durations.yml) are the estimate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class WaveWindowError(ValueError):
    """The window's closing time cannot be read."""


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time with an offset ('Z' allowed); a time without one is refused, not guessed."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise WaveWindowError(f"{text!r} is not an ISO 8601 time such as 2026-11-28T05:00:00Z") from exc
    if value.tzinfo is None:
        raise WaveWindowError(f"{text!r} has no UTC offset; write it as 2026-11-28T05:00:00Z or with +01:00")
    return value


def wave_skip_reason(closes_at: str, wave: int | None, minutes: int | None, now: datetime) -> str:
    """Empty when the wave fits before closes_at, else why the wave's servers are left alone."""
    end = parse_instant(closes_at)
    needed = max(int(minutes or 0), 0)
    current = now if now.tzinfo else now.replace(tzinfo=UTC)
    if current + timedelta(minutes=needed) <= end:
        return ""
    stamp = end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if current >= end:
        return f"the maintenance window closed at {stamp}"
    left = int((end - current).total_seconds() // 60)
    label = f"wave {wave}" if wave is not None else "this server's wave"
    return f"the maintenance window closes at {stamp}: {label} needs about {needed} min, {left} min are left"
