"""The ingest's write step against a scripted InfluxDB (component layer; the real InfluxDB
is in test_storage_refusals.py): a refusal that is not the data's fault is retried until
stored and never reported stored before; a missing database is re-created; refused points
become the batch's dead letters; ``storage_problem()`` follows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from hub.db import DeadLetter, open_database
from hub.influx import InfluxWriteError
from hub.influx_answer import classify
from hub.influx_batch import DEAD_LETTER_REASON
from hub.ingest import Ingest
from hub.ingest_batch import Draft
from hub.settings import HubSettings
from hub.spool import Spool
from hub.storage_health import StorageHealth
from trygg.clock import FakeClock

NOT_FOUND = (404, b'{"error":"database not found: \\"t\\""}')
UNAUTHORIZED = (401, b'{"error":"authorization failed"}')
OK = (204, b"")


class ScriptedInflux:
    """Answers writes from ``script`` (the last answer repeats); records what it stored."""

    def __init__(self, script: list[tuple[int, bytes]]) -> None:
        self.script = script
        self.stored: list[str] = []
        self.schemas = 0

    async def write(self, body: bytes, *, rp: str | None = None, precision: str = "ms") -> None:
        del rp, precision
        status, text = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        lines = body.decode().split("\n")
        if status == 400:
            self.stored += [x for x in lines if "bad" not in x]
            if not any("bad" in x for x in lines):
                return
        answer = classify(status, text)
        if not answer.stored:
            raise InfluxWriteError(answer)
        self.stored += lines

    async def ensure_schema(self, *, raw_rp: str, raw_retention: str) -> None:
        del raw_rp, raw_retention
        self.schemas += 1


def _ingest(tmp_path: Path, influx: ScriptedInflux) -> Ingest:
    settings = HubSettings(
        database_url=f"sqlite:///{tmp_path}/hub.sqlite", spool_dir=tmp_path / "spool"
    )
    ingest = Ingest(
        settings=settings,
        sessions=open_database(settings.database_url),
        influx=influx,  # type: ignore[arg-type]
        clock=FakeClock(datetime(2026, 12, 4, tzinfo=UTC)),
    )
    ingest.writer.spool = Spool(tmp_path / "spool", max_bytes=1)  # takes nothing
    return ingest


async def test_not_the_datas_fault_is_retried_until_stored_and_reported_meanwhile(
    tmp_path: Path,
) -> None:
    influx = ScriptedInflux([UNAUTHORIZED, UNAUTHORIZED, OK])
    ingest = _ingest(tmp_path, influx)
    lines = [f"m v={i} {i}" for i in range(10)]
    write = asyncio.ensure_future(ingest.writer.write(lines, 1, asyncio.Event()))
    await asyncio.sleep(0.1)
    assert not write.done()  # not stored: not reported stored
    assert ingest.storage_problem() == "InfluxDB refuses writes: 401 authorization failed"
    assert (await asyncio.wait_for(write, timeout=5)).stored
    assert influx.stored == lines
    assert ingest.storage_problem() is None


async def test_stopping_while_refused_reports_not_stored(tmp_path: Path) -> None:
    ingest = _ingest(tmp_path, ScriptedInflux([UNAUTHORIZED]))
    stop = asyncio.Event()
    write = asyncio.ensure_future(ingest.writer.write(["m v=1 1"], 1, stop))
    await asyncio.sleep(0.1)
    stop.set()
    assert (await asyncio.wait_for(write, timeout=5)).stored is False


async def test_a_missing_database_is_recreated_and_written_again(tmp_path: Path) -> None:
    influx = ScriptedInflux([NOT_FOUND, OK])
    ingest = _ingest(tmp_path, influx)
    assert (await ingest.writer.write(["m v=1 1"], 1, asyncio.Event())).stored
    assert influx.schemas == 1
    assert influx.stored == ["m v=1 1"]


async def test_refused_points_become_the_batchs_dead_letters(tmp_path: Path) -> None:
    conflict = (400, b'{"error":"partial write: field type conflict: x dropped=1"}')
    influx = ScriptedInflux([conflict])
    ingest = _ingest(tmp_path, influx)
    lines = ["m,device=a v=1 1", "m,device=b bad=1 2", "m,device=c v=3 3"]
    written = await ingest.writer.write(lines, 1, asyncio.Event())
    assert written.stored
    assert [(r.device, r.payload, r.detail) for r in written.refused] == [
        ("b", b"m,device=b bad=1 2", "partial write: field type conflict: x dropped=1")
    ]
    await ingest._commit([Draft(received_ms=1).seal()], [written])
    assert ingest.counters.dead[DEAD_LETTER_REASON] == 1
    with ingest.sessions() as s:
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 1
    assert set(influx.stored) == {lines[0], lines[2]}
    assert ingest.storage_problem() is None


def test_health_ignores_content_refusals_and_clears_on_a_stored_write() -> None:
    health = StorageHealth()
    health.not_stored(classify(400, b'{"error":"unable to parse \'x\': bad"}'), now_ms=1)
    assert health.problem() is None
    health.not_stored(classify(*UNAUTHORIZED), now_ms=2)
    health.not_stored(classify(503, b"busy"), now_ms=3)
    assert health.problem() == "InfluxDB refuses writes: 503 busy"
    assert health.since_ms == 2
    health.stored()
    assert health.problem() is None
    assert health.since_ms is None
