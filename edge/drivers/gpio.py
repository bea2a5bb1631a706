"""GPIO drivers through gpiozero: the lamp relay/driver state input and the bin tilt switch.

gpiozero is imported inside ``open()``, so importing this module costs nothing on a host
without it; tests use gpiozero's mock pin factory (``GPIOZERO_PIN_FACTORY=mock``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edge.drivers.base import DriverError, Sample
from trygg.contract import AssetKind


def _gpiozero() -> Any:
    try:
        import gpiozero
    except ImportError as exc:
        raise DriverError("gpiozero is not installed (pip install 'trygg[edge]')") from exc
    return gpiozero


class GpioRelay:
    """Reads the lamp's relay/driver feedback; with ``output_pin`` it can switch the relay
    for a lamp test (``switch(True/False)``; ``None`` releases it to the photocell)."""

    kind = AssetKind.STREETLIGHT
    blocking = True

    def __init__(
        self,
        *,
        asset: str,
        sensor: str,
        interval_s: float,
        input_pin: int,
        output_pin: int | None,
        active_high: bool,
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._in_pin, self._out_pin, self._active_high = input_pin, output_pin, active_high
        self._input: Any = None
        self._output: Any = None

    def open(self) -> None:
        gz = _gpiozero()
        try:
            self._input = gz.DigitalInputDevice(
                self._in_pin, pull_up=None, active_state=self._active_high
            )
            if self._out_pin is not None:
                self._output = gz.DigitalOutputDevice(self._out_pin, initial_value=None)
        except gz.GPIOZeroError as exc:
            self.close()
            raise DriverError(f"relay on GPIO{self._in_pin}: {exc}") from exc

    def close(self) -> None:
        for dev in (self._input, self._output):
            if dev is not None:
                dev.close()
        self._input = self._output = None

    def switch(self, on: bool | None) -> None:
        if self._output is None:
            raise ValueError(f"{self.asset}: no relay output configured for a lamp test")
        if on is None:
            self._output.off()  # released: the photocell contact drives the lamp again
        elif on:
            self._output.on()
        else:
            self._output.off()

    def read(self, now: datetime) -> Sample:
        del now
        if self._input is None:
            raise DriverError(f"relay on GPIO{self._in_pin}: not open")
        return Sample({"powerState": "on" if self._input.is_active else "off"})


class Tilt:
    """A ball tilt switch to ground with the internal pull-up: closed pulls the pin low."""

    kind = AssetKind.BIN
    blocking = True

    def __init__(
        self, *, asset: str, sensor: str, interval_s: float, pin: int, closed_is_tilted: bool
    ) -> None:
        self.asset, self.sensor, self.interval_s = asset, sensor, interval_s
        self._pin, self._closed_is_tilted = pin, closed_is_tilted
        self._dev: Any = None

    def open(self) -> None:
        gz = _gpiozero()
        try:
            # bounce_time filters the ball rattling when a bin is bumped by a truck
            self._dev = gz.DigitalInputDevice(self._pin, pull_up=True, bounce_time=0.05)
        except gz.GPIOZeroError as exc:
            raise DriverError(f"tilt switch on GPIO{self._pin}: {exc}") from exc

    def close(self) -> None:
        if self._dev is not None:
            self._dev.close()
            self._dev = None

    def read(self, now: datetime) -> Sample:
        del now
        if self._dev is None:
            raise DriverError(f"tilt switch on GPIO{self._pin}: not open")
        closed = bool(self._dev.is_active)
        return Sample({"tilted": closed == self._closed_is_tilted})
