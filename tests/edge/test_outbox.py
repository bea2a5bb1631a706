"""The outbox on real SQLite: capacity in readings, oldest-first drops counted, durability."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from edge.outbox import Outbox


def _fill(box: Outbox, n: int, readings: int = 10) -> list[int]:
    return box.append_many(
        [("data", lambda seq: f"msg-{seq}".encode())] * n, created_ms=1, counts=[readings] * n
    )


def test_capacity_is_counted_in_readings_and_drops_are_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", capacity=100)
    assert _fill(box, 10) == list(range(1, 11))  # 100 readings: exactly full
    assert box.stats().dropped == 0
    _fill(box, 3)  # 30 more: the three oldest messages go
    s = box.stats()
    assert (s.depth, s.low, s.readings, s.dropped, s.readings_in) == (10, 4, 100, 30, 130)
    assert [p.payload for p in box.pending(after=0, limit=2)] == [b"msg-4", b"msg-5"]
    assert box.ack(6) == 3
    s = box.stats()
    assert (s.depth, s.low, s.readings) == (7, 7, 70)
    box.close()


def test_a_failing_encoder_stores_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", capacity=100)

    def broken(seq: int) -> bytes:
        raise ValueError(f"cannot encode {seq}")

    with pytest.raises(ValueError, match="cannot encode"):
        box.append("data", broken, created_ms=1, n=5)
    assert box.stats().next_seq == 1
    assert box.stats().readings_in == 0
    with pytest.raises(ValueError, match="counts"):
        box.append_many([("data", broken)], created_ms=1, counts=[0])
    box.close()


def test_boot_seq_and_bytes_survive_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    code = (
        "import os, sys; from pathlib import Path; from edge.outbox import Outbox;"
        f"b = Outbox(Path({str(path)!r}), capacity=10**6, synchronous='FULL');"
        "b.next_boot();"
        "[b.append('data', lambda s: b'payload-%d' % s, created_ms=1, n=3) for _ in range(50)];"
        "os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert proc.returncode == -9
    box = Outbox(path, capacity=10**6)
    s = box.stats()
    assert (s.depth, s.next_seq, s.readings, s.readings_in) == (50, 51, 150, 150)
    assert box.pending(after=49, limit=5)[0].payload == b"payload-50"
    assert box.next_boot() == 2
    box.close()


def test_counters_kept_in_memory_match_the_file_after_every_step(tmp_path: Path) -> None:
    """The outbox keeps depth, low, next seq and counters in memory (asked on every
    acknowledgement); after any mix of appends, drops, acks and failed appends they equal
    what a fresh open reads from the file."""
    path = tmp_path / "o.sqlite"
    box = Outbox(path, capacity=200)
    rng = random.Random(7)

    def broken(seq: int) -> bytes:
        raise ValueError(seq)

    for step in range(300):
        action = rng.random()
        if action < 0.6:
            n = rng.randint(1, 4)
            _fill(box, n, readings=rng.randint(1, 60))
        elif action < 0.9:
            box.ack(rng.randint(max(0, box.low - 3), box.last_seq + 2))
        else:
            with pytest.raises(ValueError, match=r"\d"):
                box.append("data", broken, created_ms=1)
        reopened = Outbox(path, capacity=200)
        # the file may still hold rows acknowledged since the last write (deleted by the
        # next one): acknowledging them again must give exactly the memory's view
        reopened.ack(box.low - 1)
        assert box.stats() == reopened.stats(), f"step {step}"
        assert (box.low, box.last_seq) == (reopened.low, reopened.last_seq)
        assert box.pending(after=0, limit=500) == reopened.pending(after=0, limit=500)
        reopened._acked = 0  # a reader only: leave the file as the box wrote it
        reopened.close()
    assert box.stats().dropped > 0  # the mix did reach the capacity
    box.close()


def test_acknowledged_rows_go_with_the_next_write_or_are_sent_again(tmp_path: Path) -> None:
    """An ack costs no commit of its own: its rows are deleted in the next write. Killed
    before that, the device still holds them and sends them again (the hub drops them)."""
    path = tmp_path / "o.sqlite"
    code = (
        "import os; from pathlib import Path; from edge.outbox import Outbox;"
        f"b = Outbox(Path({str(path)!r}), capacity=10**6, synchronous='FULL');"
        "[b.append('data', lambda s: b'm%d' % s, created_ms=1, n=2) for _ in range(5)];"
        "assert b.ack(3) == 3 and b.stats().depth == 2 and b.stats().readings == 4;"
        "assert [p.seq for p in b.pending(after=0, limit=9)] == [4, 5];"
        "os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert proc.returncode == -9
    box = Outbox(path, capacity=10**6)
    assert [p.seq for p in box.pending(after=0, limit=9)] == [1, 2, 3, 4, 5]  # sent again
    assert box.ack(3) == 3
    box.append("data", lambda s: b"m%d" % s, created_ms=1, n=2)  # deletes 1-3 with it
    box.close()
    box = Outbox(path, capacity=10**6)
    s = box.stats()
    assert (s.low, s.depth, s.readings) == (4, 3, 6)
    assert box.ack(4) == 1
    box.close()  # the last acknowledgement is written on close
    box = Outbox(path, capacity=10**6)
    assert [p.seq for p in box.pending(after=0, limit=9)] == [5, 6]
    box.close()


def test_a_failed_append_keeps_the_acknowledgement_for_the_next_write(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", capacity=100)
    _fill(box, 4)
    assert box.ack(2) == 2

    def broken(seq: int) -> bytes:
        raise ValueError(seq)

    with pytest.raises(ValueError, match=r"^5$"):
        box.append("data", broken, created_ms=1)
    _fill(box, 1)
    box.close()
    box = Outbox(tmp_path / "o.sqlite", capacity=100)
    assert [p.seq for p in box.pending(after=0, limit=9)] == [3, 4, 5]
    box.close()
