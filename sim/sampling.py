"""A scenario's readings in virtual time, as the poles would have sent them (no I/O).

Every driver of the city (the edge's lamp twins, the world-driven bins and cameras) is read
at its own interval on a grid from the scenario's start, with the driver faults set and
cleared on time, and a pole whose Pi is down (``device_offline``) sends nothing meanwhile.
Unlike :mod:`sim.replay` (every driver on one grid, for determinism checks), this is what a
hub would store, so a long period can be pushed through the hub's own pipeline without
brokers or agents. Crowd zones are left out with ``kinds``; a dead sensor's read sends
nothing, as on a pole.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from edge.drivers.base import Driver, DriverError
from edge.drivers.registry import build_drivers
from sim.fleet import CityFaults, LinkSettings, Rates, device_config, world_drivers
from sim.scenario import Scenario
from sim.timeline import steps
from sim.truth import device_outages, during
from trygg.contract import AssetKind, Value


@dataclass(frozen=True, slots=True)
class Taken:
    """One driver's values at one instant, from one pole."""

    device: str
    asset: str
    kind: AssetKind
    sensor: str
    t_ms: int
    values: Mapping[str, Value]


def _drivers(scenario: Scenario, faults: CityFaults, rates: Rates) -> list[tuple[str, Driver]]:
    out: list[tuple[str, Driver]] = []
    for device in scenario.city.devices:
        config = device_config(
            device, link=LinkSettings(), rates=rates, state_dir=Path("/nonexistent"), speed=1.0
        )
        ds = build_drivers(list(config.assets), faults)
        ds += world_drivers(device, scenario, faults, rates)
        out += [(device.id, d) for d in ds]
    return out


def samples(
    scenario: Scenario,
    *,
    rates: Rates | None = None,
    kinds: Collection[AssetKind] = (AssetKind.STREETLIGHT, AssetKind.BIN, AssetKind.CAMERA),
) -> Iterator[Taken]:
    """Every reading of the scenario from its start to its end (included), oldest first,
    at ``rates`` (the fleet's defaults if None). ValueError if a driver's interval is not a
    whole number of the shortest one."""
    faults = CityFaults()
    drivers = [
        (dev, d) for dev, d in _drivers(scenario, faults, rates or Rates()) if d.kind in kinds
    ]
    step_s = int(min(d.interval_s for _, d in drivers))
    for _, d in drivers:
        if d.interval_s % step_s:
            raise ValueError(f"{d.asset}/{d.sensor}: interval {d.interval_s} s off the grid")
    outages = device_outages(scenario.injections)
    pending = [s for s in steps(scenario.injections) if s.injection.kind.driver_fault]
    t, n = scenario.start, 0
    while t <= scenario.end:
        while pending and pending[0].at <= t:
            step = pending.pop(0)
            fault = step.injection.kind.driver_fault
            assert fault is not None
            for asset in step.injection.assets:
                faults.set(asset, fault, active=step.active)
        t_ms = int(t.timestamp() * 1000)
        for dev, d in drivers:
            if (n * step_s) % d.interval_s or during(outages.get(dev, ()), t):
                continue
            try:
                sample = d.read(t)
            except DriverError:
                continue
            take = getattr(d, "take_events", None)
            if take is not None:
                take()  # camera events are not figures; dropping them keeps memory flat
            yield Taken(dev, d.asset, d.kind, d.sensor, t_ms, dict(sample.values))
        n += 1
        t = scenario.start + timedelta(seconds=n * step_s)
