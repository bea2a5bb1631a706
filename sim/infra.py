"""Infra faults: stopping and restarting the local stack's broker and InfluxDB on cue, and
watching the hub notice. Only the process that owns the stack can inject these."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sim.scenario import Injection
from sim.timeline import Step, sleep_until, steps
from trygg.aio import wait_event
from trygg.clock import Clock
from trygg.stack import LocalStack

log = logging.getLogger(__name__)

# A hub signal: returns True while the hub shows the outage of that kind.
Signal = Callable[[], bool]


class StackInfra:
    """Applies ``broker_outage`` / ``influx_outage`` to a :class:`LocalStack`."""

    def __init__(self, stack: LocalStack, clock: Clock) -> None:
        self.stack = stack
        self.clock = clock
        self.applied: list[tuple[Injection, bool, datetime]] = []

    async def run(self, injections: list[Injection], stop: asyncio.Event) -> None:
        for step in steps(i for i in injections if i.kind.target == "infra"):
            if not await sleep_until(self.clock, step.at, stop):
                return
            await self.apply(step)

    async def apply(self, step: Step) -> None:
        service = (
            self.stack.mosquitto if step.injection.fault == "broker_outage" else self.stack.influx
        )
        log.info("%s %s", "stopping" if step.active else "restarting", service.name)
        if step.active:
            await asyncio.to_thread(service.stop)
        else:
            await asyncio.to_thread(service.start)
        self.applied.append((step.injection, step.active, self.clock.now()))

    async def restore(self) -> None:
        """Bring every service back (a run that stops mid-outage must not leave it down)."""
        for service in (self.stack.mosquitto, self.stack.influx):
            if not service.running():
                await asyncio.to_thread(service.start)


async def watch(
    injections: list[Injection],
    signals: dict[str, Signal],
    *,
    flowing: Callable[[], int],
    clock: Clock,
    stop: asyncio.Event,
    noticed: dict[int, datetime],
    recovered: dict[int, datetime],
) -> None:
    """For each infra outage, record when the hub's own signals first showed it
    (``noticed``, informational: a client that reconnects transparently may never show
    it) and when the hub stored new readings again after the service came back
    (``recovered``: what the score counts). ``flowing`` is the hub's stored-readings count.
    """
    infra = [i for i in injections if i.kind.target == "infra"]
    base: dict[int, int] = {}
    while not stop.is_set() and len(recovered) < len(infra):
        now = clock.now()
        for inj in infra:
            if now < inj.at or inj.index in recovered:
                continue
            signal = signals.get(inj.fault)
            in_outage = inj.clear_at is None or now < inj.clear_at
            if in_outage:
                if inj.index not in noticed and signal is not None and signal():
                    noticed[inj.index] = now
                continue
            if inj.index not in base:
                base[inj.index] = flowing()
            elif flowing() > base[inj.index]:
                recovered[inj.index] = now
        await wait_event(stop, 0.05)
