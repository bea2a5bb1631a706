"""The Pi's own health: SoC temperature, load, memory, disk, uptime and clock sync.

A Pi has no real-time clock: until NTP has synchronised it, wall time is whatever
fake-hwclock restored. :func:`clock_synced` asks the kernel (``adjtimex``: state
``TIME_ERROR`` means unsynchronised), which is what systemd-timesyncd and chrony both set.
Paths are injectable so tests run on a temporary tree.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from edge.drivers.base import DriverError, Sample
from trygg.contract import AssetKind

TIME_ERROR = 5
_TIMEX_BYTES = 512  # struct timex is 208 bytes on 64-bit Linux; modes=0 only reads


@functools.cache
def _libc() -> ctypes.CDLL:
    # find_library runs ldconfig: once per process, never per reading
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def clock_synced() -> bool:
    """True when the kernel clock is NTP-synchronised (False on error: assume the worst)."""
    try:
        buf = ctypes.create_string_buffer(_TIMEX_BYTES)
        state = int(_libc().adjtimex(buf))
    except (OSError, AttributeError):
        return False
    return state not in (-1, TIME_ERROR)


def _meminfo(text: str) -> float:
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0])
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    if not total or available is None:
        raise DriverError("meminfo lacks MemTotal/MemAvailable")
    return 1.0 - available / total


class PiHealth:
    kind = AssetKind.DEVICE
    blocking = True

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        interval_s: float,
        thermal_zone: Path,
        disk_path: Path,
        proc: Path = Path("/proc"),
        synced: Callable[[], bool] = clock_synced,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._thermal, self._disk, self._proc = thermal_zone, disk_path, proc
        self._synced = synced

    def open(self) -> None:
        if not (self._proc / "loadavg").exists():
            raise DriverError(f"{self._proc}/loadavg missing: not Linux?")

    def close(self) -> None:
        return None

    def read(self, now: datetime) -> Sample:
        del now
        values: dict[str, float | int | bool | str] = {}
        quality = "good"
        try:
            values["cpuTemperature"] = int(self._thermal.read_text().strip()) / 1000
        except (OSError, ValueError):
            quality = "uncertain"  # no thermal zone (a VM, or the driver not loaded)
        try:
            load1 = float((self._proc / "loadavg").read_text().split()[0])
            values["cpuLoad"] = round(load1 / (os.cpu_count() or 1), 3)
            values["memoryUsed"] = round(_meminfo((self._proc / "meminfo").read_text()), 4)
            values["uptime"] = float((self._proc / "uptime").read_text().split()[0])
            st = os.statvfs(self._disk)
        except (OSError, ValueError, IndexError) as exc:
            raise DriverError(f"health: {exc}") from exc
        values["diskUsed"] = round(1 - st.f_bavail / st.f_blocks, 4) if st.f_blocks else 0.0
        values["clockSynced"] = self._synced()
        return Sample(values, quality=quality)
