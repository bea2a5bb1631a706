"""The supervisor: a failing worker is restarted with back-off, logged once per streak,
counted, and never touches its siblings; stopping ends everything."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import DataError

from hub.health import Health
from hub.supervisor import Policy, Supervisor, cause

FAST = Policy(first_s=0.01, cap_s=0.04, settle_s=0.05)


def _supervisor(health: Health, registry: CollectorRegistry) -> Supervisor:
    return Supervisor(health=health, registry=registry, policy=FAST, rnd=lambda: 1.0)


def _failures(registry: CollectorRegistry, worker: str, error: str) -> float:
    value = registry.get_sample_value(
        "trygg_hub_worker_failures_total", {"worker": worker, "error": error}
    )
    return value or 0.0


async def test_a_failing_worker_restarts_and_its_sibling_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health, registry = Health(), CollectorRegistry()
    sup = _supervisor(health, registry)
    stop = asyncio.Event()
    runs = 0
    sibling_ticks = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 5:
            raise DataError("INSERT", {}, ValueError("refused"))
        await stop.wait()

    async def sibling() -> None:
        nonlocal sibling_ticks
        while not stop.is_set():
            sibling_ticks += 1
            await asyncio.sleep(0.005)

    caplog.set_level(logging.DEBUG, logger="hub.supervisor")
    async with asyncio.TaskGroup() as tg:
        tg.create_task(sup.run("flaky", flaky, stop))
        tg.create_task(sup.run("sibling", sibling, stop))
        for _ in range(200):
            await asyncio.sleep(0.01)
            states = {p.name: p.state for p in health.parts()}
            if runs > 5 and states["worker:flaky"] == "ok":
                break
        ticks_while_failing = sibling_ticks
        stop.set()
    assert runs == 6
    assert ticks_while_failing > 10
    assert _failures(registry, "flaky", "DataError") == 5
    assert {p.name: p.state for p in health.parts()} == {
        "worker:flaky": "stopped",
        "worker:sibling": "stopped",
    }
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per streak ...
    assert warnings[0].exc_info is not None  # ... with its traceback
    assert any("recovered" in r.getMessage() for r in caplog.records)


async def test_back_off_grows_to_its_cap() -> None:
    health, registry = Health(), CollectorRegistry()
    sup = _supervisor(health, registry)
    stop = asyncio.Event()
    starts: list[float] = []
    loop = asyncio.get_running_loop()

    async def broken() -> None:
        starts.append(loop.time())
        if len(starts) == 6:
            stop.set()
        raise ConnectionError("down")

    await sup.run("broken", broken, stop)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # 0.01, 0.02, 0.04, then capped at 0.04 (rnd=1.0: no jitter reduction)
    for gap, expected in zip(gaps, (0.01, 0.02, 0.04, 0.04, 0.04), strict=False):
        assert expected <= gap < expected + 0.05
    assert health.failing() == []  # stopped while backing off
    assert _failures(registry, "broken", "ConnectionError") == 6


async def test_a_worker_that_returns_is_stopped_not_restarted() -> None:
    health, registry = Health(), CollectorRegistry()
    stop = asyncio.Event()
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1

    await _supervisor(health, registry).run("once", once, stop)
    assert runs == 1
    assert health.parts()[0].state == "stopped"


async def test_cancellation_propagates_and_cancels_the_worker() -> None:
    health, registry = Health(), CollectorRegistry()
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    task = asyncio.create_task(_supervisor(health, registry).run("forever", forever, stop))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


def test_cause_unwraps_task_groups() -> None:
    inner = DataError("x", {}, ValueError("y"))
    assert cause(ExceptionGroup("g", [ExceptionGroup("h", [inner])])) is inner
    plain = OSError("z")
    assert cause(plain) is plain
