"""Simulated twins of the streetlight's real drivers: relay input, INA219 and BH1750, and
``SimLamp``, relay and power in one driver (the simulator's lamps).

All derive from :func:`edge.drivers.sim_model.lamp_on`, so a pole built from twins
reports a consistent lamp (relay on, current flowing) and its lamp tests show up in all.
Faults: ``out``, ``dayburn``, ``flicker``, ``degraded``, ``cabinet_outage`` (see
:mod:`edge.drivers.base`).
"""

from __future__ import annotations

from datetime import datetime

from edge.drivers.base import Sample, SimFaults
from edge.drivers.sim_model import (
    MAINS_V,
    ambient_lux,
    lamp_on,
    lamp_power_kw,
    ms,
    spread,
    stable_key,
)
from trygg.contract import AssetKind, Value


class _SimLampPart:
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
        faults: SimFaults,
        rated_power_kw: float = 0.06,
        seed: int = 0,
    ) -> None:
        self._rated = rated_power_kw
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._lat, self._lon, self._faults = lat, lon, faults
        self._key = stable_key(seed, f"{asset}/{sensor}")

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _on(self, now: datetime) -> bool:
        return lamp_on(self.asset, self._lat, self._lon, now, self._faults)


def _power(power_kw: float) -> dict[str, Value]:
    return {"activePower": round(power_kw, 5), "intensity": round(power_kw * 1000 / MAINS_V, 4)}


class SimRelay(_SimLampPart):
    """Twin of :class:`edge.drivers.gpio.GpioRelay`."""

    def switch(self, on: bool | None) -> None:
        """Force the lamp on/off for a lamp test; ``None`` returns it to automatic."""
        if on is None:
            self._faults.forced.pop(self.asset, None)
        else:
            self._faults.forced[self.asset] = on

    def read(self, now: datetime) -> Sample:
        return Sample({"powerState": "on" if self._on(now) else "off"})


class SimLamp(SimRelay):
    """A relay and its power meter read together: the lamp's state and exact rated power."""

    def read(self, now: datetime) -> Sample:
        on = self._on(now)
        power = lamp_power_kw(self.asset, on, self._rated, self._faults)
        return Sample({"powerState": "on" if on else "off", **_power(power)})


class SimIna219(_SimLampPart):
    """Twin of :class:`edge.drivers.ina219.Ina219`: current and power with 1 % noise."""

    def read(self, now: datetime) -> Sample:
        power = lamp_power_kw(self.asset, self._on(now), self._rated, self._faults)
        if power:
            power *= 1 + spread(self._key, ms(now), 0.01)
        return Sample(_power(power))


class SimBh1750(_SimLampPart):
    """Twin of :class:`edge.drivers.bh1750.Bh1750`: daylight plus the lamp's own light."""

    def read(self, now: datetime) -> Sample:
        lux = ambient_lux(self._lat, self._lon, now) + (15.0 if self._on(now) else 0.0)
        lux *= 1 + spread(self._key, ms(now), 0.05)
        return Sample({"illuminance": round(min(lux, 65535 / 1.2), 1)})
