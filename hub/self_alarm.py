"""The hub's own troubles as an operator-visible alarm: one ``hubDegraded`` ticket.

A worker or dependency failing for ``grace_s`` or longer opens the alarm (and its ticket);
a change in what is failing updates it; all well again clears it and the ticket resolves.
When SQL itself was down the ticket could not be written meanwhile: it is written once SQL
answers again (opened and, if all is well by then, resolved at once), so the outage is on
record. The ``trygg_hub_degraded`` gauge follows the same judgement without needing SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.orm import Session, sessionmaker

from hub.health import Health, describe
from hub.rules import alarms
from trygg.clock import Clock

log = logging.getLogger(__name__)

KIND: Final = "hubDegraded"
ASSET: Final = "hub"  # the alarm's subject: the hub itself, not a device's asset


class SelfAlarm:
    def __init__(
        self,
        *,
        health: Health,
        sessions: sessionmaker[Session],
        clock: Clock,
        grace_s: float,
        registry: CollectorRegistry,
        mirror: Callable[[bool], None] | None = None,
    ) -> None:
        self.health = health
        self.sessions = sessions
        self.clock = clock
        self.grace_s = grace_s
        self.mirror = mirror  # also told the judgement (the InfluxDB self-metrics)
        self.gauge = Gauge(
            "trygg_hub_degraded",
            "1 while a hub worker or dependency has been failing for degraded_grace_s",
            registry=registry,
        )
        self._written: tuple[str, ...] | None = None  # None: unknown (e.g. after a restart)
        self._missed: dict[str, object] | None = None  # an episode SQL could not take

    def judge(self, *, now: float) -> tuple[tuple[str, ...], dict[str, object]]:
        """What is failing past the grace, and the alarm's details; sets the gauge."""
        degraded = self.health.degraded(now=now, grace_s=self.grace_s)
        self.gauge.set(1 if degraded else 0)
        if self.mirror is not None:
            self.mirror(bool(degraded))
        return tuple(p.name for p in degraded), {"failing": [p.as_json(now) for p in degraded]}

    def due(self, names: tuple[str, ...]) -> bool:
        """Whether SQL has to hear about ``names`` (a change, or an episode not written)."""
        return names != self._written or self._missed is not None

    def write(self, names: tuple[str, ...], details: dict[str, object]) -> None:
        """Open, update or clear the alarm (blocking: SQL). The database's error propagates;
        the episode is kept and written next time."""
        if names:
            self._missed = details
        at = self.clock.now()
        with self.sessions.begin() as s:
            if names or self._missed is not None:
                alarms.raise_alarm(
                    s,
                    asset_id=ASSET,
                    alarm_type=KIND,
                    severity="major",
                    now=at,
                    details=details if names else {**(self._missed or {}), "late": True},
                )
            if not names:
                alarms.clear_alarm(s, asset_id=ASSET, alarm_type=KIND, now=at, hold=timedelta(0))
        if names:
            log.warning("hub degraded: %s", ", ".join(names))
        elif self._written:
            log.info("hub healthy again")
        self._written, self._missed = names, None

    async def run(self, stop: asyncio.Event, *, every_s: float) -> None:
        """Judge every ``every_s``; a write SQL has not finished is not started again."""
        loop = asyncio.get_running_loop()
        writing: asyncio.Future[None] | None = None
        while not stop.is_set():
            names, details = self.judge(now=loop.time())
            if writing is not None and writing.done():
                if (exc := writing.exception()) is not None:
                    log.debug("hubDegraded not written yet: %s", describe(exc))
                writing = None
            if writing is None and self.due(names):
                writing = asyncio.ensure_future(asyncio.to_thread(self.write, names, details))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
        if writing is not None:
            writing.cancel()
