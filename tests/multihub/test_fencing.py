"""The ingest's SQL commit under a partition's lease, on SQLite and PostgreSQL: committed
while the lease is held with the same token, refused whole (nothing written) once another
hub has taken it over, also for the heartbeat tick's state changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from hub import partitioning as part
from hub.db import Counter, Device, open_database
from hub.device_state import DeviceStatus
from hub.devices import register
from hub.ingest_store import BatchWrite, IngestStore
from hub.leases import Leases
from hub.partition_scope import LeaseLostError, PartitionScope
from trygg.clock import FakeClock


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Any]]:
    made = open_database(sql_url)
    yield made
    made.kw["bind"].dispose()


def _counters(sessions: sessionmaker[Any]) -> dict[str, int]:
    with sessions() as s:
        return {r.name: r.value for r in s.scalars(select(Counter))}


def test_a_stale_holder_commits_nothing(sessions: sessionmaker[Any]) -> None:
    clock = FakeClock(datetime(2026, 12, 6, 3, tzinfo=UTC))
    a = Leases(sessions=sessions, clock=clock, holder="hub-a", ttl_s=5)
    b = Leases(sessions=sessions, clock=clock, holder="hub-b", ttl_s=5)
    lease = a.try_acquire(part.lease_name(2))
    assert lease is not None
    scope = PartitionScope(index=2, count=4, lease=lease, leases=a, group="g")
    store = IngestStore(
        sessions, dead_letter_max=10, fence=scope.fence, counter_prefix=scope.counter_prefix
    )
    register(sessions, [("pole-1", "sq")])
    store.write(BatchWrite(births=[], devices={}, rejected=[], counters={"readings": 5}))
    assert _counters(sessions)["part.02.readings"] == 5
    assert scope.still_held()

    clock.advance(6)  # hub-a stalled past its lease; hub-b takes the partition over
    taken = b.try_acquire(part.lease_name(2))
    assert taken is not None
    assert taken.token == lease.token + 1
    assert not scope.still_held()
    with pytest.raises(LeaseLostError, match="partition-02"):
        store.write(BatchWrite(births=[], devices={}, rejected=[], counters={"readings": 9}))
    assert _counters(sessions)["part.02.readings"] == 5
    online = DeviceStatus(
        device="pole-1", online=True, reason="heartbeat", changed_ms=1_790_000_000_000
    )
    with pytest.raises(LeaseLostError):
        store.states([online])
    with sessions() as s:
        row = s.get(Device, "pole-1")
        assert row is not None
        assert (row.online, row.state_changed) == (False, None)
    store_b = IngestStore(sessions, dead_letter_max=10)
    store_b.states([online])  # the same change unfenced is stored: the check can fail
    with sessions() as s:
        row = s.get(Device, "pole-1")
        assert row is not None
        assert row.online

    # The new holder's own store commits.
    new_scope = PartitionScope(index=2, count=4, lease=taken, leases=b, group="g")
    new_store = IngestStore(
        sessions, dead_letter_max=10, fence=new_scope.fence, counter_prefix="part.02."
    )
    new_store.write(BatchWrite(births=[], devices={}, rejected=[], counters={"readings": 7}))
    assert _counters(sessions)["part.02.readings"] == 7
