"""An event (a match, a concert, a fair): its zones, phases and what each phase tightens. Pure.

Times are UTC inside. Organisers give times in Stockholm's local time; :func:`local_time`
turns them into UTC and refuses a wall time that does not exist (the hour skipped when
summer time starts) or is ambiguous (the hour that repeats when it ends) unless an explicit
offset says which, so an egress never silently starts an hour early or late.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

PhaseName = Literal["ingress", "event", "egress"]
PHASES: Final[tuple[PhaseName, ...]] = ("ingress", "event", "egress")
STOCKHOLM: Final = ZoneInfo("Europe/Stockholm")


def local_time(value: datetime, *, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """``value`` in UTC; a naive ``value`` is a wall time in ``tz``.

    Raises ValueError for a wall time skipped or repeated by a daylight-saving change, or
    one that has no UTC time (at the ends of the calendar).
    """
    try:
        return _to_utc(value, tz)
    except OverflowError as exc:
        raise ValueError(f"{value.isoformat()} is out of range") from exc


def _to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    early = value.replace(tzinfo=tz, fold=0)
    late = value.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        back = early.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back != value:
            raise ValueError(f"{value.isoformat()} does not exist in {tz.key} (clocks skip it)")
        raise ValueError(
            f"{value.isoformat()} happens twice in {tz.key}; give an offset (+01:00 or +02:00)"
        )
    return early.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Tightening:
    """How a phase sharpens the crowd rules: thresholds x ``threshold_factor`` (<= 1 is
    stricter), minimum durations x ``duration_factor`` (<= 1 is quicker)."""

    threshold_factor: float = 1.0
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        for name in ("threshold_factor", "duration_factor"):
            v = getattr(self, name)
            if not 0.1 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0.1, 1], got {v}")


NONE: Final = Tightening()


@dataclass(frozen=True, slots=True)
class Phase:
    name: PhaseName
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    tightening: Tightening = NONE


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    place: str
    zones: tuple[str, ...]
    expected_attendance: int
    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an event needs a name")
        if not self.zones:
            raise ValueError(f"event {self.name!r} has no zones")
        if self.expected_attendance < 0:
            raise ValueError("expected attendance must be >= 0")
        if not self.phases:
            raise ValueError(f"event {self.name!r} has no phases")
        for p in self.phases:
            if p.start.tzinfo is None or p.end <= p.start:
                raise ValueError(f"phase {p.name} of {self.name!r}: end must follow start (UTC)")
        ordered = sorted(self.phases, key=lambda p: p.start)
        for a, b in itertools.pairwise(ordered):
            if b.start < a.end:
                raise ValueError(f"phases {a.name} and {b.name} of {self.name!r} overlap")

    def phase_at(self, now: datetime) -> Phase | None:
        """The phase running at ``now`` (UTC), or None outside the event."""
        return next((p for p in self.phases if p.start <= now < p.end), None)

    @property
    def start(self) -> datetime:
        return min(p.start for p in self.phases)

    @property
    def end(self) -> datetime:
        return max(p.end for p in self.phases)


@dataclass(frozen=True, slots=True)
class Running:
    """An event's phase running now for one zone."""

    event: str
    place: str
    phase: Phase


def running(events: tuple[Event, ...] | list[Event], now: datetime) -> dict[str, Running]:
    """Zone -> the event phase running there at ``now``; the strictest wins a shared zone."""
    out: dict[str, Running] = {}
    for ev in sorted(events, key=lambda e: e.name):
        phase = ev.phase_at(now)
        if phase is None:
            continue
        for zone in ev.zones:
            old = out.get(zone)
            if old is None or (
                phase.tightening.threshold_factor < old.phase.tightening.threshold_factor
            ):
                out[zone] = Running(ev.name, ev.place, phase)
    return out
