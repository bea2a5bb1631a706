"""Leases in the SQL database, on SQLite and PostgreSQL: one holder at a time even when
several race, expiry and takeover with a bumped fencing token, and a stale token refused."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from hub.db import open_database
from hub.leases import Lease, Leases, in_lease_thread
from trygg.clock import FakeClock

START = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Any]]:
    made = open_database(sql_url)
    yield made
    made.kw["bind"].dispose()


def _pair(
    sessions: sessionmaker[Any], clock: FakeClock, ttl_s: float = 10.0
) -> tuple[Leases, Leases]:
    return (
        Leases(sessions=sessions, clock=clock, holder="hub-a", ttl_s=ttl_s),
        Leases(sessions=sessions, clock=clock, holder="hub-b", ttl_s=ttl_s),
    )


def test_racing_holders_get_each_lease_exactly_once(sessions: sessionmaker[Any]) -> None:
    clock = FakeClock(START)
    hubs = [Leases(sessions=sessions, clock=clock, holder=f"hub-{i}", ttl_s=30.0) for i in range(4)]
    names = [f"part-{n:02d}" for n in range(6)]
    barrier = threading.Barrier(len(hubs))

    def grab(hub: Leases) -> list[Lease]:
        barrier.wait()
        got = [hub.try_acquire(name) for name in names]
        return [g for g in got if g is not None]

    with ThreadPoolExecutor(len(hubs)) as pool:
        results = list(pool.map(grab, hubs))
    won = sorted((lease.name, lease.holder) for got in results for lease in got)
    assert [name for name, _ in won] == names  # each name exactly once
    by_name = {s.name: s for s in hubs[0].holders()}
    for name, holder in won:
        assert by_name[name].holder == holder
        assert by_name[name].token == 1
        assert by_name[name].live


def test_a_live_lease_is_refused_to_others_and_renewed_for_its_holder(
    sessions: sessionmaker[Any],
) -> None:
    clock = FakeClock(START)
    a, b = _pair(sessions, clock)
    first = a.try_acquire("part-01")
    assert first == Lease(name="part-01", holder="hub-a", token=1)
    assert b.try_acquire("part-01") is None
    clock.advance(8)
    assert a.try_acquire("part-01") == first  # renewed, same tenure
    clock.advance(8)  # 16 s after the first take, 8 after the renewal
    assert b.try_acquire("part-01") is None
    assert a.renew(first)
    clock.advance(9.9)
    assert b.try_acquire("part-01") is None


def test_expiry_lets_another_take_over_with_a_bumped_token_and_refuses_the_stale_one(
    sessions: sessionmaker[Any],
) -> None:
    clock = FakeClock(START)
    a, b = _pair(sessions, clock)
    old = a.try_acquire("part-02")
    assert old is not None
    clock.advance(10)  # exactly the TTL: expired
    new = b.try_acquire("part-02")
    assert new == Lease(name="part-02", holder="hub-b", token=2)
    assert not a.renew(old)  # the stalled holder learns it lost the lease
    with a.sessions.begin() as s:
        assert not a.held("part-02", old.token, s)
    with b.sessions.begin() as s:
        assert b.held("part-02", new.token, s)
        assert not b.held("part-02", old.token, s)  # right holder, stale tenure
    assert a.try_acquire("part-02") is None
    a.release(old)  # releasing what is no longer ours changes nothing
    (state,) = a.holders()
    assert (state.holder, state.token, state.live) == ("hub-b", 2, True)


def test_an_expired_lease_is_no_longer_held_even_before_anyone_takes_it(
    sessions: sessionmaker[Any],
) -> None:
    clock = FakeClock(START)
    a, _ = _pair(sessions, clock)
    lease = a.try_acquire("part-03")
    assert lease is not None
    clock.advance(11)
    with a.sessions.begin() as s:
        assert not a.held("part-03", lease.token, s)
    again = a.try_acquire("part-03")  # a new tenure, even for the same holder
    assert again == Lease(name="part-03", holder="hub-a", token=2)
    assert not a.renew(lease)
    assert a.renew(again)


def test_release_frees_the_lease_at_once(sessions: sessionmaker[Any]) -> None:
    clock = FakeClock(START)
    a, b = _pair(sessions, clock)
    lease = a.try_acquire("schedule")
    assert lease is not None
    a.release(lease)
    (state,) = a.holders()
    assert (state.holder, state.live) == ("", False)
    assert not a.renew(lease)
    taken = b.try_acquire("schedule")
    assert taken == Lease(name="schedule", holder="hub-b", token=2)
    assert [s.live for s in b.holders()] == [True]


def test_a_takeover_waits_for_a_commit_that_checked_the_lease(sessions: sessionmaker[Any]) -> None:
    clock = FakeClock(START)
    a, b = _pair(sessions, clock, ttl_s=5.0)
    lease = a.try_acquire("part-04")
    assert lease is not None
    order: list[str] = []
    with a.sessions.begin() as s:
        assert a.held("part-04", lease.token, s)
        clock.advance(6)  # the lease runs out while the batch is being committed
        taker = threading.Thread(target=lambda: order.append(f"taken {b.try_acquire('part-04')}"))
        taker.start()
        time.sleep(0.5)
        order.append("committed")
    taker.join(timeout=30)
    assert order[0] == "committed"
    assert order[1] == "taken " + repr(Lease(name="part-04", holder="hub-b", token=2))


@pytest.mark.parametrize(
    ("holder", "ttl_s", "name"),
    [("", 10.0, "x"), ("h" * 201, 10.0, "x"), ("hub", 0.0, "x"), ("hub", 10.0, "")],
)
def test_bad_arguments_are_refused_and_change_nothing(
    sessions: sessionmaker[Any], holder: str, ttl_s: float, name: str
) -> None:
    clock = FakeClock(START)
    with pytest.raises(ValueError, match="lease"):
        Leases(sessions=sessions, clock=clock, holder=holder, ttl_s=ttl_s).try_acquire(name)
    assert Leases(sessions=sessions, clock=clock, holder="ok", ttl_s=1.0).holders() == []


async def test_a_renewal_is_not_queued_behind_work_that_fills_the_default_executor(
    sessions: sessionmaker[Any],
) -> None:
    """A hub whose default executor is busy with ingest commits still renews in time."""
    clock = FakeClock(START)
    a, _ = _pair(sessions, clock)
    lease = a.try_acquire("partition-00")
    assert lease is not None
    release = threading.Event()
    loop = asyncio.get_running_loop()
    busy = [loop.run_in_executor(None, release.wait) for _ in range(64)]  # every default thread
    try:
        async with asyncio.timeout(10):
            assert await in_lease_thread(a.renew, lease)
    finally:
        release.set()
        await asyncio.gather(*busy)
