"""The ingest's SQL side writes only the device columns that changed since its last commit:
after any sequence of batches and heartbeat-tick updates, every row must read back exactly
as if each batch had written its devices' whole rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Device, open_database
from hub.device_state import DeviceStatus
from hub.devices import register
from hub.ingest_store import BatchWrite, IngestStore, load
from hub.sequences import SeqRow
from trygg.clock import to_ms

T0 = 1_790_000_000_000
DEVICES = [f"dev-{i}" for i in range(6)]


def _random_state(rnd: random.Random, device: str) -> tuple[SeqRow, DeviceStatus]:
    st = SeqRow(
        watermark=rnd.randint(0, 3),
        above=tuple(sorted(rnd.sample(range(5, 9), rnd.randint(0, 2)))),
        gaps=rnd.randint(0, 1),
        lost=rnd.randint(0, 1),
        boot=rnd.randint(0, 2),
    )
    status = DeviceStatus(
        device=device,
        boot=rnd.randint(0, 2),
        online=rnd.choice([None, True, False]),
        reason=rnd.choice(["birth", "data", "heartbeat", "will"]),
        changed_ms=rnd.choice([None, T0, T0 + 5]),
        last_seen_ms=rnd.choice([None, T0 + 1, T0 + 2]),
        outbox_depth=rnd.randint(0, 1),
        dropped=rnd.randint(0, 1),
        gaps=st.gaps,
        last_gap_ms=rnd.choice([None, T0 + 3]),
    )
    return st, status


def _row(s: Session, device: str) -> dict[str, Any]:
    dev = s.get(Device, device)
    assert dev is not None
    return {
        "watermark": dev.watermark,
        "above": sorted((dev.above or {}).get("seqs", [])),
        "gaps": dev.gaps,
        "lost": dev.lost,
        "online": dev.online,
        "state_reason": dev.state_reason,
        "state_changed": to_ms(dev.state_changed) if dev.state_changed else None,
        "last_seen": to_ms(dev.last_seen) if dev.last_seen else None,
        "boot": dev.boot,
        "outbox_depth": dev.outbox_depth,
        "dropped": dev.dropped,
        "last_gap_at": to_ms(dev.last_gap_at) if dev.last_gap_at else None,
    }


def _expected(st: SeqRow, status: DeviceStatus) -> dict[str, Any]:
    return {
        "watermark": st.watermark,
        "above": sorted(st.above),
        "gaps": st.gaps,
        "lost": st.lost,
        "online": bool(status.online),
        "state_reason": status.reason,
        "state_changed": status.changed_ms or None,
        "last_seen": status.last_seen_ms or None,
        "boot": max(st.boot, status.boot),
        "outbox_depth": status.outbox_depth,
        "dropped": status.dropped,
        "last_gap_at": status.last_gap_ms or None,
    }


def _check(sessions: sessionmaker[Session], seed: int) -> None:
    register(sessions, [(d, "s") for d in DEVICES])
    store = IngestStore(sessions, dead_letter_max=10)
    rnd = random.Random(seed)
    expected: dict[str, dict[str, Any]] = {}
    last: dict[str, tuple[SeqRow, DeviceStatus]] = {}
    for step in range(60):
        if expected and rnd.random() < 0.15:  # a heartbeat tick persists statuses its own way
            statuses = [_random_state(rnd, d)[1] for d in rnd.sample(sorted(expected), 1)]
            store.states(statuses)
            for status in statuses:
                expected[status.device].update(
                    {
                        k: v
                        for k, v in _expected(SeqRow(), status).items()
                        if k not in ("watermark", "above", "gaps", "lost")
                    }
                )
                expected[status.device]["boot"] = status.boot
            continue
        chosen = rnd.sample(DEVICES, rnd.randint(1, len(DEVICES)))
        devices = {d: _random_state(rnd, d) for d in chosen}
        if step % 5 == 3:  # the same values again for some: nothing to write for them
            devices.update({d: last[d] for d in rnd.sample(sorted(last), len(last) // 2)})
        last.update(devices)
        store.write(BatchWrite(births=[], devices=devices, rejected=[], counters={"x": step}))
        for d, (st, status) in devices.items():
            expected[d] = _expected(st, status)
        with sessions() as s:
            for d, values in expected.items():
                assert _row(s, d) == values, (seed, step, d)
    loaded = load(sessions)
    for d, values in expected.items():
        assert loaded.seq[d].watermark == values["watermark"]
        assert sorted(loaded.seq[d].above) == values["above"]


@pytest.mark.parametrize("seed", range(4))
def test_rows_read_back_as_if_written_whole_sqlite(tmp_path: Path, seed: int) -> None:
    sessions = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    try:
        _check(sessions, seed)
    finally:
        sessions.kw["bind"].dispose()


def test_rows_read_back_as_if_written_whole_postgresql(postgres_url: str) -> None:
    sessions = open_database(postgres_url)
    try:
        _check(sessions, 7)
    finally:
        sessions.kw["bind"].dispose()
