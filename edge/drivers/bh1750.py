"""BH1750FVI ambient light sensor (ROHM) over I2C, one-time high-resolution mode.

One-time mode powers the sensor down after each measurement, which is what a reading every
minute wants. Lux = raw / 1.2 (datasheet "Measurement sequence example").
"""

from __future__ import annotations

import time
from datetime import datetime

from edge.drivers.base import DriverError, Sample
from edge.drivers.i2c import SMBusLike, open_bus, read_raw, transact
from trygg.contract import AssetKind

POWER_ON = 0x01
ONE_TIME_H_RES = 0x20
MEASUREMENT_S = 0.18  # datasheet: 120 ms typical, 180 ms maximum in H-resolution mode


def lux_from_bytes(high: int, low: int) -> float:
    """Datasheet: illuminance = (High Byte << 8 | Low Byte) / 1.2 lx."""
    return ((high << 8) | low) / 1.2


class Bh1750:
    kind = AssetKind.STREETLIGHT
    blocking = True

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        interval_s: float,
        bus: int,
        address: int,
        smbus: SMBusLike | None = None,
        measurement_s: float = MEASUREMENT_S,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._bus_no, self._addr, self._bus = bus, address, smbus
        self._wait = measurement_s

    @property
    def _what(self) -> str:
        return f"BH1750 {self._bus_no}:{self._addr:#04x}"

    def open(self) -> None:
        if self._bus is None:
            self._bus = open_bus(self._bus_no)
        bus = self._bus
        transact(self._bus_no, self._what, lambda: bus.write_byte(self._addr, POWER_ON))

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None

    def read(self, now: datetime) -> Sample:
        del now
        bus = self._bus
        if bus is None:
            raise DriverError(f"{self._what}: not open")
        transact(self._bus_no, self._what, lambda: bus.write_byte(self._addr, ONE_TIME_H_RES))
        time.sleep(self._wait)  # blocking on purpose: the agent calls this off the loop
        data = transact(self._bus_no, self._what, lambda: read_raw(bus, self._addr, 2))
        if len(data) != 2:
            raise DriverError(f"{self._what}: short read")
        lux = lux_from_bytes(data[0], data[1])
        # 0xFFFF is the saturated reading (direct sunlight on the dome): a bound, not a value
        return Sample(
            {"illuminance": round(lux, 1)}, quality="uncertain" if data == b"\xff\xff" else "good"
        )
