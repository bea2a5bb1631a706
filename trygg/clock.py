"""One clock abstraction shared by agents, hub rules and the simulator.

Everything that decides takes ``now`` from a :class:`Clock`; the simulator and tests pass a
:class:`FakeClock` or a :class:`ScaledClock` so a simulated night passes in seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def scale(self) -> float:
        """Simulated seconds per real second (1.0 for the wall clock)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def scale(self) -> float:
        return 1.0


class FakeClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def scale(self) -> float:
        return 1.0

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)


class ScaledClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from ``start``."""

    def __init__(self, start: datetime, speed: float, *, origin: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs an aware datetime")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start.astimezone(UTC)
        self._speed = speed
        self._origin = time.monotonic() if origin is None else origin

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self._speed)

    def scale(self) -> float:
        return self._speed


def to_ms(when: datetime) -> int:
    """Milliseconds since the epoch for an aware datetime."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: Trygg times are explicit UTC")
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
