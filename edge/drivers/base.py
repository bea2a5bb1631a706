"""The driver interface every real and simulated sensor implements."""

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


@dataclass
class SimFaults:
    """Faults injected into simulated drivers, by asset id (the simulator's ground truth)."""

    by_asset: dict[str, set[str]] = field(default_factory=dict)

    def has(self, asset: str, fault: str) -> bool:
        return fault in self.by_asset.get(asset, ())

    def set(self, asset: str, fault: str, *, active: bool) -> None:
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
