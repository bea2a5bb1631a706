"""A simulated waste bin: the edge's own bin twins, filled and warmed by the world model.

The twins (:mod:`edge.drivers.sim_bin`) take their faults as on a pole; the world gives
the fill (litter by time of day and place, collection rounds, arena events) and the air
temperature.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edge.drivers.base import Driver, SimFaults
from edge.drivers.sim_bin import SimDs18b20, SimTilt, SimUltrasonic
from edge.drivers.sim_model import stable_key
from sim.places import SQUARES
from sim.world import World, ambient_temperature

D_FULL_M = 0.1  # the sensor sits 10 cm above the brim
BIN_WARMTH_C = 1.5  # a closed bin in the sun is a little warmer than the air


def bin_drivers(
    *,
    asset: str,
    place: str,
    volume_m3: float,
    depth_m: float,
    world: World,
    faults: SimFaults,
    interval_s: float = 300.0,
) -> list[Driver]:
    """The fill level, temperature and tilt twins of one bin at ``place``."""
    busy = next((s.busy for s in SQUARES if s.slug == place), 1.0)
    key = stable_key(world.seed, asset)

    def fill(now: datetime, emptied_at: datetime | None) -> float:
        return world.fill(
            place=place, busy=busy, volume_m3=volume_m3, key=key, when=now, emptied_at=emptied_at
        )

    def ambient(now: datetime) -> float:
        return ambient_temperature(now, key) + BIN_WARMTH_C

    common: dict[str, Any] = {
        "asset": asset,
        "interval_s": interval_s,
        "faults": faults,
        "seed": world.seed,
    }
    return [
        SimUltrasonic(
            **common, sensor="level", fill=fill, depth_empty_m=depth_m, depth_full_m=D_FULL_M
        ),
        SimDs18b20(**common, sensor="temperature", ambient=ambient),
        SimTilt(**common, sensor="tilt"),
    ]
