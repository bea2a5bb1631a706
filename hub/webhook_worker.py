"""Webhook delivery: one lane per receiver, so a slow or dead receiver delays only itself.

The SQL outbox (:mod:`hub.webhooks`) stays the only record of what is owed: a lane claims
its receiver's oldest due deliveries, posts at most ``in_flight`` of them at once, and
writes each outcome back; nothing is held only in memory, so a restarted hub carries on
where it stopped. A failed delivery waits out its backoff before the receiver gets
anything newer, and then goes alone as a probe, so a receiver that is down costs one
attempt per backoff step, not one per queued event. Every request goes through a
:class:`~hub.webhook_transport.PinnedTransport` that refuses addresses the operator has
not allowed, and the error a user can read never says more than "refused" or "connection
failed" (the detail goes to the hub's log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.orm import Session, sessionmaker

from hub import webhooks
from hub.webhook_targets import TargetPolicy
from hub.webhook_transport import REFUSED, PinnedTransport, Resolver, TargetRefused, system_resolve
from hub.webhooks import SIGNATURE_HEADER, Due, Receiver, sign
from trygg.clock import Clock

log = logging.getLogger(__name__)

CONNECTION_FAILED = "connection failed"


@dataclass
class WebhookWorker:
    """Delivers the outbox; ``run(stop)`` is one task in the hub's TaskGroup.

    ``clock`` dates the outbox (simulated time in the demo); ``wall`` gives the signature's
    timestamp, which receivers compare with their own real clock.
    """

    sessions: sessionmaker[Session]
    clock: Clock
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    resolve: Resolver = system_resolve
    wall: Callable[[], float] = time.time
    poll_s: float = 1.0
    base_s: float = 5.0
    cap_s: float = 3600.0
    max_attempts: int = 20
    timeout_s: float = 10.0
    in_flight: int = 1
    rng: Callable[[], float] = random.random
    tls: ssl.SSLContext | None = None  # None: the CA store httpx trusts
    _lanes: dict[int, _Lane] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, got {self.in_flight}")

    def tls_context(self) -> ssl.SSLContext:
        # Made at the first delivery and shared by all lanes: loading the CA store costs
        # tens of milliseconds of CPU that a hub start should not pay.
        if self.tls is None:
            self.tls = httpx.create_ssl_context()
        return self.tls

    def _refresh(self) -> list[Receiver]:
        with self.sessions.begin() as s:
            webhooks.enqueue(s, now=self.clock.now())
            return webhooks.receivers(s)

    def _sync_lanes(self, current: list[Receiver]) -> tuple[list[_Lane], list[_Lane]]:
        """Lanes to start and lanes to stop so there is one per active receiver."""
        wanted = {r.id: r for r in current}
        stopped = [lane for rid, lane in self._lanes.items() if wanted.get(rid) != lane.receiver]
        for lane in stopped:
            del self._lanes[lane.receiver.id]
        started = [_Lane(self, r) for r in current if r.id not in self._lanes]
        self._lanes.update((lane.receiver.id, lane) for lane in started)
        return started, stopped

    async def step(self) -> int:
        """Queue new events, then one pass of every receiver's lane, side by side.

        Returns how many deliveries succeeded.
        """
        _, stopped = self._sync_lanes(await asyncio.to_thread(self._refresh))
        for lane in stopped:
            await lane.aclose()
        results = await asyncio.gather(*(lane.pass_once() for lane in self._lanes.values()))
        return sum(ok for _, ok in results)

    def wake(self) -> None:
        """New deliveries were queued: every lane looks now instead of at its next poll."""
        for lane in self._lanes.values():
            lane.wake()

    async def aclose(self) -> None:
        """Close the lanes' HTTP clients (after :meth:`step`; :meth:`run` closes its own)."""
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            await lane.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        lanes: dict[_Lane, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        ending: list[asyncio.Task[None]] = []
        try:
            async with asyncio.TaskGroup() as tg:
                while not stop.is_set():
                    try:
                        current = await asyncio.to_thread(self._refresh)
                    except Exception as exc:  # noqa: BLE001 - a bad pass must not stop the hub
                        log.warning("webhook outbox pass failed: %s: %s", type(exc).__name__, exc)
                    else:
                        started, stopped = self._sync_lanes(current)
                        for lane in stopped:  # deactivated: finishes its pass, then ends
                            lane_stop, task = lanes.pop(lane)
                            lane_stop.set()
                            lane.wake()
                            ending.append(task)
                        for lane in started:
                            lane_stop = asyncio.Event()
                            name = f"webhook-{lane.receiver.id}"
                            lanes[lane] = (
                                lane_stop,
                                tg.create_task(lane.run(lane_stop), name=name),
                            )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
                # Posts in flight are abandoned, not awaited: the outbox still holds them,
                # so the next start sends them again (receivers de-duplicate on the id).
                for task in ending + [t for _, t in lanes.values()]:
                    task.cancel()
        finally:
            await self.aclose()


class _Lane:
    """One receiver's queue: its own HTTP client and at most ``in_flight`` posts at once."""

    def __init__(self, worker: WebhookWorker, receiver: Receiver) -> None:
        self.worker = worker
        self.receiver = receiver
        self._client: httpx.AsyncClient | None = None
        self._failing = False  # the last pass had a failure: the next one is a single probe
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def _claim(self) -> list[Due]:
        w = self.worker
        with w.sessions.begin() as s:
            return webhooks.claim(
                s,
                subscription_id=self.receiver.id,
                now=w.clock.now(),
                limit=1 if self._failing else w.in_flight,
            )

    def _record(self, outcomes: list[tuple[Due, str | None]]) -> None:
        w = self.worker
        now = w.clock.now()
        with w.sessions.begin() as s:
            for due, error in outcomes:
                webhooks.record_attempt(
                    s,
                    delivery_id=due.id,
                    error=error,
                    now=now,
                    max_attempts=w.max_attempts,
                    base_s=w.base_s,
                    cap_s=w.cap_s,
                    rnd=w.rng(),
                )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            w = self.worker
            transport = PinnedTransport(
                policy=w.policy,
                resolve=w.resolve,
                inner=httpx.AsyncHTTPTransport(verify=w.tls_context()),
            )
            # No proxies from the environment: a proxy would connect to an unchecked address.
            self._client = httpx.AsyncClient(
                transport=transport,
                timeout=w.timeout_s,
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    async def _post(self, due: Due) -> str | None:
        headers = {
            "Content-Type": due.media_type,
            SIGNATURE_HEADER: sign(
                self.receiver.secret, due.body, timestamp=int(self.worker.wall())
            ),
            "Trygg-Event": due.event,
            "Trygg-Delivery": str(due.id),
        }
        try:
            resp = await self._http().post(self.receiver.url, content=due.body, headers=headers)
        except TargetRefused:
            log.warning(
                "webhook delivery %d: receiver %d's address is not allowed",
                due.id,
                self.receiver.id,
            )
            return REFUSED
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.info(
                "webhook delivery %d to receiver %d failed: %s: %s",
                due.id,
                self.receiver.id,
                type(exc).__name__,
                exc,
            )
            return CONNECTION_FAILED
        if 200 <= resp.status_code < 300:
            return None
        return f"HTTP {resp.status_code}"

    async def pass_once(self) -> tuple[int, int]:
        """Post this receiver's due deliveries once; returns (tried, succeeded)."""
        due = await asyncio.to_thread(self._claim)
        if not due:
            return 0, 0
        errors = await asyncio.gather(*(self._post(d) for d in due))
        await asyncio.to_thread(self._record, list(zip(due, errors, strict=True)))
        self._failing = any(e is not None for e in errors)
        return len(due), sum(e is None for e in errors)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                busy = False
                try:
                    tried, ok = await self.pass_once()
                    busy = 0 < tried == ok  # maybe a backlog: go on at once
                except Exception as exc:  # noqa: BLE001 - one receiver's trouble stays here
                    log.warning(
                        "webhook receiver %d pass failed: %s: %s",
                        self.receiver.id,
                        type(exc).__name__,
                        exc,
                    )
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.worker.poll_s)
                    self._wake.clear()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
