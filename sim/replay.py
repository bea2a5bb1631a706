"""The scenario's readings without brokers or agents: every driver of the city read on a
fixed simulated grid while the faults are set and cleared on time.

This is the simulator's ground truth in its purest form, used to prove determinism (same
scenario and seed give the same faults and the same readings) and to inspect what a
scenario will look like before running it live. Drivers are the same objects the fleet
gives the agents; no I/O happens here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from edge.drivers.base import DriverError
from edge.drivers.registry import build_drivers
from sim.fleet import CityFaults, LinkSettings, Rates, device_config, world_drivers
from sim.scenario import Scenario
from sim.timeline import steps
from trygg.contract import Value

Row = tuple[str, str, str, str, Value]  # (iso time, asset, sensor, field, value)


def readings(scenario: Scenario, *, every_s: float = 60.0) -> Iterator[Row]:
    """Every driver's values every ``every_s`` simulated seconds, with faults applied.

    A failed read (an injected dead sensor) yields the field ``error``.
    """
    faults = CityFaults()
    rates = Rates()
    drivers = []
    for device in scenario.city.devices:
        config = device_config(
            device, link=LinkSettings(), rates=rates, state_dir=Path("/nonexistent"), speed=1.0
        )
        drivers += build_drivers(list(config.assets), faults)
        drivers += world_drivers(device, scenario, faults, rates)
    pending = [s for s in steps(scenario.injections) if s.injection.kind.driver_fault]
    t = scenario.start
    while t <= scenario.end:
        while pending and pending[0].at <= t:
            step = pending.pop(0)
            kind = step.injection.kind
            assert kind.driver_fault is not None
            for asset in step.injection.assets:
                faults.set(asset, kind.driver_fault, active=step.active)
        stamp = t.isoformat()
        for d in drivers:
            try:
                sample = d.read(t)
            except DriverError:
                yield (stamp, d.asset, d.sensor, "error", True)
                continue
            for name, value in sample.values.items():
                yield (stamp, d.asset, d.sensor, name, value)
        t += timedelta(seconds=every_s)


def digest(scenario: Scenario, *, every_s: float = 60.0) -> tuple[str, int]:
    """SHA-256 over all readings and the number of readings."""
    h = hashlib.sha256()
    n = 0
    for row in readings(scenario, every_s=every_s):
        h.update(repr(row).encode())
        n += 1
    return h.hexdigest(), n
