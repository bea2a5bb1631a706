"""The device's durable outbox: SQLite in WAL mode, the only owner of the device's sequence.

Every data or event message is written here before it is sent, with its ``seq`` assigned
at entry and its encoded bytes stored, so a replay is byte-identical. A message leaves only
when the hub's end-to-end acknowledgement covers its ``seq``. When full, the oldest
messages are dropped and counted (the count is persisted and reported).

The methods are blocking (SQLite); the agent calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    kind: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    low: int  # lowest seq held, or next seq when empty
    next_seq: int
    dropped: int
    oldest_ms: int | None


class Outbox:
    """A bounded, durable FIFO of encoded messages keyed by a never-reused ``seq``."""

    def __init__(self, path: Path, *, capacity: int, synchronous: str = "NORMAL") -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._capacity = capacity
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process kill; FULL also survives power loss.
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('next_seq', 1), ('boot', 0), "
            "('dropped', 0), ('acked', 0)"
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0])

    def next_boot(self) -> int:
        """Increment and return the persisted boot number (call once per agent start)."""
        with self._lock:
            self._db.execute("UPDATE meta SET value = value + 1 WHERE key='boot'")
            return self._meta("boot")

    def append(self, kind: str, build: Callable[[int], bytes], *, created_ms: int) -> int:
        """Store ``build(seq)`` under a fresh ``seq`` and return that seq.

        ``build`` encodes the message with the seq it is given; if it raises, nothing is
        stored and the seq is not used.
        """
        return self.append_many([(kind, build)], created_ms=created_ms)[0]

    def append_many(
        self, items: Sequence[tuple[str, Callable[[int], bytes]]], *, created_ms: int
    ) -> list[int]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._meta("next_seq")
                rows = [
                    (seq + i, kind, build(seq + i), created_ms)
                    for i, (kind, build) in enumerate(items)
                ]
                self._db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?)", rows)
                self._db.execute("UPDATE meta SET value=? WHERE key='next_seq'", (seq + len(rows),))
                self._enforce_capacity()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return [r[0] for r in rows]

    def _enforce_capacity(self) -> None:
        depth = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        excess = depth - self._capacity
        if excess > 0:
            self._db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                (excess,),
            )
            self._db.execute("UPDATE meta SET value = value + ? WHERE key='dropped'", (excess,))

    def pending(self, *, after: int, limit: int) -> list[Pending]:
        """Up to ``limit`` messages with seq > ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Pending(int(s), str(k), bytes(p)) for s, k, p in rows]

    def ack(self, seq: int) -> int:
        """Delete every message with seq <= ``seq``; returns how many were deleted."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
            self._db.execute("UPDATE meta SET value=max(value, ?) WHERE key='acked'", (seq,))
            return int(cur.rowcount)

    def stats(self) -> OutboxStats:
        with self._lock:
            depth, low, oldest = self._db.execute(
                "SELECT count(*), min(seq), min(created_ms) FROM outbox"
            ).fetchone()
            next_seq = self._meta("next_seq")
            return OutboxStats(
                depth=int(depth),
                low=int(low) if low is not None else next_seq,
                next_seq=next_seq,
                dropped=self._meta("dropped"),
                oldest_ms=int(oldest) if oldest is not None else None,
            )
