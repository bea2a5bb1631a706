"""A fake SMBus at the smbus2 seam: registers hold the bytes a datasheet example gives."""

from __future__ import annotations

import ctypes
from typing import Any


class FakeSMBus:
    """Answers like ``smbus2.SMBus``; ``gone=True`` makes every transfer fail like a
    device that fell off the bus (errno 121, Remote I/O error)."""

    def __init__(self, registers: dict[tuple[int, int], list[int]] | None = None) -> None:
        self.registers = dict(registers or {})
        self.raw: dict[int, bytes] = {}
        self.writes: list[tuple[int, int, list[int]]] = []
        self.commands: list[tuple[int, int]] = []
        self.gone = False
        self.closed = False

    def _check(self) -> None:
        if self.gone:
            raise OSError(121, "Remote I/O error")

    def write_byte(self, i2c_addr: int, value: int) -> None:
        self._check()
        self.commands.append((i2c_addr, value))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        self._check()
        return list(self.registers.get((i2c_addr, register), [0] * length))[:length]

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None:
        self._check()
        self.writes.append((i2c_addr, register, list(data)))
        self.registers[(i2c_addr, register)] = list(data)

    def i2c_rdwr(self, *msgs: Any) -> None:
        self._check()
        for msg in msgs:
            data = self.raw.get(int(msg.addr), b"\x00" * int(msg.len))[: int(msg.len)]
            ctypes.memmove(msg.buf, data, len(data))

    def close(self) -> None:
        self.closed = True
