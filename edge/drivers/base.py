"""The driver interface every real and simulated sensor implements.

A driver reads one sensor of one asset and returns the contract's field values
(``trygg.contract.FIELDS``). Real drivers import their hardware library inside ``open()``
and set ``blocking = True`` so the agent reads them through ``asyncio.to_thread``;
simulated twins compute their values and are read inline, so one process can run many
agents cheaply. A failed read raises :class:`DriverError` (never a third-party exception);
the agent turns it into a ``sensorFault`` event and carries on.

Injectable faults for the simulated twins (:class:`SimFaults`), by asset id:

========================  ================================================================
fault                     effect on the twins of that asset
========================  ================================================================
lamp ``out``              lamp off although it should be on (relay off, no current)
lamp ``flicker``          the lamp toggles on/off at every sampling instant
lamp ``dayburn``          lamp on although the sun is up
lamp ``degraded``         lamp on at 60 % of its rated power
lamp ``cabinet_outage``   lamp off, like ``out``; set it on every lamp of one cabinet
bin ``full``              fill level at least 0.97; clearing it means a crew emptied it
bin ``fire``              temperature climbs 10 degC a minute from 30 degC above normal
bin ``dropped``           tilt switch closed (``tilted`` true)
bin ``sensor_dead``       every read of that bin's sensors raises DriverError
device ``offline``        keyed by the *device id*: the agent stops sampling and drops its
                          link without a DISCONNECT, so the broker publishes the death
========================  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from trygg.contract import AssetKind, Value


class DriverError(RuntimeError):
    """A sensor read failed (garbage, gone from the bus, timeout); the agent reports it."""


@dataclass(frozen=True, slots=True)
class Sample:
    """Field values read at one instant; ``quality`` applies to all of them."""

    values: dict[str, Value]
    quality: str = "good"


LAMP_FAULTS = frozenset({"out", "flicker", "dayburn", "degraded", "cabinet_outage"})
BIN_FAULTS = frozenset({"full", "fire", "dropped", "sensor_dead"})
DEVICE_FAULTS = frozenset({"offline"})
FAULTS = LAMP_FAULTS | BIN_FAULTS | DEVICE_FAULTS


@dataclass
class SimFaults:
    """Faults injected into simulated drivers, by asset id (the simulator's ground truth).

    ``forced`` holds lamp states forced by a ``lamp_test`` command (asset -> on), shared by
    every twin of that asset so relay, current and light agree.
    """

    by_asset: dict[str, set[str]] = field(default_factory=dict)
    forced: dict[str, bool] = field(default_factory=dict)
    _flicker: dict[str, tuple[datetime, bool]] = field(default_factory=dict)

    def flicker(self, asset: str, now: datetime) -> bool:
        """A flickering lamp's state at ``now``: it toggles once per new instant, so twins
        of one asset read at the same instant agree, and every read sees a change (the
        clearest flicker signature at any sampling interval)."""
        last = self._flicker.get(asset)
        if last is not None and last[0] == now:
            return last[1]
        on = not last[1] if last is not None else True
        self._flicker[asset] = (now, on)
        return on

    def has(self, asset: str, fault: str) -> bool:
        return fault in self.by_asset.get(asset, ())

    def set(self, asset: str, fault: str, *, active: bool) -> None:
        """Switch ``fault`` on or off; raises ValueError for a fault name no twin knows."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
        faults = self.by_asset.setdefault(asset, set())
        if active:
            faults.add(fault)
        else:
            faults.discard(fault)


class Driver(Protocol):
    """Blocking interface; the agent calls ``read`` off the event loop."""

    asset: str
    kind: AssetKind
    sensor: str
    interval_s: float

    def open(self) -> None: ...

    def read(self, now: datetime) -> Sample: ...

    def close(self) -> None: ...


class Switchable(Protocol):
    """A driver that can switch its lamp (``lamp_test``); ``None`` returns to automatic."""

    asset: str

    def switch(self, on: bool | None) -> None: ...
