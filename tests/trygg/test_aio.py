"""wait_event and the per-loop keep-alive timer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from trygg.aio import wait_event
from trygg.mqtt.keepalive import Keepalive


async def test_wait_event_times_out_false_and_wakes_true_at_once() -> None:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await wait_event(event, 0.05) is False
    assert loop.time() - start >= 0.04

    loop.call_later(0.02, event.set)
    start = loop.time()
    assert await wait_event(event, 5.0) is True
    assert loop.time() - start < 1.0  # woken by the event, not the timeout
    assert await wait_event(event, 0.0) is True  # already set: no wait at all


async def test_wait_event_creates_no_task_and_passes_cancellation_through() -> None:
    event = asyncio.Event()
    before = len(asyncio.all_tasks())
    waiter = asyncio.create_task(wait_event(event, 10.0))
    await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == before + 1  # only the waiter itself
    waiter.cancel()
    try:
        await waiter
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("a cancelled wait must stay cancelled, not time out")


@dataclass(eq=False)
class _Client:
    keepalive_s: float
    calls: list[float] = field(default_factory=list)

    def keepalive_check(self, now: float) -> None:
        self.calls.append(now)


async def test_keepalive_ticks_at_a_quarter_of_the_shortest_keepalive() -> None:
    loop = asyncio.get_running_loop()
    ka = Keepalive(loop)
    slow, fast = _Client(keepalive_s=60), _Client(keepalive_s=1)
    ka.add(cast(Any, slow))
    assert ka.period_s == 15.0  # 60 s / 4
    ka.add(cast(Any, fast))
    assert ka.period_s == 0.25  # 1 s / 4: the timer is re-armed at once
    await asyncio.sleep(0.6)
    assert len(fast.calls) >= 2
    assert len(slow.calls) == len(fast.calls)  # one tick serves all
    ka.discard(cast(Any, slow))
    ka.discard(cast(Any, fast))
    ticks = len(fast.calls)
    await asyncio.sleep(0.3)
    assert len(fast.calls) == ticks  # no clients: no timer


async def test_keepalive_zero_means_no_fast_ticking() -> None:
    ka = Keepalive(asyncio.get_running_loop())
    client = _Client(keepalive_s=0)
    ka.add(cast(Any, client))
    assert ka.period_s == Keepalive.MAX_PERIOD_S
    ka.discard(cast(Any, client))
