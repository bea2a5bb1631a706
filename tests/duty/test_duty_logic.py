"""hub.duty against an in-memory lease table: who runs the work, when it stops, what is released.

The real SQL lease and real hub processes are in test_duty_takeover.py; here the seam is the
:class:`hub.duty.Lease` protocol, with real time scaled down to tenths of a second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from hub.duty import Duty

LEASE_S = 1.0  # long enough that a loaded machine does not lose a lease by delay


@dataclass
class Table:
    """Leases by name: (holder, expiry on the monotonic clock)."""

    rows: dict[str, tuple[str, float]] = field(default_factory=dict)
    fail: bool = False  # the database is away


@dataclass
class FakeLease:
    table: Table
    name: str
    holder: str
    seconds: float = LEASE_S
    claims: int = 0
    releases: int = 0

    def claim(self) -> bool:
        self.claims += 1
        if self.table.fail:
            raise ConnectionError("database away")
        now = time.monotonic()
        row = self.table.rows.get(self.name)
        if row is not None and row[0] != self.holder and row[1] > now:
            return False
        self.table.rows[self.name] = (self.holder, now + self.seconds)
        return True

    def release(self) -> None:
        self.releases += 1
        row = self.table.rows.get(self.name)
        if row is not None and row[0] == self.holder:
            del self.table.rows[self.name]


@dataclass
class Counting:
    """A worker that counts its steps until told to stop, and notes how it ended."""

    steps: int = 0
    ended: str = ""

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self.steps += 1
                await asyncio.sleep(0.01)
            self.ended = "stopped"
        except asyncio.CancelledError:
            self.ended = "cancelled"
            raise


async def _until(check: object, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_one_of_two_hubs_runs_the_work_and_the_other_takes_it_on_release() -> None:
    table = Table()
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a, b = (
        Duty("webhooks", lease=FakeLease(table, "webhooks", "a")),
        Duty("webhooks", lease=FakeLease(table, "webhooks", "b")),
    )
    work_a, work_b = Counting(), Counting()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(a.run(stop_a, work_a.run))
        await _until(lambda: a.held)
        tg.create_task(b.run(stop_b, work_b.run))
        await asyncio.sleep(LEASE_S * 2)  # several renewals
        assert a.held
        assert not b.held
        assert work_a.steps > 0
        assert work_b.steps == 0
        stop_a.set()  # a stops: it releases, so b need not wait out the lease
        released_at = time.monotonic()
        await _until(lambda: b.held)
        assert time.monotonic() - released_at < LEASE_S * 1.5
        assert work_a.ended == "stopped"
        stop_b.set()
    assert work_b.ended == "stopped"
    assert table.rows == {}


async def test_a_lease_taken_by_another_hub_cancels_the_work_at_the_next_renewal() -> None:
    table = Table()
    stop = asyncio.Event()
    duty = Duty("gauges", lease=FakeLease(table, "gauges", "a"))
    work = Counting()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(duty.run(stop, work.run))
        await _until(lambda: duty.held)
        table.rows["gauges"] = ("b", time.monotonic() + 60)  # another hub holds it now
        taken_at = time.monotonic()
        await _until(lambda: not duty.held)
        assert time.monotonic() - taken_at < LEASE_S, "the work outlived the lease"
        assert work.ended == "cancelled"
        steps = work.steps
        await asyncio.sleep(LEASE_S)
        assert work.steps == steps, "the work ran on after the lease was lost"
        stop.set()
    assert duty.lost == 1
    assert table.rows["gauges"][0] == "b", "a lost lease is not released by its old holder"


async def test_an_unreachable_database_stops_the_work_within_the_safe_part_of_the_lease() -> None:
    table = Table()
    stop = asyncio.Event()
    duty = Duty("privacy", lease=FakeLease(table, "privacy", "a"))
    work = Counting()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(duty.run(stop, work.run))
        await _until(lambda: duty.held)
        table.fail = True
        failed_at = time.monotonic()
        await _until(lambda: not duty.held)
        assert time.monotonic() - failed_at < LEASE_S, "the work outlived the lease"
        assert work.ended == "cancelled"
        table.fail = False  # back: the hub takes its duty again
        await _until(lambda: duty.held)
        stop.set()
    assert duty.taken == 2


async def test_a_hub_that_wakes_after_its_lease_stops_the_work_without_asking() -> None:
    table = Table()
    stop = asyncio.Event()
    skew = [0.0]
    lease = FakeLease(table, "commands", "a")
    duty = Duty("commands", lease=lease, monotonic=lambda: time.monotonic() + skew[0])
    work = Counting()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(duty.run(stop, work.run))
        await _until(lambda: duty.held)
        table.fail = True  # any claim would now be refused
        lost_at_claim: list[int] = []
        claim = lease.claim

        def noted() -> bool:
            lost_at_claim.append(duty.lost)
            return claim()

        lease.claim = noted  # type: ignore[method-assign]
        skew[0] = LEASE_S * 10  # as if the process had been stopped for ten lease times
        await _until(lambda: duty.lost == 1)
        assert not duty.held
        assert work.ended == "cancelled"
        await _until(lambda: bool(lost_at_claim))  # it waits for the lease again
        assert lost_at_claim[0] == 1, "a woken hub must stop before it asks for the lease"
        stop.set()


async def test_a_failing_work_releases_the_lease_and_raises() -> None:
    table = Table()
    lease = FakeLease(table, "rules", "a")
    duty = Duty("rules", lease=lease)

    async def broken(_: asyncio.Event) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(duty.run(asyncio.Event(), broken), timeout=3)
    assert lease.releases == 1
    assert table.rows == {}
    assert not duty.held
