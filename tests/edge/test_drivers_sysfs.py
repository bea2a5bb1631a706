"""DS18B20 on a temporary 1-wire sysfs tree, and the Pi health driver on a fake /proc."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.drivers.base import DriverError
from edge.drivers.ds18b20 import Ds18b20, celsius_from_scratchpad, parse_w1_slave
from edge.drivers.pi_health import PiHealth, clock_synced

NOW = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)


def crc8(data: bytes) -> int:
    """Maxim 1-wire CRC (x^8 + x^5 + x^4 + 1), as the DS18B20 datasheet specifies."""
    crc = 0
    for value in data:
        bits = value
        for _ in range(8):
            mix = (crc ^ bits) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            bits >>= 1
    return crc


def w1_slave(lsb: int, msb: int, *, good_crc: bool = True) -> str:
    body = bytes([lsb, msb, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])
    crc = crc8(body)
    hexed = " ".join(f"{b:02x}" for b in [*body, crc])
    milli = round(celsius_from_scratchpad(lsb, msb) * 1000)
    return f"{hexed} : crc={crc:02x} {'YES' if good_crc else 'NO'}\n{hexed} t={milli}\n"


# DS18B20 datasheet (Maxim 19-7487), table 1 "Temperature/Data Relationship"
@pytest.mark.parametrize(
    ("raw", "celsius"),
    [
        (0x07D0, 125.0),
        (0x0550, 85.0),
        (0x0191, 25.0625),
        (0x00A2, 10.125),
        (0x0008, 0.5),
        (0x0000, 0.0),
        (0xFFF8, -0.5),
        (0xFF5E, -10.125),
        (0xFE6F, -25.0625),
        (0xFC90, -55.0),
    ],
)
def test_scratchpad_conversion_matches_the_datasheet_table(raw: int, celsius: float) -> None:
    assert celsius_from_scratchpad(raw & 0xFF, raw >> 8) == celsius


def _tree(tmp: Path, text: str) -> Path:
    folder = tmp / "28-0316a2799c0f"
    folder.mkdir(parents=True)
    (folder / "w1_slave").write_text(text)
    return folder / "w1_slave"


def test_ds18b20_reads_a_sysfs_tree_and_flags_the_power_on_value(tmp_path: Path) -> None:
    path = _tree(tmp_path, w1_slave(0x91, 0x01))
    sensor = Ds18b20(asset="bin-1", sensor="t", interval_s=30, device_id=None, w1_dir=tmp_path)
    sensor.open()
    assert sensor.read(NOW).values == {"temperature": 25.0625}
    path.write_text(w1_slave(0x50, 0x05))
    sample = sensor.read(NOW)
    assert sample.values == {"temperature": 85.0}
    assert sample.quality == "uncertain"


@pytest.mark.parametrize(
    "text",
    [
        w1_slave(0x91, 0x01, good_crc=False),
        "garbage\n",
        "72 01 : crc=57 YES\n72 01 t=23125\n",
        w1_slave(0x91, 0x01).replace("t=25062", "t=99999"),
    ],
)
def test_ds18b20_garbage_is_a_driver_error(tmp_path: Path, text: str) -> None:
    _tree(tmp_path, text)
    sensor = Ds18b20(asset="bin-1", sensor="t", interval_s=30, device_id=None, w1_dir=tmp_path)
    sensor.open()
    with pytest.raises(DriverError):
        sensor.read(NOW)


def test_ds18b20_gone_from_the_bus_is_a_driver_error(tmp_path: Path) -> None:
    path = _tree(tmp_path, w1_slave(0x91, 0x01))
    sensor = Ds18b20(
        asset="bin-1", sensor="t", interval_s=30, device_id="28-0316a2799c0f", w1_dir=tmp_path
    )
    sensor.open()
    path.unlink()
    with pytest.raises(DriverError, match="28-0316a2799c0f"):
        sensor.read(NOW)
    with pytest.raises(DriverError, match="no DS18B20"):
        Ds18b20(asset="b", sensor="t", interval_s=1, device_id=None, w1_dir=tmp_path / "x").open()


def test_parse_is_pure_text() -> None:
    assert parse_w1_slave(w1_slave(0x5E, 0xFF)) == (-10.125, False)


def _proc(tmp: Path) -> Path:
    proc = tmp / "proc"
    proc.mkdir()
    (proc / "loadavg").write_text("0.40 0.30 0.20 1/100 4242\n")
    (proc / "meminfo").write_text(
        "MemTotal: 4000000 kB\nMemFree: 100 kB\nMemAvailable: 3000000 kB\n"
    )
    (proc / "uptime").write_text("12345.67 40000.00\n")
    (tmp / "temp").write_text("51234\n")
    return proc


def test_pi_health_reads_proc_thermal_disk_and_clock_sync(tmp_path: Path) -> None:
    proc = _proc(tmp_path)
    health = PiHealth(
        asset="pole-1",
        sensor="health",
        interval_s=60,
        thermal_zone=tmp_path / "temp",
        disk_path=tmp_path,
        proc=proc,
        synced=lambda: False,
    )
    health.open()
    sample = health.read(NOW)
    v = sample.values
    assert v["cpuTemperature"] == 51.234
    assert v["cpuLoad"] == round(0.40 / (os.cpu_count() or 1), 3)
    assert v["memoryUsed"] == 0.25
    assert v["uptime"] == 12345.67
    assert 0 <= float(v["diskUsed"]) <= 1
    assert v["clockSynced"] is False
    (tmp_path / "temp").unlink()
    assert health.read(NOW).quality == "uncertain"  # no thermal zone: still reports
    (proc / "meminfo").write_text("nonsense\n")
    with pytest.raises(DriverError):
        health.read(NOW)


def test_clock_synced_asks_the_kernel() -> None:
    assert isinstance(clock_synced(), bool)
