"""Simulated streetlight: a photocell-switched lamp whose current follows its rated power."""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import Sample, SimFaults
from trygg.contract import AssetKind
from trygg.sun import sun_elevation

MAINS_V = 230.0


class SimLamp:
    """Switches on below civil twilight; faults: ``out``, ``dayburn``, ``flicker``, ``degraded``."""

    kind = AssetKind.STREETLIGHT

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        lat: float,
        lon: float,
        interval_s: float,
        rated_power_kw: float,
        faults: SimFaults | None = None,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._lat, self._lon, self._rated = lat, lon, rated_power_kw
        self._faults = faults or SimFaults()
        self._flip = False

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read(self, now: datetime) -> Sample:
        should_be_on = sun_elevation(self._lat, self._lon, now) < -6.0
        on = should_be_on
        if self._faults.has(self.asset, "out") or self._faults.has(self.asset, "cabinet_outage"):
            on = False
        if self._faults.has(self.asset, "dayburn"):
            on = True
        if self._faults.has(self.asset, "flicker"):
            self._flip = not self._flip
            on = self._flip
        power = self._rated if on else 0.0
        if on and self._faults.has(self.asset, "degraded"):
            power *= 0.6
        return Sample(
            {
                "powerState": "on" if on else "off",
                "activePower": round(power, 5),
                "intensity": round(power * 1000 / MAINS_V, 4),
            }
        )
