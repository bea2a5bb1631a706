"""Pure decision logic for camera health: scores in, debounced and latched events out.

This module imports no OpenCV and no numpy, so the fleet simulator can drive 10,000
cameras by feeding :class:`HealthScores` directly, and every rule is testable with a fake
``now``. A condition must hold for the configured minimum duration (frames AND seconds)
before an event is set and must be absent as long before it clears; tamper events that are
latched stay active until the hub acknowledges them (``ack_tamper``), as in Axis cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import astral
import astral.sun

from edge.vision.health_config import (
    EVENT_BLURRED,
    EVENT_COVERED,
    EVENT_DARK,
    EVENT_DISPLACED,
    EVENT_FROZEN,
    EVENT_OVEREXPOSED,
    HEALTH_EVENTS,
    CameraHealthConfig,
    DayNightConfig,
    Duration,
    ProfileConfig,
)

Profile = Literal["day", "night"]


@dataclass(frozen=True, slots=True)
class HealthScores:
    """What one frame showed, relative to the baseline; ``None`` means "not measured now".

    Ratios are against the camera's own baseline in the current profile (1.0 = as usual).
    """

    sharpness: float | None = None
    edge_density: float | None = None
    covered_fraction: float | None = None
    mean_luma: float | None = None
    luma_ratio: float | None = None
    dark_fraction: float | None = None
    bright_fraction: float | None = None
    changed_fraction: float | None = None
    stream_stalled: bool = False
    displacement_px: float | None = None
    shift_fraction: float | None = None
    inliers: int | None = None  # ORB matches that agree with the reference view


@dataclass(frozen=True, slots=True)
class Transition:
    """An event to report: ``active`` True when set, False when cleared."""

    event_type: str
    active: bool
    at: datetime
    values: dict[str, float] = field(default_factory=dict)


Verdicts = dict[str, bool | None]


def profile_at(now: datetime, config: DayNightConfig) -> Profile:
    """``night`` when the sun is below the configured elevation at the pole, else ``day``."""
    if config.mode == "off" or config.latitude is None or config.longitude is None:
        return "day"
    observer = astral.Observer(latitude=config.latitude, longitude=config.longitude)
    elevation = astral.sun.elevation(observer, now)
    return "night" if elevation < config.night_below_deg else "day"


def conditions(s: HealthScores, p: ProfileConfig, frozen_changed_fraction: float) -> Verdicts:
    """Which faults the scores show right now; ``None`` = cannot tell from this frame.

    Exposure faults hide the others: a black or white-out frame has no structure, so blur,
    cover and displacement are not judged on it (and with the dark alarm off, a dark frame
    raises nothing at all, because a covered lens and a dark street look alike).
    """
    dark: bool | None = None
    # "Darker than usual" needs a baseline: while one is learned (after boot, or the first
    # night) a dark picture may simply be what this camera sees at this hour.
    if s.dark_fraction is not None and s.luma_ratio is not None:
        dark = s.dark_fraction >= p.dark_fraction and s.luma_ratio < p.dark_luma_ratio
    over = None if s.bright_fraction is None else s.bright_fraction >= p.overexposed_fraction
    exposure_bad = bool(dark) or bool(over)
    covered: bool | None = None
    if not exposure_bad and s.covered_fraction is not None:
        covered = s.covered_fraction >= p.cover_fraction
    blurred: bool | None = None
    if not exposure_bad and not covered and s.sharpness is not None:
        blurred = s.sharpness < p.blur_ratio
    displaced: bool | None = None
    if not (exposure_bad or covered or blurred) and (
        s.shift_fraction is not None or s.inliers is not None
    ):
        displaced = (s.shift_fraction is not None and s.shift_fraction > p.max_shift_fraction) or (
            s.inliers is not None and s.inliers < p.min_inliers
        )
    frozen: bool | None = None
    if s.stream_stalled:
        frozen = True
    elif s.changed_fraction is not None and not exposure_bad:
        frozen = s.changed_fraction < frozen_changed_fraction
    return {
        EVENT_DARK: (dark and p.dark_alarm) if dark is not None else None,
        EVENT_OVEREXPOSED: over,
        EVENT_COVERED: covered,
        EVENT_BLURRED: blurred,
        EVENT_DISPLACED: displaced,
        EVENT_FROZEN: frozen,
    }


def health_score(s: HealthScores, verdicts: Verdicts, p: ProfileConfig) -> float:
    """Overall health 0..1: the worst of the measured components; 0 while a fault shows."""
    if any(verdicts.get(e) for e in (EVENT_FROZEN, EVENT_DARK, EVENT_OVEREXPOSED)):
        return 0.0
    parts = [1.0]
    if s.sharpness is not None:
        parts.append(s.sharpness)
    if s.covered_fraction is not None:
        parts.append(1.0 - s.covered_fraction)
    if s.shift_fraction is not None and p.max_shift_fraction > 0:
        parts.append(1.0 - s.shift_fraction / (2 * p.max_shift_fraction))
    return min(1.0, max(0.0, min(parts)))


class _Span:
    """Counts how long something has held, in observations and in seconds."""

    __slots__ = ("frames", "since")

    def __init__(self) -> None:
        self.frames = 0
        self.since: datetime | None = None

    def hold(self, now: datetime) -> None:
        self.frames += 1
        if self.since is None:
            self.since = now

    def reset(self) -> None:
        self.frames = 0
        self.since = None

    def over(self, d: Duration, now: datetime) -> bool:
        return (
            self.since is not None
            and self.frames >= d.frames
            and (now - self.since).total_seconds() >= d.seconds
        )


class Debouncer:
    """One event type's alarm: minimum duration to set and to clear, optional latch."""

    def __init__(self, *, set_after: Duration, clear_after: Duration, latched: bool) -> None:
        self._set_after = set_after
        self._clear_after = clear_after
        self._latched = latched
        self._on = _Span()
        self._off = _Span()
        self.active = False
        self.gone = False  # active, but the condition has been absent long enough to clear
        self.acked = False

    def update(self, condition: bool | None, now: datetime) -> bool | None:
        """Feed one observation; returns True (set), False (cleared) or None (no change)."""
        if condition is None:
            return None
        if not self.active:
            if not condition:
                self._on.reset()
                return None
            self._on.hold(now)
            if self._on.over(self._set_after, now):
                self.active, self.gone, self.acked = True, False, False
                self._on.reset()
                return True
            return None
        if condition:
            self._off.reset()
            self.gone = False
            return None
        self._off.hold(now)
        if self._off.over(self._clear_after, now):
            self.gone = True
            if not self._latched or self.acked:
                return self._clear()
        return None

    def acknowledge(self) -> bool:
        """Operator has seen it. Returns True when that clears the event right away."""
        if not self.active:
            return False
        self.acked = True
        if self.gone:
            self._clear()
            return True
        return False

    def _clear(self) -> bool:
        self.active = self.gone = self.acked = False
        self._off.reset()
        return False


class HealthStateMachine:
    """All health events of one camera, fed scores with an explicit ``now``."""

    def __init__(self, *, config: CameraHealthConfig) -> None:
        self._config = config
        self._alarms = {
            event: Debouncer(
                set_after=config.frozen_after if event == EVENT_FROZEN else config.set_after,
                clear_after=config.clear_after,
                latched=event in config.latched,
            )
            for event in HEALTH_EVENTS
        }
        self.verdicts: Verdicts = dict.fromkeys(HEALTH_EVENTS)
        self.score = 1.0

    @property
    def active(self) -> frozenset[str]:
        return frozenset(e for e, a in self._alarms.items() if a.active)

    def update(self, scores: HealthScores, *, now: datetime, profile: Profile) -> list[Transition]:
        p = self._config.profile(profile)
        self.verdicts = conditions(scores, p, self._config.frozen_changed_fraction)
        self.score = health_score(scores, self.verdicts, p)
        values = _values(scores)
        out: list[Transition] = []
        for event, alarm in self._alarms.items():
            change = alarm.update(self.verdicts[event], now)
            if change is not None:
                out.append(Transition(event, change, now, values))
        return out

    def acknowledge(self, event_type: str | None, *, now: datetime) -> list[Transition]:
        """Acknowledge one latched event (or all with ``None``); returns the clears."""
        if event_type is not None and event_type not in self._alarms:
            raise ValueError(f"unknown camera event type {event_type!r}")
        out: list[Transition] = []
        for event, alarm in self._alarms.items():
            if (event_type is None or event == event_type) and alarm.acknowledge():
                out.append(Transition(event, False, now, {}))
        return out


def _values(s: HealthScores) -> dict[str, float]:
    """The numbers an event carries (finite only; the contract has no NaN)."""
    pairs = {
        "sharpness": s.sharpness,
        "edgeDensity": s.edge_density,
        "coveredFraction": s.covered_fraction,
        "meanLuma": s.mean_luma,
        "displacement": s.displacement_px,
        "inliers": None if s.inliers is None else float(s.inliers),
        "changedFraction": s.changed_fraction,
    }
    return {k: round(v, 4) for k, v in pairs.items() if v is not None and math.isfinite(v)}
