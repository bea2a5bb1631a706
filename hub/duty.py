"""Work that must happen once across all hubs: run it only while this hub holds its lease.

A :class:`Duty` claims a named lease in the shared SQL database, starts ``work(ended)``
once it holds it, renews it in the background, and cancels the work as soon as the lease
can no longer be vouched for: a renewal refused (another hub took it) or not confirmed
within the lease's safe part (the database is unreachable, or this process was stopped
and has just woken). The hub stopping releases the lease, so another hub takes over at
once instead of after the lease time. Hubs that do not hold it try again every renewal
period, so a duty moves within one lease time plus one period of its owner's death.

The lease itself is anything of the :class:`Lease` shape (:class:`SqlLease` over
:mod:`hub.leases` in the hub); its calls block and run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Gauge

from hub import leases

log = logging.getLogger(__name__)

# A held lease is trusted for this share of its time after the claim that last confirmed
# it began, so the work has stopped before another hub can see the lease expire.
SAFE_SHARE: Final = 0.8
Work = Callable[[asyncio.Event], Awaitable[object]]  # runs until the event is set


class Lease(Protocol):
    """One named lease for this hub (blocking calls)."""

    @property
    def seconds(self) -> float:
        """How long a claim holds the lease."""
        ...

    def claim(self) -> bool:
        """Take the lease, or renew it if this hub holds it; True when held for
        :attr:`seconds` from now. Raises when the database cannot answer."""
        ...

    def release(self) -> None:
        """Give the lease up if this hub holds it (another hub may take it at once)."""
        ...


class SqlLease:
    """One named lease of :class:`hub.leases.Leases` as a :class:`Lease`; ``token`` is the
    current tenure's fencing token (None while not held)."""

    def __init__(self, table: leases.Leases, name: str) -> None:
        self.table = table
        self.name = leases.check_name(name)
        self._lease: leases.Lease | None = None

    @property
    def seconds(self) -> float:
        return self.table.ttl_s

    @property
    def token(self) -> int | None:
        return None if self._lease is None else self._lease.token

    def claim(self) -> bool:
        if self._lease is not None:
            if self.table.renew(self._lease):
                return True
            self._lease = None  # taken over or released: this tenure is over
            return False
        self._lease = self.table.try_acquire(self.name)
        return self._lease is not None

    def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            self.table.release(lease)


def held_gauge(registry: CollectorRegistry) -> Gauge:
    """The metric all of a hub's duties report to: 1 while this hub runs the duty."""
    return Gauge(
        "trygg_hub_duty_held",
        "1 while this hub runs the duty (work done once across all hubs)",
        ["duty"],
        registry=registry,
    )


class Duty:
    """Runs one worker of the hub only while this hub holds the worker's lease."""

    def __init__(
        self,
        name: str,
        *,
        lease: Lease,
        gauge: Gauge | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.lease = lease
        self.monotonic = monotonic
        self.held = False
        self.taken = 0  # how often this hub took the duty
        self.lost = 0  # how often it lost it while running it
        self._failing = False  # the last claim raised
        self._gauge = gauge
        self._set(held=False)

    @property
    def every_s(self) -> float:
        """The renewal period (and the retry period of a hub waiting for the duty)."""
        return self.lease.seconds / 3

    async def run(self, stop: asyncio.Event, work: Work) -> None:
        """Until ``stop``: wait for the lease, run ``work`` while it is held, again and again.

        A lost lease cancels the work and waits for the lease again; an exception of the work
        releases the lease (another hub may do better) and propagates to the supervisor; work
        that returns by itself releases the lease and ends the duty here.
        """
        while not stop.is_set():
            started = self.monotonic()
            if await self._claim():
                if not await self._hold(stop, work, confirmed_at=started):
                    return
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

    async def _claim(self) -> bool:
        try:
            held = await leases.in_lease_thread(self.lease.claim)
        except Exception as exc:  # noqa: BLE001 - the database may be away; try again later
            # the first failure of a streak at WARNING, so a long outage writes one line
            level = logging.DEBUG if self._failing else logging.WARNING
            self._failing = True
            log.log(
                level, "duty %s: lease claim failed: %s: %s", self.name, type(exc).__name__, exc
            )
            return False
        self._failing = False
        return held

    async def _hold(self, stop: asyncio.Event, work: Work, *, confirmed_at: float) -> bool:
        """Run ``work`` while the lease is held; True when the lease was lost (wait again)."""
        self.taken += 1
        self._set(held=True)
        log.info("duty %s: taken", self.name)
        ended = asyncio.Event()  # the work's own stop: the hub stops or the lease is gone
        task: asyncio.Future[object] = asyncio.ensure_future(work(ended))
        try:
            lost = await self._watch(stop, task, confirmed_at)
            if not lost and not task.done():  # the hub stops: let the work finish its drain
                ended.set()
                await asyncio.wait({task})
        finally:
            if not task.done():
                ended.set()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._set(held=False)
        if lost:
            self.lost += 1
            log.warning("duty %s: lost (%s); its work stopped", self.name, lost)
            return True
        await self._give_up()
        task.result()  # the work's own failure goes to the supervisor
        return False

    async def _watch(
        self, stop: asyncio.Event, task: asyncio.Future[object], confirmed_at: float
    ) -> str:
        """Renew until the work ends or the hub stops (""), or the reason the lease is lost."""
        safe_s = self.lease.seconds * SAFE_SHARE
        while not task.done() and not stop.is_set():
            left = confirmed_at + safe_s - self.monotonic()
            if left <= 0:
                return f"lease not confirmed for {safe_s:g} s"
            stopping: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait(
                    {task, stopping},
                    timeout=min(self.every_s, left),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                stopping.cancel()
            if task.done() or stop.is_set():
                break
            if self.monotonic() - confirmed_at < self.every_s:
                continue
            started = self.monotonic()
            if started - confirmed_at >= safe_s:
                return "woke after the lease's safe time"
            renewed = await self._claim_quietly()
            if renewed is False:
                return "another hub holds the lease"
            if renewed:
                confirmed_at = started
        return ""

    async def _claim_quietly(self) -> bool | None:
        """The renewal's answer, or None when the database could not give one."""
        try:
            return await leases.in_lease_thread(self.lease.claim)
        except Exception as exc:  # noqa: BLE001 - keep trying until the safe time runs out
            log.warning("duty %s: renewal failed: %s: %s", self.name, type(exc).__name__, exc)
            return None

    async def _give_up(self) -> None:
        log.info("duty %s: released", self.name)
        try:
            await leases.in_lease_thread(self.lease.release)
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            log.warning("duty %s: release failed: %s: %s", self.name, type(exc).__name__, exc)

    def _set(self, *, held: bool) -> None:
        self.held = held
        if self._gauge is not None:
            self._gauge.labels(duty=self.name).set(1 if held else 0)
