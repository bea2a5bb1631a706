"""Pure physics shared by the simulated twins (and the simulator's world), so the twins of
one asset agree.

Noise is a counter-based hash of (key, time, salt), not a random generator: a reading at a
given simulated instant is the same whatever order or process asks for it, so a replayed
scenario gives the same readings, and no state is kept per driver.
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime
from typing import Final

from edge.drivers.base import SimFaults
from trygg.sun import sun_elevation

MAINS_V: Final = 230.0
CIVIL_TWILIGHT_DEG: Final = -6.0
_MASK: Final = (1 << 64) - 1


def stable_key(seed: int, text: str) -> int:
    """A per-run, per-name integer that is the same in every process (unlike ``hash``)."""
    return (zlib.crc32(text.encode()) | (seed << 32)) & _MASK


def noise(key: int, t_ms: int, salt: int = 0) -> float:
    """Uniform [0, 1) from (key, time, salt): splitmix64, no shared generator state."""
    x = (key * 0x9E3779B97F4A7C15 + t_ms * 0xD1B54A32D192ED03 + salt * 0x8CB92BA72F3D8DD7) & _MASK
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return x / float(1 << 64)


def spread(key: int, t_ms: int, scale: float, salt: int = 0) -> float:
    """Uniform [-scale, +scale) from one :func:`noise` draw."""
    return (2.0 * noise(key, t_ms, salt) - 1.0) * scale


def gauss(key: int, t_ms: int, salt: int = 0) -> float:
    """Standard normal from two :func:`noise` draws (Box-Muller)."""
    u1 = max(noise(key, t_ms, salt), 1e-12)
    u2 = noise(key, t_ms, salt + 7919)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)


def ms(now: datetime) -> int:
    """``now`` in epoch milliseconds, the time axis of :func:`noise`."""
    return int(now.timestamp() * 1000)


def lamp_on(asset: str, lat: float, lon: float, now: datetime, faults: SimFaults) -> bool:
    """The simulated lamp's state: dark below civil twilight, then faults and lamp tests."""
    forced = faults.forced.get(asset)
    if forced is not None:
        return forced
    if faults.has(asset, "flicker"):
        return faults.flicker(asset, now)
    on = sun_elevation(lat, lon, now) < CIVIL_TWILIGHT_DEG
    if faults.has(asset, "out") or faults.has(asset, "cabinet_outage"):
        on = False
    if faults.has(asset, "dayburn"):
        on = True
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
