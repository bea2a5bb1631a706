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
        assert box.stats() == reopened.stats(), f"step {step}"
        assert (box.low, box.last_seq) == (reopened.low, reopened.last_seq)
        reopened.close()
    assert box.stats().dropped > 0  # the mix did reach the capacity
    box.close()
