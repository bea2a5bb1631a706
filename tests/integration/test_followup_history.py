"""The hourly history writer (hub/followup/history.py) against a real InfluxDB and real
SQLite and PostgreSQL: it reads the readings as ingest stored them, stores each finished
hour once, and redoing an hour gives the very same rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from hub.db import Asset, open_database
from hub.db import Counter as CounterRow
from hub.devices import register
from hub.followup.history import WATERMARK, HistoryWriter
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.store import load_hours
from hub.influx import Influx
from hub.lineproto import reading_lines
from trygg.clock import to_ms
from trygg.contract import AssetKind, Reading
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NIGHT = to_ms(datetime(2026, 12, 15, 22, 0, tzinfo=UTC))
MIN = 60_000
SETTLE_S = 300.0


@pytest.fixture
async def influx(stack: LocalStack, unique: str) -> AsyncIterator[Influx]:
    db = Influx(url=stack.influx_url, db=f"t_{unique}")
    await db.execute(f'CREATE DATABASE "{db.db}"')
    try:
        yield db
    finally:
        await db.execute(f'DROP DATABASE "{db.db}"')
        await db.aclose()


def _r(asset: str, kind: AssetKind, field: str, t: int, v: float | str) -> Reading:
    return Reading(asset=asset, kind=kind, sensor="s", field=field, t=t, v=v)


def _readings() -> list[Reading]:
    out: list[Reading] = []
    for i in range(-10, 60):
        t = NIGHT + i * MIN
        out += [_r("lamp-on", AssetKind.STREETLIGHT, "powerState", t, "on")]
        out += [_r("lamp-on", AssetKind.STREETLIGHT, "activePower", t, 0.07)]
        if i < 30:  # this lamp goes silent half-way
            out += [_r("lamp-quiet", AssetKind.STREETLIGHT, "powerState", t, "on")]
    for i, level in enumerate([0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1], start=-1):
        out += [_r("bin-1", AssetKind.BIN, "fillingLevel", NIGHT + i * 10 * MIN, level)]
    return out


def _cell(rows: list[HourRow], asset: str, fld: str, value: str) -> HourRow:
    (row,) = [r for r in rows if (r.asset, r.field, r.value) == (asset, fld, value)]
    return row


async def test_stores_each_finished_hour_once_and_redoes_it_identically(
    influx: Influx, sql_url: str
) -> None:
    sessions = open_database(sql_url)
    register(sessions, [("pole-1", "centrum")])
    with sessions.begin() as s:
        for asset, kind in (
            ("lamp-on", "streetlight"),
            ("lamp-quiet", "streetlight"),
            ("bin-1", "bin"),
            ("lamp-dead", "streetlight"),
        ):
            s.add(Asset(id=asset, device_id="pole-1", kind=kind, lat=59.36, lon=18.0))
    lines = reading_lines(device="pole-1", site="centrum", readings=_readings())
    await influx.write("\n".join(lines).encode(), precision="ms")

    writer = HistoryWriter(sessions=sessions, influx=influx, settle_s=SETTLE_S)
    # A hub that has never stored history starts with the last finished hour.
    assert await writer.write(NIGHT + int(SETTLE_S * 1000)) > 0
    with sessions() as s:
        before = load_hours(s, start_ms=NIGHT - HOUR_MS, end_ms=NIGHT)
    assert _cell(before, "lamp-on", "lamp", "litDark").seconds == pytest.approx(10 * 60.0)
    # The next hour has ended but has not settled: nothing yet.
    assert await writer.write(NIGHT + HOUR_MS + MIN) == 0
    done = NIGHT + HOUR_MS + int(SETTLE_S * 1000)
    assert await writer.write(done) > 0
    assert await writer.write(done + 10 * MIN) == 0  # same hour: not written twice

    with sessions() as s:
        rows = load_hours(s, start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    assert {r.hour_ms for r in rows} == {NIGHT}
    assert _cell(rows, "lamp-on", "lamp", "litDark").seconds == pytest.approx(3600.0)
    assert _cell(rows, "lamp-on", "lamp", "litDark").amount == pytest.approx(70.0)
    assert _cell(rows, "lamp-quiet", "lamp", "litDark").seconds == pytest.approx(34 * 60.0)
    assert _cell(rows, "lamp-dead", "reporting", "silent").seconds == pytest.approx(3600.0)
    assert _cell(rows, "bin-1", "bin", "full").seconds == pytest.approx(30 * 60.0)
    assert _cell(rows, "bin-1", "event", "collection").count == 1
    assert all(r.site == "centrum" for r in rows)

    with sessions.begin() as s:
        s.merge(CounterRow(name=WATERMARK, value=NIGHT))
    assert await writer.write(done) == len(rows)
    with sessions() as s:
        again = load_hours(s, start_ms=NIGHT, end_ms=NIGHT + HOUR_MS)
    sessions.kw["bind"].dispose()
    key = lambda r: (r.asset, r.field, r.value)  # noqa: E731
    assert sorted(again, key=key) == sorted(rows, key=key)
