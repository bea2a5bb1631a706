"""Ultrasonic fill level (HC-SR04 / JSN-SR04T) through gpiozero's ``DistanceSensor``.

``fill_level`` is the pure conversion from distance to fill (DOMAIN.md section 3).
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any

from edge.drivers.base import DriverError, Sample
from edge.drivers.gpio import _gpiozero
from trygg.contract import AssetKind


def fill_level(distance_m: float, depth_empty_m: float, depth_full_m: float) -> float:
    """fill = 1 - (d - d_full) / (d_empty - d_full), clamped to 0..1."""
    if depth_full_m >= depth_empty_m:
        raise ValueError("depth_full_m must be less than depth_empty_m")
    fill = 1.0 - (distance_m - depth_full_m) / (depth_empty_m - depth_full_m)
    return min(1.0, max(0.0, fill))


class Ultrasonic:
    kind = AssetKind.BIN
    blocking = True

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        interval_s: float,
        trigger_pin: int,
        echo_pin: int,
        max_distance_m: float,
        depth_empty_m: float,
        depth_full_m: float,
        queue_len: int = 9,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._trigger, self._echo, self._max = trigger_pin, echo_pin, max_distance_m
        self._empty, self._full, self._queue_len = depth_empty_m, depth_full_m, queue_len
        self._dev: Any = None

    def open(self) -> None:
        gz = _gpiozero()
        try:
            # partial=True: report from the first echo rather than block until the queue
            # fills. gpiozero warns that software timing is less precise than pigpio: the
            # median window absorbs that, so the warning is expected and silenced.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", gz.exc.PWMSoftwareFallback)
                self._dev = gz.DistanceSensor(
                    echo=self._echo,
                    trigger=self._trigger,
                    max_distance=self._max,
                    queue_len=self._queue_len,
                    partial=True,
                )
        except gz.GPIOZeroError as exc:
            raise DriverError(f"ultrasonic on GPIO{self._trigger}/{self._echo}: {exc}") from exc

    def close(self) -> None:
        if self._dev is not None:
            self._dev.close()
            self._dev = None

    def read(self, now: datetime) -> Sample:
        del now
        if self._dev is None:
            raise DriverError("ultrasonic: not open")
        distance = float(self._dev.distance)  # gpiozero's median of the last echoes, metres
        # No echo within range reads as max_distance: an empty bin deeper than the range, a
        # lid open, or a dead transducer. Report it, but flagged.
        quality = "uncertain" if distance >= self._max * 0.999 else "good"
        return Sample(
            {
                "distance": round(distance, 3),
                "fillingLevel": round(fill_level(distance, self._empty, self._full), 3),
            },
            quality=quality,
        )
