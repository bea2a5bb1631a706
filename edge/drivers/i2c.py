"""The one owner of the I2C bus (smbus2): opening it and translating its errors.

Drivers talk to an :class:`SMBusLike`, the subset of ``smbus2.SMBus`` they use, so tests
hand in a fake bus whose register bytes come from the datasheets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from edge.drivers.base import DriverError

# One lock per bus number: two drivers on one bus must not interleave transactions.
T = TypeVar("T")

_LOCKS: dict[int, threading.Lock] = {}


class SMBusLike(Protocol):
    def write_byte(self, i2c_addr: int, value: int) -> None: ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None: ...

    def i2c_rdwr(self, *msgs: Any) -> None: ...

    def close(self) -> None: ...


def bus_lock(bus: int) -> threading.Lock:
    return _LOCKS.setdefault(bus, threading.Lock())


def open_bus(bus: int) -> SMBusLike:
    """Open ``/dev/i2c-<bus>``; raises DriverError when smbus2 or the bus is missing."""
    try:
        import smbus2
    except ImportError as exc:
        raise DriverError("smbus2 is not installed (pip install 'trygg[edge]')") from exc
    try:
        return smbus2.SMBus(bus)
    except OSError as exc:
        raise DriverError(f"cannot open I2C bus {bus}: {exc}") from exc


def read_raw(bus: SMBusLike, address: int, length: int) -> bytes:
    """Read ``length`` bytes with no register pointer (sensors such as the BH1750)."""
    import smbus2

    msg = smbus2.i2c_msg.read(address, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def transact(bus_no: int, what: str, op: Callable[[], T]) -> T:
    """Run one bus transaction under the bus lock; OSError (NACK, gone) -> DriverError."""
    with bus_lock(bus_no):
        try:
            return op()
        except OSError as exc:
            raise DriverError(f"{what}: I2C error: {exc}") from exc
