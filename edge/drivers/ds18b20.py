"""DS18B20 temperature (Maxim) through the kernel's 1-wire sysfs (w1-gpio + w1-therm).

The kernel exposes ``/sys/bus/w1/devices/28-*/w1_slave`` with two lines: the scratchpad
bytes with ``crc=.. YES|NO`` and the same bytes with ``t=<millidegrees>``. A failed CRC,
a missing device or unparsable text is a DriverError; the power-on value 85.0 degC
(scratchpad 0x0550, read before a conversion finished) is returned flagged ``uncertain``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from edge.drivers.base import DriverError, Sample
from trygg.contract import AssetKind

POWER_ON_RAW = 0x0550


def celsius_from_scratchpad(lsb: int, msb: int) -> float:
    """Datasheet table 1: a signed 16-bit value in 1/16 degC steps."""
    raw = (msb << 8) | lsb
    if raw & 0x8000:
        raw -= 0x10000
    return raw / 16.0


def parse_w1_slave(text: str) -> tuple[float, bool]:
    """(degC, power-on value?) from a ``w1_slave`` file; raises DriverError on garbage."""
    lines = text.strip().splitlines()
    if len(lines) != 2 or "crc=" not in lines[0]:
        raise DriverError(f"unexpected w1_slave format: {text[:80]!r}")
    if not lines[0].rstrip().endswith("YES"):
        raise DriverError("1-wire CRC check failed")
    try:
        scratch = [int(b, 16) for b in lines[0].split(":")[0].split()]
        milli = int(lines[1].split("t=")[1])
    except (IndexError, ValueError) as exc:
        raise DriverError(f"unparsable w1_slave: {text[:80]!r}") from exc
    if len(scratch) != 9:
        raise DriverError("scratchpad is not 9 bytes")
    celsius = celsius_from_scratchpad(scratch[0], scratch[1])
    if abs(celsius * 1000 - milli) > 1:
        raise DriverError(f"t={milli} disagrees with scratchpad {celsius}")
    if not -55.0 <= celsius <= 125.0:
        raise DriverError(f"{celsius} degC is outside the sensor's range")
    return celsius, (scratch[1] << 8 | scratch[0]) == POWER_ON_RAW


class Ds18b20:
    kind = AssetKind.BIN
    blocking = True  # a read makes the kernel run a 750 ms conversion

    def __init__(
        self, *, asset: str, sensor: str, interval_s: float, device_id: str | None, w1_dir: Path
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._device_id, self._w1_dir = device_id, w1_dir
        self._path: Path | None = None

    def open(self) -> None:
        if self._device_id is not None:
            self._path = self._w1_dir / self._device_id / "w1_slave"
        else:
            found = sorted(self._w1_dir.glob("28-*/w1_slave"))
            if not found:
                raise DriverError(f"no DS18B20 under {self._w1_dir} (is dtoverlay=w1-gpio set?)")
            self._path = found[0]

    def close(self) -> None:
        self._path = None

    def read(self, now: datetime) -> Sample:
        del now
        if self._path is None:
            raise DriverError("DS18B20: not open")
        try:
            text = self._path.read_text()
        except OSError as exc:  # the sensor fell off the bus: the kernel removes its folder
            raise DriverError(f"DS18B20 {self._path.parent.name}: {exc}") from exc
        celsius, power_on = parse_w1_slave(text)
        return Sample({"temperature": celsius}, quality="uncertain" if power_on else "good")
