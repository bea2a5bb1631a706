"""Checking the hub's dependencies now and then: SQL, InfluxDB, the broker link, storage.

Each check has a short timeout, so a dependency that hangs (a stopped process keeps its
sockets open) shows as failing instead of hanging the checker. A SQL check still blocked
in its thread is not started again; it counts as failing until it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from hub.health import Health, describe
from hub.influx import Influx

log = logging.getLogger(__name__)


class DependencyDownError(RuntimeError):
    """A dependency check's finding, in words safe to show (no URLs, no credentials)."""


class DependencyChecks:
    def __init__(
        self,
        *,
        health: Health,
        sessions: sessionmaker[Session],
        influx: Influx,
        broker_up: Callable[[], bool],
        storage_problem: Callable[[], str | None],
        timeout_s: float,
    ) -> None:
        self.health = health
        self.sessions = sessions
        self.influx = influx
        self.broker_up = broker_up
        self.storage_problem = storage_problem
        self.timeout_s = timeout_s
        self._sql: asyncio.Future[None] | None = None

    def _select_one(self) -> None:
        with self.sessions() as s:
            s.execute(text("SELECT 1"))

    async def sql(self) -> None:
        if self._sql is None or self._sql.done():
            self._sql = asyncio.ensure_future(asyncio.to_thread(self._select_one))
        try:
            await asyncio.wait_for(asyncio.shield(self._sql), self.timeout_s)
        except TimeoutError:
            raise DependencyDownError(f"SQL did not answer within {self.timeout_s:g}s") from None

    async def influxdb(self) -> None:
        try:
            answered = await asyncio.wait_for(self.influx.ping(), self.timeout_s)
        except TimeoutError:
            raise DependencyDownError(
                f"InfluxDB did not answer within {self.timeout_s:g}s"
            ) from None
        if not answered:
            raise DependencyDownError("InfluxDB does not answer /ping")

    async def broker(self) -> None:
        if not self.broker_up():
            raise DependencyDownError("no MQTT session with the broker")

    async def storage(self) -> None:
        if (problem := self.storage_problem()) is not None:
            raise DependencyDownError(problem)

    async def check_all(self) -> None:
        """Run every check once and record the outcome in ``health``."""
        loop = asyncio.get_running_loop()
        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "sql": self.sql,
            "influxdb": self.influxdb,
            "broker": self.broker,
            "storage": self.storage,
        }
        for name, check in checks.items():
            part = f"check:{name}"
            try:
                await check()
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                state = self.health.failed(part, describe(exc), now=loop.time())
                if state.failures == 1:
                    log.warning("%s failing: %s", name, state.last_error)
            else:
                if self.health.ok(part, now=loop.time()):
                    log.info("%s ok again", name)

    async def run(self, stop: asyncio.Event, *, every_s: float) -> None:
        """Check every ``every_s`` until ``stop``."""
        while not stop.is_set():
            await self.check_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
