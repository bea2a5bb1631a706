"""The commit stage's order: written batches are committed to SQL (several in one
transaction) before any of their messages is PUBACKed, in the order they were received;
a batch neither InfluxDB nor the spool took is neither committed nor acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub import ingest as ingest_module
from hub.db import open_database
from hub.influx import Influx
from hub.ingest import Ingest, _Work, _Writing
from hub.ingest_batch import Batch, Draft
from hub.ingest_store import BatchWrite
from hub.ingest_write import Written
from hub.settings import HubSettings
from trygg.clock import FakeClock
from trygg.mqtt import Incoming


class _Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, list[int]]] = []


class _Store:
    """Records each commit: the received_ms of every batch in it (``pending`` is set by
    the test's wrapper of ``Ingest._commit``)."""

    def __init__(self, log: _Log) -> None:
        self.log = log
        self.pending: list[Batch] = []

    def write(self, _write: BatchWrite) -> None:
        self.log.events.append(("commit", [b.received_ms for b in self.pending]))

    def states(self, _statuses: Iterable[Any]) -> None:
        pass


class _Conn:
    def __init__(self, log: _Log) -> None:
        self.log = log

    def ack_many(self, messages: Iterable[Incoming]) -> None:
        self.log.events.append(("ack", [m.mid for m in messages]))


async def _stored(ok: bool) -> Written:
    return Written(stored=ok, refused=[])


async def test_written_batches_are_committed_together_before_any_puback(
    tmp_path: Path,
) -> None:
    settings = HubSettings(
        database_url=f"sqlite:///{tmp_path}/hub.sqlite", spool_dir=tmp_path / "spool"
    )
    ingest = Ingest(
        settings=settings,
        sessions=open_database(settings.database_url),
        influx=Influx(url="http://127.0.0.1:9", db="unused"),
        clock=FakeClock(datetime(2026, 11, 25, tzinfo=UTC)),
    )
    log = _Log()
    store = _Store(log)
    commit = ingest._commit

    async def recording_commit(batches: list[Batch], writes: list[Written | None]) -> Any:
        store.pending = batches
        return await commit(batches, writes)

    ingest.store = store  # type: ignore[assignment]
    ingest._commit = recording_commit  # type: ignore[method-assign]
    n = ingest_module._COMMIT_BATCHES + 3
    written: asyncio.Queue[_Writing | None] = asyncio.Queue()
    for i in range(n):
        stored = asyncio.ensure_future(_stored(i != n - 1))  # the last one was not stored
        messages = [Incoming("t", b"", 1, 10 * i + k, False) for k in range(2)]
        work = _Work(messages, Draft(received_ms=i).seal())
        written.put_nowait(_Writing(work, 0.0, stored, counts_write=True))
    written.put_nowait(None)
    await ingest._commit_stage(_Conn(log), written)  # type: ignore[arg-type]

    first = list(range(ingest_module._COMMIT_BATCHES))
    rest = list(range(ingest_module._COMMIT_BATCHES, n - 1))
    assert log.events == [
        ("commit", first),  # everything already handed on, in one transaction
        *(("ack", [10 * i, 10 * i + 1]) for i in first),
        ("commit", rest),
        *(("ack", [10 * i, 10 * i + 1]) for i in rest),
    ]  # and the batch that was not stored: neither committed nor acknowledged
