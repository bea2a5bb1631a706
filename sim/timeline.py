"""The order in which a scenario's faults are set and cleared, and waiting for simulated time.

:func:`steps` is pure; :func:`sleep_until` is the one place that turns a simulated instant
into a real wait, through the shared clock's scale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sim.scenario import Injection
from trygg.aio import wait_event
from trygg.clock import Clock


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    injection: Injection
    active: bool  # True: inject, False: clear


def steps(injections: Iterable[Injection]) -> list[Step]:
    """Every set and clear, by time; a clear sorts before a set at the same instant."""
    out = []
    for inj in injections:
        out.append(Step(inj.at, inj, True))
        if inj.clear_at is not None:
            out.append(Step(inj.clear_at, inj, False))
    return sorted(out, key=lambda s: (s.at, s.active, s.injection.index))


async def sleep_until(clock: Clock, when: datetime, stop: asyncio.Event) -> bool:
    """Wait until the clock reaches ``when``; False if ``stop`` was set first."""
    while not stop.is_set():
        left = (when - clock.now()).total_seconds() / clock.scale()
        if left <= 0:
            return True
        await wait_event(stop, min(left, 1.0))
    return False
