"""Simulated twin of :class:`edge.drivers.pi_health.PiHealth`: a calm, synchronised Pi."""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import Sample
from edge.drivers.sim_model import ms, spread, stable_key
from trygg.contract import AssetKind


class SimPiHealth:
    kind = AssetKind.DEVICE
    blocking = False

    def __init__(self, *, asset: str, sensor: str, interval_s: float) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._booted: datetime | None = None
        self._key = stable_key(0, asset)

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read(self, now: datetime) -> Sample:
        if self._booted is None:
            self._booted = now
        t = ms(now)
        return Sample(
            {
                "cpuTemperature": round(48.0 + spread(self._key, t, 3.0, salt=1), 1),
                "cpuLoad": round(0.08 + abs(spread(self._key, t, 0.05, salt=2)), 3),
                "memoryUsed": 0.31,
                "diskUsed": 0.22,
                "uptime": round((now - self._booted).total_seconds(), 1),
                "clockSynced": True,
            }
        )
