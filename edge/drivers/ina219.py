"""INA219 current/power monitor (TI SBOS448) over I2C.

The lamp's LED driver output runs through the shunt; the INA219 measures shunt and bus
voltage and, once calibrated, reports current and power itself. Register arithmetic is in
pure functions so the test can check it against the datasheet's worked example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from edge.drivers.base import DriverError, Sample
from edge.drivers.i2c import SMBusLike, open_bus, transact
from trygg.contract import AssetKind

REG_CONFIG = 0x00
REG_SHUNT = 0x01
REG_BUS = 0x02
REG_POWER = 0x03
REG_CURRENT = 0x04
REG_CALIBRATION = 0x05
# 32 V range, +/-320 mV shunt range, 12-bit, 128-sample averaging, continuous (datasheet 8.6.2.1)
CONFIG_32V_320MV_128AVG = 0x3FFF


@dataclass(frozen=True, slots=True)
class Calibration:
    current_lsb_a: float
    power_lsb_w: float
    register: int


def calibration(shunt_ohms: float, max_current_a: float) -> Calibration:
    """Datasheet eq. 1-3: Current_LSB = I_max / 2^15, Cal = trunc(0.04096 / (LSB * R)),
    Power_LSB = 20 * Current_LSB. The LSB is rounded up to a round 10 uA step so readings
    are exact decimals; raises ValueError when the register would overflow."""
    lsb = math.ceil(max_current_a / 32768 / 1e-5) * 1e-5
    register = math.trunc(0.04096 / (lsb * shunt_ohms))
    if not 0 < register <= 0xFFFE:
        raise ValueError(f"calibration {register} out of range: check shunt_ohms/max_current_a")
    return Calibration(current_lsb_a=lsb, power_lsb_w=20 * lsb, register=register & 0xFFFE)


def signed16(msb: int, lsb: int) -> int:
    raw = (msb << 8) | lsb
    return raw - 0x10000 if raw & 0x8000 else raw


def bus_volts(msb: int, lsb: int) -> tuple[float, bool]:
    """Bus voltage register: bits 15..3 in 4 mV steps, bit 0 OVF (math overflow)."""
    raw = (msb << 8) | lsb
    return (raw >> 3) * 0.004, bool(raw & 0x1)


class Ina219:
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
        shunt_ohms: float,
        max_current_a: float,
        smbus: SMBusLike | None = None,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._bus_no, self._addr = bus, address
        self._cal = calibration(shunt_ohms, max_current_a)
        self._bus = smbus

    def open(self) -> None:
        if self._bus is None:
            self._bus = open_bus(self._bus_no)
        self._write(REG_CONFIG, CONFIG_32V_320MV_128AVG)
        self._write(REG_CALIBRATION, self._cal.register)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None

    def _write(self, register: int, value: int) -> None:
        bus = self._require()
        transact(
            self._bus_no,
            self._what,
            lambda: bus.write_i2c_block_data(self._addr, register, [value >> 8, value & 0xFF]),
        )

    def _read(self, register: int) -> tuple[int, int]:
        bus = self._require()
        data = transact(
            self._bus_no, self._what, lambda: bus.read_i2c_block_data(self._addr, register, 2)
        )
        if len(data) != 2:
            raise DriverError(f"{self._what}: short read of register {register}")
        return data[0], data[1]

    @property
    def _what(self) -> str:
        return f"INA219 {self._bus_no}:{self._addr:#04x}"

    def _require(self) -> SMBusLike:
        if self._bus is None:
            raise DriverError(f"{self._what}: not open")
        return self._bus

    def read(self, now: datetime) -> Sample:
        del now
        # A brown-out resets the chip to calibration 0 (current reads 0): re-program it.
        if self._read(REG_CALIBRATION) != (self._cal.register >> 8, self._cal.register & 0xFF):
            self._write(REG_CALIBRATION, self._cal.register)
        volts, overflow = bus_volts(*self._read(REG_BUS))
        amps = signed16(*self._read(REG_CURRENT)) * self._cal.current_lsb_a
        p_msb, p_lsb = self._read(REG_POWER)
        watts = ((p_msb << 8) | p_lsb) * self._cal.power_lsb_w
        # OVF means the current/power arithmetic overflowed; > 26 V is outside the chip's
        # bus range, so the bytes are garbage (a loose wire reads as either).
        quality = "bad" if overflow or volts > 26.0 else "good"
        return Sample(
            {"intensity": round(amps, 5), "activePower": round(watts / 1000, 6)},
            quality=quality,
        )
