"""How a full arena empties: spectators leave the stands, cross the approach zones in front
of the exits, and queue where an exit lets fewer through than arrive. Pure.

A fluid queue per exit, stepped in fixed seconds. Spectators leave their seats along a
triangular leaving curve (a few before the final whistle, most in the minutes after it)
and head for their exit in proportion to its ``share``. In an exit's approach zone a
walker spends ``length / walking speed`` seconds when nobody queues (so the zone holds
arrivals x transit time, Little's law); the exit lets at most ``flow x width`` people a
second through (the Green Guide's flow per metre of exit width), and whatever arrives
faster waits in the zone. Density is the zone's people over its area; a narrow exit makes
the queue, and with it the density, climb to Fruin's E and F, a wide one does not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

# Persons per metre of exit width per second on level ground (Green Guide: 82 per minute).
FLOW_PER_M_S: Final = 82.0 / 60.0
WALK_SPEED_M_S: Final = 1.2
STEP_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class Exit:
    """One way out of the arena: its clear width and the approach zone in front of it."""

    name: str
    width_m: float
    zone_area_m2: float
    zone_length_m: float
    share: float  # of the spectators who leave through it

    def __post_init__(self) -> None:
        if self.width_m <= 0 or self.zone_area_m2 <= 0 or self.zone_length_m <= 0:
            raise ValueError(f"exit {self.name!r}: width, area and length must be > 0")
        if not 0 < self.share <= 1:
            raise ValueError(f"exit {self.name!r}: share must be within (0, 1]")

    @property
    def capacity_per_s(self) -> float:
        return FLOW_PER_M_S * self.width_m

    @property
    def transit_s(self) -> float:
        return self.zone_length_m / WALK_SPEED_M_S


@dataclass(frozen=True, slots=True)
class LeavingCurve:
    """When spectators leave the stands, in seconds from the final whistle: none before
    ``start_s``, the most at ``peak_s``, the last at ``end_s`` (a triangle)."""

    start_s: float = -300.0
    peak_s: float = 300.0
    end_s: float = 1500.0

    def __post_init__(self) -> None:
        if not self.start_s < self.peak_s < self.end_s:
            raise ValueError("leaving curve needs start < peak < end")

    def left(self, t: float) -> float:
        """The share (0..1) of spectators who have left the stands ``t`` s after the whistle."""
        a, b, c = self.start_s, self.peak_s, self.end_s
        if t <= a:
            return 0.0
        if t >= c:
            return 1.0
        if t <= b:
            return (t - a) ** 2 / ((c - a) * (b - a))
        return 1.0 - (c - t) ** 2 / ((c - a) * (c - b))


@dataclass(frozen=True, slots=True)
class ExitState:
    """One exit's zone at one instant."""

    people: float
    queue: float  # of ``people``, those waiting because the exit is full
    density: float  # persons/m²


@dataclass(frozen=True, slots=True)
class Egress:
    """Spectators, exits and leaving curve of one event's end."""

    spectators: int
    exits: tuple[Exit, ...]
    curve: LeavingCurve = LeavingCurve()

    def __post_init__(self) -> None:
        if self.spectators < 0:
            raise ValueError("spectators must be >= 0")
        if not self.exits:
            raise ValueError("an arena needs at least one exit")
        total = sum(e.share for e in self.exits)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"exit shares must add up to 1, got {total:.3f}")

    def state(self, exit_index: int, since_end_s: float) -> ExitState:
        """The zone in front of exit ``exit_index`` ``since_end_s`` seconds after the whistle.

        Raises IndexError for an exit the arena does not have.
        """
        series = _series(self, exit_index)
        first = int(self.curve.start_s // STEP_S)
        i = int(since_end_s // STEP_S) - first
        if i < 0:
            return ExitState(0.0, 0.0, 0.0)
        if i >= len(series):
            return series[-1]
        return series[i]

    def peak_density(self, exit_index: int) -> float:
        """The highest density the exit's zone reaches, persons/m²."""
        return max(s.density for s in _series(self, exit_index))

    def cleared_after_s(self) -> float:
        """Seconds after the whistle when every approach zone is empty again."""
        first = int(self.curve.start_s // STEP_S)
        last = max(len(_series(self, i)) for i in range(len(self.exits)))
        return (first + last) * STEP_S


@functools.lru_cache(maxsize=256)
def _series(egress: Egress, exit_index: int) -> tuple[ExitState, ...]:
    """Step the exit's zone from the first leaver until it is empty again."""
    ex = egress.exits[exit_index]
    curve = egress.curve
    people_total = egress.spectators * ex.share
    out: list[ExitState] = []
    moving = queue = 0.0
    t = (curve.start_s // STEP_S) * STEP_S
    while True:
        arriving = people_total * (curve.left(t + STEP_S) - curve.left(t))
        moving += arriving
        # walkers reach the exit after crossing the zone; the exit takes what it can
        reaching = moving * min(1.0, STEP_S / ex.transit_s)
        moving -= reaching
        queue += reaching
        queue -= min(queue, ex.capacity_per_s * STEP_S)
        people = moving + queue
        out.append(ExitState(people, queue, people / ex.zone_area_m2))
        t += STEP_S
        if t >= curve.end_s and people < 0.5:
            break
    return tuple(out)
