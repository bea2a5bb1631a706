"""The ingest's way into InfluxDB: write the lines, else spool them, else retry.

Points InfluxDB refuses for their content become dead letters (:mod:`hub.influx_batch`); if
it does not store a write for any other reason (down, database missing, credentials refused;
:mod:`hub.influx_answer`), the lines go to the bounded local spool (:mod:`hub.spool`),
replayed from there once InfluxDB stores again; if the spool is full too, the write is
retried with back-off and reports nothing stored meanwhile, so the ingest acknowledges
nothing and back-pressure reaches the broker. A missing database or retention policy is
re-created (when the hub manages the schema). :class:`~hub.storage_health.StorageHealth`
follows every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from hub.influx import Influx, InfluxError, InfluxWriteError
from hub.influx_batch import RefusedLine, dead_letters, write_lines
from hub.ingest_batch import Rejected
from hub.metrics import IngestGauges
from hub.settings import HubSettings
from hub.spool import Spool
from hub.storage_health import StorageHealth
from trygg.backoff import Backoff
from trygg.clock import Clock, to_ms

log = logging.getLogger(__name__)

# Re-creating the schema after InfluxDB said it is missing: at most this often.
_SCHEMA_AGAIN_S = 1.0


@dataclass(frozen=True, slots=True)
class Written:
    """What one write of one or more batches came to."""

    stored: bool  # InfluxDB or the spool has the lines
    refused: list[Rejected]  # dead letters of points InfluxDB refused for their content
    retries: int = 0
    spooled: bool = False


class Writer:
    """``gauges`` is the ingest's self-metrics record; the writer sets its storage figures."""

    def __init__(
        self, *, influx: Influx, settings: HubSettings, clock: Clock, gauges: IngestGauges
    ) -> None:
        self.influx = influx
        self.settings = settings
        self.clock = clock
        self.gauges = gauges
        self.health = StorageHealth()
        self.spool: Spool | None = None
        self._schema_lock = asyncio.Lock()
        self._schema_at = float("-inf")

    def open_spool(self) -> Spool:
        name = f"{self.settings.influx_db}-{self.settings.client_id}"
        self.spool = Spool(
            Path(self.settings.spool_dir) / name, max_bytes=self.settings.spool_max_bytes
        )
        if len(self.spool):
            log.info("spool holds %d batch(es) from before; replaying", len(self.spool))
        return self.spool

    async def ensure_schema(self) -> None:
        if self.settings.influx_manage_schema:
            await self.influx.ensure_schema(
                raw_rp=self.settings.influx_raw_rp,
                raw_retention=self.settings.influx_raw_retention,
            )

    def problem(self) -> str | None:
        """None while InfluxDB stores what the hub writes; else why not, in words."""
        return self.health.problem()

    async def write(self, lines: list[str], received_ms: int, stop: asyncio.Event) -> Written:
        """InfluxDB, else the spool, else retry; not stored only when stopping meanwhile.
        ``received_ms`` (of the oldest batch of the lines) dates the spooled copy."""
        retry = Backoff(0.2, 5.0)
        assert self.spool is not None
        schema_tried = False
        retries = 0
        while True:
            try:
                refused = await write_lines(self._write_raw, lines)
            except InfluxWriteError as exc:
                self._not_stored(exc)
                if exc.answer.schema_missing and not schema_tried and await self._schema_again():
                    schema_tried = True
                    continue
                retries += 1
                body = "\n".join(lines).encode()
                if await asyncio.to_thread(self.spool.put, body, created_ms=received_ms):
                    log.info("InfluxDB did not store a batch (%s): spooled", exc)
                    return Written(stored=True, refused=[], retries=retries, spooled=True)
                log.warning("InfluxDB did not store a batch and spool full: not acknowledging")
            else:
                self._stored()
                dead = self._refused(refused) if refused else []
                return Written(stored=True, refused=dead, retries=retries)
            if stop.is_set():
                return Written(stored=False, refused=[], retries=retries)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry.next_delay())
            schema_tried = False

    async def replay(
        self,
        stop: asyncio.Event,
        dead: Callable[[list[Rejected]], Awaitable[None]],
    ) -> None:
        """Write the spool's batches to InfluxDB, oldest first, until ``stop``; ``dead``
        persists the dead letters of a batch's refused points before it leaves the spool."""
        retry = Backoff(0.5, 10.0)
        while not stop.is_set():
            spool = self.spool
            head = await asyncio.to_thread(spool.peek) if spool is not None else None
            if spool is not None:
                self.gauges.spool_bytes, self.gauges.spool_batches = spool.size_bytes, len(spool)
            if head is None or spool is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            segment, body = head
            # A damaged file must not stop the loop: what InfluxDB cannot parse is dead-lettered.
            lines = body.decode(errors="replace").split("\n")
            try:
                refused = await write_lines(self._write_raw, lines)
            except InfluxWriteError as exc:
                # Kept, whatever InfluxDB's reason: only a write that stored it removes it.
                self._not_stored(exc)
                if exc.answer.schema_missing:
                    await self._schema_again()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry.next_delay())
                continue
            self._stored()
            if refused:
                await dead(self._refused(refused))
            await asyncio.to_thread(spool.remove, segment)
            retry.reset()

    async def write_metrics(self, line: str) -> None:
        """The hub's own figures: written once, not spooled (the next ones follow soon)."""
        try:
            await self._write_raw(line.encode())
        except InfluxWriteError as exc:
            log.debug("self-metrics not written: %s", exc)
            self._not_stored(exc)
            if exc.answer.schema_missing:
                await self._schema_again()
        else:
            self._stored()

    async def _write_raw(self, body: bytes) -> None:
        await self.influx.write(body, rp=self.settings.influx_raw_rp)

    def _stored(self) -> None:
        self.health.stored()
        self.gauges.storage_problem = False

    def _not_stored(self, exc: InfluxWriteError) -> None:
        self.health.not_stored(exc.answer, now_ms=to_ms(self.clock.now()))
        self.gauges.storage_problem = self.health.problem() is not None

    async def _schema_again(self) -> bool:
        """Re-create the database and retention policies InfluxDB said are missing (one
        attempt at a time, at most one a second); True when they may exist now."""
        if not self.settings.influx_manage_schema:
            return False
        loop = asyncio.get_running_loop()
        async with self._schema_lock:
            if loop.time() - self._schema_at < _SCHEMA_AGAIN_S:
                return True
            self._schema_at = loop.time()
            try:
                await self.ensure_schema()
            except InfluxError as exc:
                log.warning("InfluxDB schema could not be re-created: %s", exc)
                return False
            log.info("InfluxDB database/retention policies were missing: re-created")
            return True

    def _refused(self, refused: list[RefusedLine]) -> list[Rejected]:
        log.warning(
            "InfluxDB refused %d point(s) for their content, dead-lettered: %s",
            len(refused),
            refused[0].message,
        )
        return dead_letters(refused, at_ms=to_ms(self.clock.now()))
