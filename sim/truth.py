"""The simulator's own account of a period: what the follow-up figures must come to. Pure.

Computed from the scenario alone (its fault schedule, the city's layout, the sun and the
world's litter model) on a fixed grid, never from readings, so a test can push the
scenario's readings through the hub's pipeline and hold each figure against it. Where a
sensor's noise leaves the truth uncertain (a bin's fill level near its threshold, a
collection that leaves just about 0.3 of a bin) the account gives the range the figure
may fall in, not one number.

The crew (:func:`crew_log`) is the simulator's: a fault becomes a ticket ``report_s`` after
it starts, a crew acknowledges it after a seeded delay and repairs it when the scenario
clears the fault (a fault never cleared stays open).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from edge.drivers.sim_bin import FULL
from edge.drivers.sim_model import stable_key
from sim.city import City
from sim.places import SQUARES
from sim.scenario import Injection, Scenario
from sim.world import World
from trygg.contract import AssetKind
from trygg.sun import sun_elevation

Window = tuple[datetime, datetime]
# The ultrasonic twin's distance noise (1 cm over a 0.9 m span) as fill level, read twice.
FILL_NOISE: Final = 0.025
COLLECT_DROP: Final = 0.3
DARK_BELOW_DEG: Final = -6.0
DEGRADED: Final = 0.6
HEALTH_FAULTS: Final = frozenset({"covered", "blurred"})


def during(windows: Iterable[Window], t: datetime) -> bool:
    return any(a <= t < b for a, b in windows)


def _window(inj: Injection, end: datetime) -> Window:
    return inj.at, inj.clear_at or end


def device_outages(injections: Iterable[Injection]) -> dict[str, list[Window]]:
    """Device id -> when its Pi was down (``device_offline``); an outage never cleared
    lasts to the end of time."""
    out: dict[str, list[Window]] = {}
    for inj in injections:
        if inj.fault == "device_offline":
            for dev in inj.devices:
                out.setdefault(dev, []).append(
                    _window(inj, datetime.max.replace(tzinfo=inj.at.tzinfo))
                )
    return out


def asset_faults(scenario: Scenario) -> dict[str, list[tuple[str, Window]]]:
    """Asset id -> (driver fault, window) for every driver fault of the scenario."""
    out: dict[str, list[tuple[str, Window]]] = {}
    for inj in scenario.injections:
        fault = inj.kind.driver_fault
        if fault is not None:
            for asset in inj.assets:
                out.setdefault(asset, []).append((fault, _window(inj, scenario.end)))
    return out


@dataclass(frozen=True, slots=True)
class Visit:
    """One ticket as the simulated crew lived it."""

    kind: str
    asset: str
    severity: str
    opened: datetime
    acknowledged: datetime
    resolved: datetime | None


def crew_log(
    scenario: Scenario,
    *,
    severity: Mapping[str, str],
    report_s: float = 300.0,
    ack_h: tuple[float, float] = (0.25, 6.0),
) -> list[Visit]:
    """Every ticket-worthy fault as a crew's visit, oldest first; the acknowledgement comes
    a seeded ``ack_h`` hours after the report, never after the repair. KeyError if a
    ticket kind has no severity."""
    rng = random.Random(f"{scenario.spec.seed}:crew")
    out: list[Visit] = []
    for inj in sorted(scenario.injections, key=lambda i: i.at):
        kind = inj.kind.ticket
        if kind is None or inj.target is None:
            continue
        opened = inj.at + timedelta(seconds=report_s)
        ack = opened + timedelta(seconds=round(rng.uniform(*ack_h) * 3600))
        if inj.clear_at is not None:
            ack = min(ack, inj.clear_at)
        out.append(Visit(kind, inj.target, severity[kind], opened, ack, inj.clear_at))
    return out


@dataclass(frozen=True, slots=True)
class Span:
    """A figure the truth pins to ``[low, high]``."""

    low: float
    high: float

    def holds(self, value: float, slack: float = 0.0) -> bool:
        return self.low - slack <= value <= self.high + slack


@dataclass(frozen=True, slots=True)
class RepairTruth:
    kind: str
    opened: int
    resolved: int
    ack_median_h: float | None
    ack_p90_h: float | None
    repair_median_h: float | None
    repair_p90_h: float | None
    within_sla: float | None


@dataclass(frozen=True, slots=True)
class Truth:
    """What the figures of ``[start, end)`` must be; seconds in lamp- or asset-seconds."""

    hours: float
    lamps: int
    lamp_dark_s: float
    lamp_lit_dark_s: float
    lamp_lit_day_s: float
    wasted_kwh: float
    bins: int
    bin_full_s: Span
    bin_full_edges: int  # times a bin may have become full or stopped being so
    fires: int
    collections: Span
    camera_healthy: float | None
    reporting: Mapping[str, float]
    repairs: tuple[RepairTruth, ...]

    @property
    def lamp_availability(self) -> float | None:
        return self.lamp_lit_dark_s / self.lamp_dark_s if self.lamp_dark_s else None


def _grid(start: datetime, end: datetime, step_s: int) -> list[datetime]:
    n = int((end - start).total_seconds()) // step_s
    return [start + timedelta(seconds=i * step_s) for i in range(n)]


def _lamp_on(faults: Sequence[tuple[str, Window]], dark: bool, t: datetime) -> float:
    """Share of the lamp's rated power it draws at ``t`` (0: off)."""
    active = {f for f, w in faults if w[0] <= t < w[1]}
    on = dark and not active & {"out", "cabinet_outage"}
    if "dayburn" in active:
        on = True
    return (DEGRADED if "degraded" in active else 1.0) if on else 0.0


def _rank(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def repairs(
    visits: Sequence[Visit], *, start: datetime, end: datetime, sla_h: Mapping[str, float]
) -> tuple[RepairTruth, ...]:
    """Per ticket kind, the visits opened in ``[start, end)``; ``sla_h`` by severity."""
    out = []
    opened = [v for v in visits if start <= v.opened < end]
    for kind in sorted({v.kind for v in opened}):
        vs = [v for v in opened if v.kind == kind]
        done = [v for v in vs if v.resolved is not None]
        ack = [(v.acknowledged - v.opened).total_seconds() / 3600 for v in vs]
        fix = [(v.resolved - v.opened).total_seconds() / 3600 for v in done if v.resolved]
        in_sla = sum(1 for v, h in zip(done, fix, strict=True) if h <= sla_h[v.severity])
        out.append(
            RepairTruth(
                kind,
                len(vs),
                len(done),
                _rank(ack, 0.5),
                _rank(ack, 0.9),
                _rank(fix, 0.5),
                _rank(fix, 0.9),
                in_sla / len(done) if done else None,
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Bin:
    """One bin's level as the world fills it, a ``full`` fault and its crew included."""

    world: World
    place: str
    busy: float
    volume_m3: float
    key: int
    full: tuple[Window, ...]

    def fill(self, t: datetime) -> float:
        emptied = max((w[1] for w in self.full if w[1] <= t), default=None)
        level = self.world.fill(
            place=self.place,
            busy=self.busy,
            volume_m3=self.volume_m3,
            key=self.key,
            when=t,
            emptied_at=emptied,
        )
        return max(level, FULL) if during(self.full, t) else level


@dataclass(frozen=True, slots=True)
class _BinTruth:
    bins: int
    full_s: Span
    full_edges: int
    fires: int
    collections: Span


def _bin_truth(
    scenario: Scenario, faults: Mapping[str, list[tuple[str, Window]]], grid: list[datetime]
) -> _BinTruth:
    """Bins, seconds full, fires and collections on ``grid`` (a regular one)."""
    step_s = (grid[1] - grid[0]).total_seconds() if len(grid) > 1 else 0.0
    start, end = grid[0], grid[-1] + timedelta(seconds=step_s)
    busy_of = {s.slug: s.busy for s in SQUARES}
    full_lo = full_hi = 0.0
    n = fires = edges = coll_lo = coll_hi = 0
    for _dev, a in scenario.city.assets():
        if a.kind != AssetKind.BIN:
            continue
        n += 1
        mine = faults.get(a.id, [])
        fires += sum(1 for f, w in mine if f == "fire" and start <= w[0] < end)
        thr = float(a.properties.get("fullnessThreshold", 0.8))
        model = _Bin(
            scenario.world,
            a.place,
            busy_of.get(a.place, 1.0),
            float(a.properties["volume"]),
            stable_key(scenario.world.seed, a.id),
            tuple(w for f, w in mine if f == "full"),
        )
        was = False
        for t in grid:
            level = model.fill(t)
            full_lo += step_s if level >= thr + FILL_NOISE else 0.0
            maybe = level >= thr - FILL_NOISE
            full_hi += step_s if maybe else 0.0
            edges += maybe != was
            was = maybe
        # Emptied by a round at a full hour, or by the crew clearing a ``full`` fault.
        hour = start.replace(minute=0, second=0, microsecond=0)
        while hour < end:
            if hour >= start and scenario.world.collected(a.place, hour):
                drop = model.fill(hour - timedelta(seconds=1)) - model.fill(hour)
                coll_lo += drop >= COLLECT_DROP + FILL_NOISE
                coll_hi += drop >= COLLECT_DROP - FILL_NOISE
            hour += timedelta(hours=1)
        cleared = sum(1 for w in model.full if start <= w[1] < end)
        coll_lo += cleared
        coll_hi += cleared
    return _BinTruth(n, Span(full_lo, full_hi), edges, fires, Span(coll_lo, coll_hi))


def account(
    scenario: Scenario,
    visits: Sequence[Visit],
    *,
    start: datetime,
    end: datetime,
    sla_h: Mapping[str, float],
    step_s: int = 60,
) -> Truth:
    """The truth of ``[start, end)`` (aware datetimes) on a ``step_s`` grid."""
    city: City = scenario.city
    faults = asset_faults(scenario)
    outages = device_outages(scenario.injections)
    grid = _grid(start, end, step_s)
    dark_s = lit_dark = lit_day = wasted_wh = 0.0
    lamps = cams = 0
    healthy = 0.0
    heard: dict[str, float] = {}
    total: dict[str, float] = {}
    for dev, a in city.assets():
        if a.kind not in (AssetKind.STREETLIGHT, AssetKind.BIN, AssetKind.CAMERA):
            continue
        down = outages.get(dev.id, [])
        mine = faults.get(a.id, [])
        kind = a.kind.value
        total[kind] = total.get(kind, 0.0) + len(grid) * step_s
        heard[kind] = heard.get(kind, 0.0) + sum(step_s for t in grid if not during(down, t))
        if a.kind == AssetKind.STREETLIGHT:
            lamps += 1
            rated_w = float(a.properties.get("ratedPower", 0.06)) * 1000
            for t in grid:
                dark = sun_elevation(a.lat, a.lon, t) < DARK_BELOW_DEG
                share = 0.0 if during(down, t) else _lamp_on(mine, dark, t)
                if dark:
                    dark_s += step_s
                    lit_dark += step_s if share else 0.0
                elif share:
                    lit_day += step_s
                    wasted_wh += share * rated_w * step_s / 3600
        elif a.kind == AssetKind.CAMERA:
            cams += 1
            bad = [w for f, w in mine if f in HEALTH_FAULTS]
            healthy += sum(step_s for t in grid if not during(down, t) and not during(bad, t))
    bins = _bin_truth(scenario, faults, grid)
    return Truth(
        hours=(end - start).total_seconds() / 3600,
        lamps=lamps,
        lamp_dark_s=dark_s,
        lamp_lit_dark_s=lit_dark,
        lamp_lit_day_s=lit_day,
        wasted_kwh=wasted_wh / 1000,
        bins=bins.bins,
        bin_full_s=bins.full_s,
        bin_full_edges=bins.full_edges,
        fires=bins.fires,
        collections=bins.collections,
        camera_healthy=healthy / (cams * len(grid) * step_s) if cams else None,
        reporting={k: heard[k] / total[k] for k in total},
        repairs=repairs(visits, start=start, end=end, sla_h=sla_h),
    )
