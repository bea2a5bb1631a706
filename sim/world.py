"""How the simulated city behaves over time: litter, collection rounds, crowds, daylight.

Pure functions of (seed, asset, time): no state, no I/O. Noise is the twins' counter-based
hash of (asset key, time) (:mod:`edge.drivers.sim_model`), so a reading at a given
simulated instant is the same whatever order or process asks for it; that is what makes
two runs of a scenario comparable reading by reading.

Bins fill by time of day and day of week (Europe/Stockholm local time), faster at busy
squares and much faster at the arena around events; crews empty every bin at 06:00, the
squares again at 15:00, and the arena's bins hourly while an event is on, so a healthy
city keeps every bin below its threshold and "bin full" only happens when a round misses
one (an injected fault). Crowds gather before an arena event and surge out after it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from edge.drivers.sim_model import gauss, noise
from sim.egress import Egress, Exit
from sim.places import ARENA_EXITS, CrowdZone
from trygg.sun import sun_elevation

STOCKHOLM: Final = ZoneInfo("Europe/Stockholm")
BASE_LITTER_PER_H: Final = 0.02  # share of a 0.2 m3 bin per hour at an ordinary place
REFERENCE_VOLUME_M3: Final = 0.2
# local hour -> litter multiplier
DIURNAL: Final = (
    (0.1,) * 6 + (0.4, 0.8, 0.8, 0.9) + (1.0,) * 7 + (1.3, 1.4, 1.4, 1.3, 1.0) + (0.6, 0.3)
)
WEEKDAY: Final = (1.0, 1.0, 1.0, 1.05, 1.2, 1.4, 1.1)  # Monday..Sunday
ROUND_HOURS_ALL: Final = frozenset({6})
ROUND_HOURS_SQUARES: Final = frozenset({6, 15})
ARENA_SLUG: Final = "arenastaden"
# Relative standard deviation of a simulated count: an exit's approach zone is counted
# from one camera view, a square's mixes foot traffic the model knows less well.
ZONE_COUNT_NOISE: Final = 0.05
SQUARE_COUNT_NOISE: Final = 0.1
SQUARE_SLUGS: Final = frozenset(
    {"solna-centrum", "rasunda", "arenastaden", "hagalund", "huvudsta", "frosunda"}
)


@dataclass(frozen=True, slots=True)
class ArenaEvent:
    name: str
    start: datetime
    end: datetime
    attendance: int

    def window(self) -> tuple[datetime, datetime]:
        """When the event touches the city around it: arrivals to dispersal."""
        return self.start - timedelta(hours=2), self.end + timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class World:
    """The shared facts every simulated driver consults: the seed and the event calendar."""

    seed: int = 0
    events: tuple[ArenaEvent, ...] = field(default_factory=tuple)

    # ---- events and crowds ----------------------------------------------------------
    def event_on(self, when: datetime) -> ArenaEvent | None:
        for ev in self.events:
            lo, hi = ev.window()
            if lo <= when < hi:
                return ev
        return None

    def people(self, place: str, area_m2: float, when: datetime, key: int) -> int:
        """People in a square's watched zone: foot traffic plus arena crowds."""
        local = when.astimezone(STOCKHOLM)
        base = 0.02 * area_m2 * DIURNAL[local.hour] * WEEKDAY[local.weekday()] / 1.4
        extra = 0.0
        for ev in self.events:
            share = 1.0 if place == ARENA_SLUG else 0.08
            extra += share * _event_crowd(ev, when)
        count = (base + extra) * (
            1.0 + SQUARE_COUNT_NOISE * gauss(key, int(when.timestamp() * 1000))
        )
        return max(0, round(count))

    def zone_people(self, zone: CrowdZone, when: datetime, key: int) -> int:
        """People in the approach zone of one of the arena's exits: foot traffic, arrivals
        before an event, and the egress after it (:mod:`sim.egress`), queue included."""
        local = when.astimezone(STOCKHOLM)
        base = 0.02 * zone.area_m2 * DIURNAL[local.hour] * WEEKDAY[local.weekday()] / 1.4
        extra = 0.0
        index = ARENA_EXITS.index(zone)
        for ev in self.events:
            if when < ev.end:
                extra += zone.share * _event_crowd(ev, when)
            extra += arena_egress(ev.attendance).state(index, (when - ev.end) / SECOND).people
        count = (base + extra) * (1.0 + ZONE_COUNT_NOISE * gauss(key, int(when.timestamp() * 1000)))
        return max(0, round(count))

    # ---- bins -----------------------------------------------------------------------
    def litter_rate(self, place: str, busy: float, when: datetime) -> float:
        """Share of a reference bin filled per hour at ``when``."""
        local = when.astimezone(STOCKHOLM)
        rate = BASE_LITTER_PER_H * busy * DIURNAL[local.hour] * WEEKDAY[local.weekday()]
        ev = self.event_on(when)
        if ev is not None:
            rate *= 1.0 + ev.attendance / 10_000 if place == ARENA_SLUG else 1.3
        return rate

    def collected(self, place: str, hour_start: datetime) -> bool:
        """Whether a collection round empties bins at ``place`` at this full UTC hour."""
        local_hour = hour_start.astimezone(STOCKHOLM).hour
        hours = ROUND_HOURS_SQUARES if place in SQUARE_SLUGS else ROUND_HOURS_ALL
        if local_hour in hours:
            return True
        return place == ARENA_SLUG and self.event_on(hour_start) is not None

    def fill(
        self,
        *,
        place: str,
        busy: float,
        volume_m3: float,
        key: int,
        when: datetime,
        emptied_at: datetime | None = None,
    ) -> float:
        """Fill level 0..1 of a bin at ``when``: litter since the last round (or since a
        crew emptied it at ``emptied_at``), scaled by its volume and its own habits."""
        start = _last_round(self, place, _hour_of(when))
        if emptied_at is not None and emptied_at > start:
            start = emptied_at
        habit = 0.7 + 0.6 * noise(key, 0, 1)
        total = busy * self._litter(place, start, when)
        return min(1.0, total * habit * REFERENCE_VOLUME_M3 / volume_m3)

    def _litter(self, place: str, start: datetime, when: datetime) -> float:
        """Litter at ``busy`` = 1 from ``start`` to ``when``, each stretch at the rate of its
        beginning: the first (partial) hour at ``start``'s rate, then whole hours (the
        same for every bin at the place, so computed once), then the current hour's part."""
        if start >= when:
            return 0.0
        first_end = min(_hour_of(start) + HOUR, when)
        total = self.litter_rate(place, 1.0, start) * ((first_end - start) / HOUR)
        if first_end < when:
            last = _hour_of(when)
            total += _whole_hours(self, place, first_end, last)
            total += self.litter_rate(place, 1.0, last) * ((when - last) / HOUR)
        return total


HOUR: Final = timedelta(hours=1)
SECOND: Final = timedelta(seconds=1)


@functools.lru_cache(maxsize=64)
def arena_egress(attendance: int) -> Egress:
    """The egress of ``attendance`` spectators through the arena's exits (sim/places.py)."""
    return Egress(
        attendance,
        tuple(Exit(z.slug, z.width_m, z.area_m2, z.length_m, z.share) for z in ARENA_EXITS),
    )


def _hour_of(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


@functools.lru_cache(maxsize=4096)
def _last_round(world: World, place: str, hour: datetime) -> datetime:
    """The full hour of the last collection round at ``place`` (at most 48 hours back)."""
    start = hour
    for _ in range(48):  # the last round is never more than a day back
        if world.collected(place, start):
            break
        start -= HOUR
    return start


@functools.lru_cache(maxsize=4096)
def _whole_hours(world: World, place: str, first: datetime, end: datetime) -> float:
    """Litter at ``busy`` = 1 over the whole hours from ``first`` up to ``end``."""
    total, cursor = 0.0, first
    while cursor < end:
        total += world.litter_rate(place, 1.0, cursor)
        cursor += HOUR
    return total


def ambient_temperature(when: datetime, key: int) -> float:
    """Outdoor air in Solna, degrees C: seasonal and daily swing plus a little noise."""
    day = when.timetuple().tm_yday
    seasonal = 7.0 - 10.0 * math.cos(2 * math.pi * (day - 20) / 365)
    local = when.astimezone(STOCKHOLM)
    daily = 3.0 * math.sin(2 * math.pi * (local.hour + local.minute / 60 - 9) / 24)
    return seasonal + daily + 0.3 * gauss(key, int(when.timestamp() * 1000), 3)


def daylight(lat: float, lon: float, when: datetime) -> bool:
    """Day profile for cameras: the sun above -3 degrees (civil twilight's brighter half)."""
    return sun_elevation(lat, lon, when) >= -3.0


def _event_crowd(ev: ArenaEvent, when: datetime) -> float:
    """People outside the arena: arrivals ramp up, few during, a surge at the end."""
    arrive = ev.start - timedelta(hours=2)
    if when < arrive or when >= ev.end + timedelta(hours=1):
        return 0.0
    if when < ev.start:
        ramp = (when - arrive) / (ev.start - arrive)
        return ev.attendance * 0.05 * ramp
    if when < ev.end:
        return ev.attendance * 0.004
    out = (when - ev.end).total_seconds() / 3600
    return ev.attendance * 0.08 * math.exp(-3.0 * out)


def utc(text: str) -> datetime:
    """Parse an ISO time and insist on an explicit offset (Trygg times are never naive)."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone; write e.g. 2026-12-11T11:00:00Z")
    return when.astimezone(UTC)
