"""Simulated streetlight: a photocell-switched lamp whose current follows its rated power."""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import Sample, SimFaults
from edge.drivers.sim_model import MAINS_V, lamp_on
from trygg.contract import AssetKind

__all__ = ["MAINS_V", "SimLamp"]


class SimLamp:
    """Switches on below civil twilight; faults: ``out``, ``dayburn``, ``flicker``,
    ``degraded``, ``cabinet_outage`` (see :mod:`edge.drivers.base`)."""

    kind = AssetKind.STREETLIGHT
    blocking = False

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

    def switch(self, on: bool | None) -> None:
        """Force the lamp on/off for a lamp test; ``None`` returns it to automatic."""
        if on is None:
            self._faults.forced.pop(self.asset, None)
        else:
            self._faults.forced[self.asset] = on

    def read(self, now: datetime) -> Sample:
        forced = self._faults.forced.get(self.asset)
        if self._faults.has(self.asset, "flicker") and forced is None:
            self._flip = not self._flip  # every read flips: the clearest flicker signature
            on = self._flip
        else:
            on = lamp_on(self.asset, self._lat, self._lon, now, self._faults)
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
