"""Simulated twins of the waste bin's drivers: ultrasonic fill level, DS18B20, tilt switch."""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import DriverError, Sample, SimFaults
from edge.drivers.sim_model import noise
from edge.drivers.ultrasonic import fill_level
from trygg.contract import AssetKind


class _SimBinPart:
    kind = AssetKind.BIN
    blocking = False

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        interval_s: float,
        faults: SimFaults,
        depth_empty_m: float = 1.0,
        depth_full_m: float = 0.1,
        fill_per_hour: float = 0.02,
        start_fill: float = 0.1,
        base_c: float = 8.0,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._faults = faults
        self._empty, self._full = depth_empty_m, depth_full_m
        self._rate, self._start, self._base = fill_per_hour, start_fill, base_c

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _check_alive(self) -> None:
        if self._faults.has(self.asset, "sensor_dead"):
            raise DriverError(f"{self.asset}/{self.sensor}: no response (simulated)")


class SimUltrasonic(_SimBinPart):
    """Fill rises at ``fill_per_hour`` and the bin is emptied when it would overflow."""

    _origin: datetime | None = None

    def read(self, now: datetime) -> Sample:
        self._check_alive()
        if self._origin is None:
            self._origin = now
        hours = (now - self._origin).total_seconds() / 3600
        fill = (self._start + self._rate * hours) % 1.0
        if self._faults.has(self.asset, "full"):
            fill = 0.97
        distance = self._empty - fill * (self._empty - self._full)
        distance += noise(self.asset, self.sensor, now, 0.01)
        if self._faults.has(self.asset, "dropped"):
            distance = 0.02  # lying on its side the sensor sees the opposite wall
        distance = max(distance, 0.02)
        return Sample(
            {
                "distance": round(distance, 3),
                "fillingLevel": round(fill_level(distance, self._empty, self._full), 3),
            }
        )


class SimDs18b20(_SimBinPart):
    """Steady ``base_c`` with 0.2 degC noise; under ``fire`` it climbs 10 degC a minute."""

    _fire_since: datetime | None = None

    def read(self, now: datetime) -> Sample:
        self._check_alive()
        temp = self._base + noise(self.asset, self.sensor, now, 0.2)
        if self._faults.has(self.asset, "fire"):
            if self._fire_since is None:
                self._fire_since = now
            minutes = (now - self._fire_since).total_seconds() / 60
            temp += min(30 + 10 * minutes, 400)
        else:
            self._fire_since = None
        return Sample({"temperature": round(temp, 2)})


class SimTilt(_SimBinPart):
    def read(self, now: datetime) -> Sample:
        self._check_alive()
        return Sample({"tilted": self._faults.has(self.asset, "dropped")})
