"""Infra faults: stopping and restarting the local stack's broker and InfluxDB on cue, and
watching the hub notice. Only the process that owns the stack can inject these."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sim.scenario import Injection
from sim.timeline import Step, sleep_until, steps
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
    clock: Clock,
    stop: asyncio.Event,
    noticed: dict[int, datetime],
    recovered: dict[int, datetime],
    grace: timedelta = timedelta(minutes=10),
) -> None:
    """Record when the hub first shows each infra outage, and when it shows it over
    (simulated times). A hub still busy with a backlog may notice just after the service
    is back, hence the ``grace``."""
    infra = [i for i in injections if i.kind.target == "infra"]
    while not stop.is_set() and len(recovered) < len(infra):
        now = clock.now()
        for inj in infra:
            signal = signals.get(inj.fault)
            if signal is None or now < inj.at or inj.index in recovered:
                continue
            showing = signal()
            if inj.index not in noticed:
                if showing and now <= (inj.clear_at or now) + grace:
                    noticed[inj.index] = now
            elif not showing and inj.clear_at is not None and now >= inj.clear_at:
                recovered[inj.index] = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.05)
