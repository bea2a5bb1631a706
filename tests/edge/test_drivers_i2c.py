"""INA219 and BH1750 at their I2C seam, with register bytes from the datasheets' examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.drivers.base import DriverError
from edge.drivers.bh1750 import ONE_TIME_H_RES, Bh1750, lux_from_bytes
from edge.drivers.ina219 import (
    REG_BUS,
    REG_CALIBRATION,
    REG_CURRENT,
    REG_POWER,
    REG_SHUNT,
    Ina219,
    bus_volts,
    calibration,
    signed16,
)
from tests.edge.fakes import FakeSMBus

NOW = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)
INA = 0x40
BH = 0x23


def test_ina219_calibration_follows_the_datasheet_equations() -> None:
    # TI SBOS448G section 8.5.1, eq. 2-3, with the common 0.1 ohm shunt and 3.2 A range:
    # Current_LSB = 3.2 A / 2^15 = 97.7 uA, rounded to 100 uA; Cal = trunc(0.04096 /
    # (100e-6 * 0.1)) = 4096 (0x1000); Power_LSB = 20 * Current_LSB = 2 mW.
    cal = calibration(0.1, 3.2)
    assert cal.register == 4096
    assert cal.current_lsb_a == pytest.approx(100e-6)
    assert cal.power_lsb_w == pytest.approx(2e-3)
    with pytest.raises(ValueError, match="out of range"):
        calibration(0.0001, 0.001)


def test_ina219_register_decoding() -> None:
    # Section 8.6.3.2: bus voltage bits 15..3 in 4 mV steps, bit 1 CNVR, bit 0 OVF.
    volts, overflow = bus_volts(0x5D, 0xC2)
    assert volts == pytest.approx(12.0)  # 3000 * 4 mV
    assert overflow is False
    assert bus_volts(0x5D, 0xC3)[1] is True
    # Section 8.6.3.1: the shunt register is two's complement (-320 mV = 0x8300 at PGA /8)
    assert signed16(0x83, 0x00) == -32000
    assert signed16(0x7D, 0x00) == 32000


def _ina_bus() -> FakeSMBus:
    # A 0.5 A lamp current at 12 V through 0.1 ohm: shunt 50 mV = 5000 x 10 uV; with Cal 4096
    # the current register is 5000 * 4096 / 4096 = 5000 (eq. 4) = 0x1388, i.e. 0.5 A at
    # 100 uA/bit; power register = 5000 * 3000 / 5000 = 3000 (eq. 5) = 0x0BB8 -> 6.0 W.
    return FakeSMBus(
        {
            (INA, REG_SHUNT): [0x13, 0x88],
            (INA, REG_BUS): [0x5D, 0xC2],
            (INA, REG_CURRENT): [0x13, 0x88],
            (INA, REG_POWER): [0x0B, 0xB8],
        }
    )


def _ina(bus: FakeSMBus) -> Ina219:
    return Ina219(
        asset="lamp-1",
        sensor="power",
        interval_s=10,
        bus=1,
        address=INA,
        shunt_ohms=0.1,
        max_current_a=3.2,
        smbus=bus,
    )


def test_ina219_reads_current_and_power_from_registers() -> None:
    bus = _ina_bus()
    driver = _ina(bus)
    driver.open()
    assert (INA, REG_CALIBRATION, [0x10, 0x00]) in bus.writes
    sample = driver.read(NOW)
    assert sample.values == {"intensity": pytest.approx(0.5), "activePower": pytest.approx(0.006)}
    assert sample.quality == "good"


def test_ina219_reprograms_calibration_after_a_brown_out() -> None:
    bus = _ina_bus()
    driver = _ina(bus)
    driver.open()
    bus.registers[(INA, REG_CALIBRATION)] = [0, 0]  # power-on reset value
    driver.read(NOW)
    assert bus.registers[(INA, REG_CALIBRATION)] == [0x10, 0x00]


def test_ina219_overflow_is_flagged_bad_and_a_missing_chip_is_a_driver_error() -> None:
    bus = _ina_bus()
    driver = _ina(bus)
    driver.open()
    bus.registers[(INA, REG_BUS)] = [0x5D, 0xC3]  # OVF set
    assert driver.read(NOW).quality == "bad"
    bus.gone = True
    with pytest.raises(DriverError, match="I2C error"):
        driver.read(NOW)


def test_bh1750_datasheet_example() -> None:
    # ROHM BH1750FVI datasheet, "Measurement sequence example from Write instruction to
    # Read measurement result": High Byte 1000_0011, Low Byte 1001_0000 ->
    # (2^15 + 2^9 + 2^8 + 2^7 + 2^4) / 1.2 = 28067 lx.
    assert lux_from_bytes(0b1000_0011, 0b1001_0000) == pytest.approx(28067, abs=1)
    bus = FakeSMBus()
    bus.raw[BH] = bytes([0b1000_0011, 0b1001_0000])
    driver = Bh1750(
        asset="lamp-1",
        sensor="lux",
        interval_s=60,
        bus=1,
        address=BH,
        smbus=bus,
        measurement_s=0,
    )
    driver.open()
    sample = driver.read(NOW)
    assert sample.values["illuminance"] == pytest.approx(28066.7, abs=0.1)
    assert (BH, ONE_TIME_H_RES) in bus.commands
    bus.raw[BH] = b"\xff\xff"
    assert driver.read(NOW).quality == "uncertain"  # saturated: a bound, not a value
    bus.gone = True
    with pytest.raises(DriverError):
        driver.read(NOW)
