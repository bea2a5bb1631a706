"""The device's durable outbox: SQLite in WAL mode, the only owner of the device's sequence.

Every data or event message is written here before it is sent, with its ``seq`` assigned
at entry and its encoded bytes stored, so a replay is byte-identical. A message leaves only
when the hub's end-to-end acknowledgement covers its ``seq``. Capacity is counted in
readings (an event message counts as one), because "seven days of readings" is what the
outbox is sized for; when full, the oldest messages are dropped and the readings they held
are counted (persisted, and reported as ``droppedReadings``). ``readings_in`` counts every
reading ever stored, in the same transaction, so a test or an operator can compare it with
what the hub stored.

Durability: WAL with ``synchronous=FULL`` (the default) survives power loss; ``NORMAL``
survives a process kill but may lose the last commits on power loss. An acknowledgement
is applied in memory at once and deleted from the file by the next write (the next batch,
boot or close), so a message costs one commit (one fsync on a Pi's SD card), not two; a
device stopped before that sends the acknowledged messages again, and the hub drops them
as duplicates.

The methods are blocking (SQLite); the agent calls them through ``Agent.io`` (a worker
thread on a Pi, inline in a simulator).
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
    created_ms INTEGER NOT NULL,
    n INTEGER NOT NULL DEFAULT 1
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
    dropped: int  # readings dropped oldest-first since install
    oldest_ms: int | None
    readings: int = 0  # readings held
    readings_in: int = 0  # readings ever stored


class Outbox:
    """A bounded, durable FIFO of encoded messages keyed by a never-reused ``seq``."""

    def __init__(self, path: Path, *, capacity: int, synchronous: str = "NORMAL") -> None:
        """Open (creating) the outbox at ``path``; ``capacity`` is in readings."""
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._capacity = capacity
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process kill; FULL also survives power loss.
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "n" not in columns:  # an outbox written by 0.1 firmware
            self._db.execute("ALTER TABLE outbox ADD COLUMN n INTEGER NOT NULL DEFAULT 1")
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('next_seq', 1), ('boot', 0), "
            "('dropped', 0), ('readings_in', 0)"
        )
        # The outbox is the only writer of its file, so its counters live in memory too,
        # updated after each commit: the agent asks for them on every acknowledgement.
        held, low = self._db.execute("SELECT coalesce(sum(n), 0), min(seq) FROM outbox").fetchone()
        self._held = int(held)
        self._next_seq = self._meta("next_seq")
        self._low = int(low) if low is not None else self._next_seq
        self._dropped = self._meta("dropped")
        self._readings_in = self._meta("readings_in")
        self._acked = 0  # acknowledged up to here in memory; the rows go with the next write

    @property
    def low(self) -> int:
        """The lowest seq held, or the next seq when empty."""
        return self._low

    @property
    def last_seq(self) -> int:
        """The highest seq ever assigned (0 before the first message)."""
        return self._next_seq - 1

    def close(self) -> None:
        with self._lock:
            if self._acked:
                self._db.execute("BEGIN IMMEDIATE")
                self._delete_acked()
                self._db.execute("COMMIT")
            self._db.close()

    def _delete_acked(self) -> None:
        """Delete the acknowledged rows (inside the caller's write transaction)."""
        if self._acked:
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (self._acked,))
            self._acked = 0

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0])

    def next_boot(self) -> int:
        """Increment and return the persisted boot number (call once per agent start)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._delete_acked()
            self._db.execute("UPDATE meta SET value = value + 1 WHERE key='boot'")
            self._db.execute("COMMIT")
            return self._meta("boot")

    def append(
        self, kind: str, build: Callable[[int], bytes], *, created_ms: int, n: int = 1
    ) -> int:
        """Store ``build(seq)`` under a fresh ``seq`` and return that seq.

        ``build`` encodes the message with the seq it is given; if it raises, nothing is
        stored and the seq is not used. ``n`` is the number of readings it carries.
        """
        return self.append_many([(kind, build)], created_ms=created_ms, counts=[n])[0]

    def append_many(
        self,
        items: Sequence[tuple[str, Callable[[int], bytes]]],
        *,
        created_ms: int,
        counts: Sequence[int] | None = None,
    ) -> list[int]:
        """Store several messages in one transaction; ``counts`` = readings per message."""
        sizes = list(counts) if counts is not None else [1] * len(items)
        if len(sizes) != len(items) or any(n < 1 for n in sizes):
            raise ValueError("counts must give a positive reading count per item")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            acked = self._acked
            try:
                self._delete_acked()
                seq = self._next_seq
                rows = [
                    (seq + i, kind, build(seq + i), created_ms, sizes[i])
                    for i, (kind, build) in enumerate(items)
                ]
                self._db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?)", rows)
                self._db.execute(
                    "UPDATE meta SET value = CASE key WHEN 'next_seq' THEN ? ELSE value + ? END"
                    " WHERE key IN ('next_seq', 'readings_in')",
                    (seq + len(rows), sum(sizes)),
                )
                held = self._held + sum(sizes)
                dropped, low = self._enforce_capacity(held)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._acked = acked  # not deleted after all: the next write tries again
                raise
            self._held = held - dropped
            self._next_seq = seq + len(rows)
            self._readings_in += sum(sizes)
            self._dropped += dropped
            self._low = max(self._low, low)
            return [r[0] for r in rows]

    def _enforce_capacity(self, held: int) -> tuple[int, int]:
        """Drop the oldest messages until ``held`` readings fit; returns (readings dropped,
        the seq after the last one dropped, or 0)."""
        dropped, after = 0, 0
        while held - dropped > self._capacity:
            rows = self._db.execute("SELECT seq, n FROM outbox ORDER BY seq LIMIT 1000").fetchall()
            if not rows:
                break
            cut, last = 0, None
            for seq, n in rows:
                if held - dropped - cut <= self._capacity:
                    break
                cut += int(n)
                last = int(seq)
            if last is None:
                break
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (last,))
            dropped, after = dropped + cut, last + 1
        if dropped:
            self._db.execute("UPDATE meta SET value = value + ? WHERE key='dropped'", (dropped,))
        return dropped, after

    def pending(self, *, after: int, limit: int) -> list[Pending]:
        """Up to ``limit`` unacknowledged messages with seq > ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (max(after, self._low - 1), limit),
            ).fetchall()
        return [Pending(int(s), str(k), bytes(p)) for s, k, p in rows]

    def ack(self, seq: int) -> int:
        """Acknowledge every message with seq <= ``seq``; returns how many that were.

        Applied to the counters at once; the rows are deleted by the next write (see the
        module's note on durability)."""
        with self._lock:
            upto = min(seq, self._next_seq - 1)
            if upto < self._low:
                return 0
            n, count = self._db.execute(
                "SELECT coalesce(sum(n), 0), count(*) FROM outbox WHERE seq BETWEEN ? AND ?",
                (self._low, upto),
            ).fetchone()
            self._held -= int(n)
            self._low = upto + 1
            self._acked = upto
            return int(count)

    def stats(self) -> OutboxStats:
        """Depth and counters; one indexed lookup (the oldest message's time) at most."""
        with self._lock:
            # Rows are contiguous (only ever deleted from the front), so depth needs no scan.
            low, next_seq = self._low, self._next_seq
            oldest = None
            if low < next_seq:
                oldest = self._db.execute(
                    "SELECT created_ms FROM outbox WHERE seq=?", (low,)
                ).fetchone()[0]
            return OutboxStats(
                depth=next_seq - low,
                low=low,
                next_seq=next_seq,
                dropped=self._dropped,
                oldest_ms=int(oldest) if oldest is not None else None,
                readings=self._held,
                readings_in=self._readings_in,
            )
