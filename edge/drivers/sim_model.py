"""Pure physics shared by the simulated twins, so the twins of one asset agree.

Noise is a deterministic hash of (asset, sensor, time), not a random generator: a replayed
scenario gives the same readings, and no state is kept per driver.
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime

from edge.drivers.base import SimFaults
from trygg.sun import sun_elevation

MAINS_V = 230.0
CIVIL_TWILIGHT_DEG = -6.0


def noise(asset: str, sensor: str, now: datetime, scale: float) -> float:
    """A repeatable value in [-scale, +scale] for this asset, sensor and second."""
    key = f"{asset}/{sensor}/{int(now.timestamp())}".encode()
    return (zlib.crc32(key) / 0xFFFFFFFF * 2 - 1) * scale


def lamp_on(asset: str, lat: float, lon: float, now: datetime, faults: SimFaults) -> bool:
    """The simulated lamp's state: dark below civil twilight, then faults and lamp tests."""
    forced = faults.forced.get(asset)
    if forced is not None:
        return forced
    on = sun_elevation(lat, lon, now) < CIVIL_TWILIGHT_DEG
    if faults.has(asset, "out") or faults.has(asset, "cabinet_outage"):
        on = False
    if faults.has(asset, "dayburn"):
        on = True
    if faults.has(asset, "flicker"):
        on = zlib.crc32(f"{asset}/{int(now.timestamp())}".encode()) % 2 == 0
    return on


def lamp_power_kw(asset: str, on: bool, rated_kw: float, faults: SimFaults) -> float:
    if not on:
        return 0.0
    return rated_kw * (0.6 if faults.has(asset, "degraded") else 1.0)


def ambient_lux(lat: float, lon: float, now: datetime) -> float:
    """Rough outdoor illuminance from sun elevation: ~100 klx noon, ~3 lx at -6 deg."""
    elevation = sun_elevation(lat, lon, now)
    if elevation <= -18:
        return 0.01
    if elevation < 0:
        return 400.0 * math.exp(elevation * 0.82)
    return 400.0 + 100_000.0 * math.sin(math.radians(elevation))
