"""Simulated twins of the waste bin's drivers: ultrasonic fill level, DS18B20, tilt switch.

How full the bin is and how warm the air is are models handed in: by default a bin that
fills at a steady rate in steady air (what a device file configures), in the simulator the
city's litter, collection rounds and weather.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from edge.drivers.base import DriverError, Sample, SimFaults
from edge.drivers.sim_model import ms, spread, stable_key
from edge.drivers.ultrasonic import fill_level
from trygg.contract import AssetKind

# Fill 0..1 at ``now``, given when a crew last emptied the bin (None: not since start).
Fill = Callable[[datetime, datetime | None], float]
# Air temperature in degrees C at ``now``.
Ambient = Callable[[datetime], float]
FULL = 0.97  # the ``full`` fault: a round missed the bin and it overflows


class SteadyFill:
    """Fills at ``per_hour`` from ``start`` (from empty once emptied), and is emptied
    whenever it would overflow."""

    def __init__(self, *, start: float, per_hour: float) -> None:
        self._start, self._rate = start, per_hour
        self._origin: datetime | None = None

    def __call__(self, now: datetime, emptied_at: datetime | None) -> float:
        if self._origin is None:
            self._origin = now
        base, since = (self._start, self._origin) if emptied_at is None else (0.0, emptied_at)
        return (base + self._rate * (now - since).total_seconds() / 3600) % 1.0


class _SimBinPart:
    kind = AssetKind.BIN
    blocking = False

    def __init__(
        self, *, asset: str, sensor: str, interval_s: float, faults: SimFaults, seed: int = 0
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._faults = faults
        self._key = stable_key(seed, f"{asset}/{sensor}")

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _check_alive(self) -> None:
        if self._faults.has(self.asset, "sensor_dead"):
            raise DriverError(f"{self.asset}/{self.sensor}: no response (simulated)")


class SimUltrasonic(_SimBinPart):
    """Twin of :class:`edge.drivers.ultrasonic.Ultrasonic`: the distance to the litter as
    ``fill`` says, and the fill level the real driver derives from it. Clearing the
    ``full`` fault means a crew emptied the bin."""

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        interval_s: float,
        faults: SimFaults,
        fill: Fill,
        depth_empty_m: float = 1.0,
        depth_full_m: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            asset=asset, sensor=sensor, interval_s=interval_s, faults=faults, seed=seed
        )
        self._fill, self._empty, self._full = fill, depth_empty_m, depth_full_m
        self._emptied_at: datetime | None = None
        self._was_full = False

    def read(self, now: datetime) -> Sample:
        self._check_alive()
        full = self._faults.has(self.asset, "full")
        if self._was_full and not full:
            self._emptied_at = now
        self._was_full = full
        fill = min(1.0, max(0.0, self._fill(now, self._emptied_at)))
        if full:
            fill = max(fill, FULL)
        distance = self._empty - fill * (self._empty - self._full)
        distance = max(distance + spread(self._key, ms(now), 0.01), 0.02)
        return Sample(
            {
                "distance": round(distance, 3),
                "fillingLevel": round(fill_level(distance, self._empty, self._full), 3),
            }
        )


class SimDs18b20(_SimBinPart):
    """Twin of :class:`edge.drivers.ds18b20.Ds18b20`: the air (``ambient``, else a steady
    ``base_c``) with 0.2 degC noise; under ``fire`` it climbs 10 degC a minute."""

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        interval_s: float,
        faults: SimFaults,
        base_c: float = 8.0,
        ambient: Ambient | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            asset=asset, sensor=sensor, interval_s=interval_s, faults=faults, seed=seed
        )
        self._ambient = ambient or (lambda _now: base_c)
        self._fire_since: datetime | None = None

    def read(self, now: datetime) -> Sample:
        self._check_alive()
        temp = self._ambient(now) + spread(self._key, ms(now), 0.2)
        if self._faults.has(self.asset, "fire"):
            if self._fire_since is None:
                self._fire_since = now
            minutes = (now - self._fire_since).total_seconds() / 60
            temp += min(30 + 10 * minutes, 400)
        else:
            self._fire_since = None
        return Sample({"temperature": round(temp, 2)})


class SimTilt(_SimBinPart):
    """Twin of :class:`edge.drivers.gpio.Tilt`: closed while the bin lies ``dropped``."""

    def read(self, now: datetime) -> Sample:
        self._check_alive()
        return Sample({"tilted": self._faults.has(self.asset, "dropped")})
