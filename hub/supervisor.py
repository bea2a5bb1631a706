"""Running each long-lived worker of the hub forever: a failure is logged, counted, backed
off and the worker started again, without touching its siblings.

Any ``Exception`` a worker raises (a database refusing data, InfluxDB or the broker gone) ends
only that worker's run; ``CancelledError`` (the hub stopping) always propagates. The first
failure of a streak is logged with its traceback, repeats only at DEBUG, the recovery at INFO,
so a dependency that is down for an hour writes three lines, not thousands. A worker counts as
recovered once it has run ``settle_s`` without failing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from hub.health import Health, describe
from trygg import backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Policy:
    first_s: float = 0.5  # first back-off
    cap_s: float = 30.0  # longest back-off
    settle_s: float = 5.0  # running this long without failing counts as recovered


class Supervisor:
    """Starts named workers and keeps them running; their states go to ``health``."""

    def __init__(
        self,
        *,
        health: Health,
        registry: CollectorRegistry,
        policy: Policy = Policy(),
        rnd: Callable[[], float] = random.random,
    ) -> None:
        self.health = health
        self.policy = policy
        self._rnd = rnd
        self.failures = Counter(
            "trygg_hub_worker_failures",
            "Failures of a hub worker that was then restarted, per worker and error type",
            ["worker", "error"],
            registry=registry,
        )

    async def run(
        self, name: str, work: Callable[[], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """Run ``work()`` until ``stop``, starting it again after each failure. A run that
        returns by itself ends the worker (state ``stopped``)."""
        loop = asyncio.get_running_loop()
        part = f"worker:{name}"
        self.health.starting(part, now=loop.time())
        while not stop.is_set():
            task = asyncio.ensure_future(work())
            try:
                done, _ = await asyncio.wait({task}, timeout=self.policy.settle_s)
                if not done and self.health.ok(part, now=loop.time()):
                    log.info("%s recovered", name)
                await task
            except asyncio.CancelledError:
                task.cancel()
                raise
            except Exception as raised:  # one worker's failure stays here
                exc = cause(raised)
                state = self.health.failed(part, describe(exc), now=loop.time())
                self.failures.labels(worker=name, error=type(exc).__name__).inc()
                delay = backoff.delay(
                    state.failures - 1,
                    base_s=self.policy.first_s,
                    cap_s=self.policy.cap_s,
                    rnd=self._rnd(),
                )
                if state.failures == 1:
                    log.warning("%s failed, restarting in %.1fs", name, delay, exc_info=raised)
                else:
                    log.debug("%s failed again (%d): %s", name, state.failures, describe(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                continue
            break
        self.health.stopped(part, now=loop.time())


def cause(exc: BaseException) -> BaseException:
    """The first error inside task-group wrappers: what the log and the counter should name."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
