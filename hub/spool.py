"""A bounded, durable local spool of line-protocol batches, for while InfluxDB is down.

Why: the hub acknowledges a message to the broker only once its readings are durably
stored. When InfluxDB is unreachable, "durably stored" is this spool: one file per batch,
written to a temporary name, fsynced, then renamed (so a crash leaves either a whole batch
or none; a leftover ``.tmp`` is discarded on open). The spool is bounded in bytes; when a
batch does not fit, :meth:`Spool.put` returns False and the caller stops acknowledging, so
back-pressure reaches the broker and the devices' outboxes. Nothing is ever dropped here.

Replaying a batch twice is harmless: InfluxDB stores a point once per (series, time).

The methods block (file I/O); the ingest calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

_SUFFIX = ".lp"


@dataclass(frozen=True, slots=True)
class SpoolSegment:
    path: Path
    size: int
    created_ms: int


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("spool max_bytes must be >= 1")
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        self._segments = sorted(
            (self._segment(p) for p in directory.glob(f"*{_SUFFIX}")),
            key=lambda s: s.path.name,
        )
        self._next = 1 + max((int(s.path.stem.split("-")[0]) for s in self._segments), default=0)
        self._bytes = sum(s.size for s in self._segments)

    @staticmethod
    def _segment(path: Path) -> SpoolSegment:
        seq_text, _, created = path.stem.partition("-")
        del seq_text
        return SpoolSegment(path=path, size=path.stat().st_size, created_ms=int(created or 0))

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._segments)

    def oldest_ms(self) -> int | None:
        with self._lock:
            return self._segments[0].created_ms if self._segments else None

    def put(self, body: bytes, *, created_ms: int) -> bool:
        """Store ``body`` durably; False (and nothing stored) when it does not fit."""
        with self._lock:
            if self._bytes + len(body) > self.max_bytes:
                return False
            seq = self._next
            self._next += 1
        final = self.directory / f"{seq:012d}-{created_ms}{_SUFFIX}"
        tmp = final.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(final)
        self._fsync_dir()
        with self._lock:
            self._segments.append(SpoolSegment(final, len(body), created_ms))
            self._bytes += len(body)
        return True

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def peek(self) -> tuple[SpoolSegment, bytes] | None:
        """The oldest batch (not removed), or None when the spool is empty."""
        with self._lock:
            if not self._segments:
                return None
            segment = self._segments[0]
        return segment, segment.path.read_bytes()

    def remove(self, segment: SpoolSegment) -> None:
        """Forget a batch once InfluxDB has accepted it."""
        with self._lock:
            if segment in self._segments:
                self._segments.remove(segment)
                self._bytes -= segment.size
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
