"""A hub judges the silence of a partition's devices (its rules' ticks) only while that
partition's lease was confirmed recently enough that no other hub can have taken it: a hub
waking from a hang writes no alarm for devices that may have moved. Pure but for SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from hub import partitioning as part
from hub.db import open_database
from hub.duty import SAFE_SHARE
from hub.partition_scope import PartitionScope
from hub.partitions import Partitions, _Held
from hub.settings import HubSettings
from trygg.clock import FakeClock

TTL_S = 10.0


def test_ownership_lapses_with_the_lease_confirmation_not_only_with_the_renewal(
    tmp_path: Path,
) -> None:
    now = [100.0]
    sessions = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    settings = HubSettings(partitions=4, lease_ttl_s=TTL_S, lease_renew_s=2.0, hub_id="hub-a")
    parts = Partitions(
        settings=settings,
        sessions=sessions,
        influx=cast(Any, None),
        clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
        monotonic=lambda: now[0],
    )
    lease = parts.leases.try_acquire(part.lease_name(1))
    assert lease is not None
    scope = PartitionScope(
        index=1, count=4, lease=lease, leases=parts.leases, group="g", devices={"pole-1"}
    )
    cabinet = next(f"c{i}" for i in range(100) if part.partition_of(f"cabinet:c{i}", 4) == 1)
    other = next(f"c{i}" for i in range(100) if part.partition_of(f"cabinet:c{i}", 4) != 1)
    parts.held[1] = _Held(scope, cast(Any, None), asyncio.Event(), cast(Any, None), 100.0)

    safe = TTL_S * SAFE_SHARE
    now[0] = 100.0 + safe - 0.01
    assert parts.owns_device("pole-1")
    assert parts.owns_cabinet(cabinet)
    assert not parts.owns_device("pole-2")
    assert not parts.owns_cabinet(other)
    now[0] = 100.0 + safe  # a hang: no renewal since; the lease may be someone else's
    assert not parts.owns_device("pole-1")
    assert not parts.owns_cabinet(cabinet)
    parts.held[1].confirmed_at = now[0]  # a renewal confirmed it again
    assert parts.owns_device("pole-1")
    assert parts.owns_cabinet(cabinet)
    sessions.kw["bind"].dispose()
