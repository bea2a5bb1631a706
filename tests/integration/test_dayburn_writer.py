"""The day-burning writer (hub/dayburn.py) against a real InfluxDB and a real hub database:
it reads the lamp readings the way ingest stored them, writes one point per lamp that
burned by day, and continues from its watermark without counting an interval twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.dayburn import MEASUREMENT, DayBurnWriter
from hub.db import Asset, open_database, sqlite_url
from hub.devices import register
from hub.influx import Influx
from hub.lineproto import reading_lines
from trygg.clock import to_ms
from trygg.contract import AssetKind, Reading
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NOON = to_ms(datetime(2026, 6, 15, 11, 0, tzinfo=UTC))
KW = 0.07
SETTLE_S = 60.0


@pytest.fixture
async def influx(stack: LocalStack, unique: str) -> AsyncIterator[Influx]:
    db = Influx(url=stack.influx_url, db=f"t_{unique}")
    await db.execute(f'CREATE DATABASE "{db.db}"')
    try:
        yield db
    finally:
        await db.execute(f'DROP DATABASE "{db.db}"')
        await db.aclose()


def _lamp_readings(asset: str, state: str, kw: float, minutes: int) -> list[Reading]:
    out: list[Reading] = []
    for i in range(minutes):
        t = NOON + i * 60_000
        out.append(
            Reading(
                asset=asset,
                kind=AssetKind.STREETLIGHT,
                sensor="lamp",
                field="powerState",
                t=t,
                v=state,
            )
        )
        out.append(
            Reading(
                asset=asset,
                kind=AssetKind.STREETLIGHT,
                sensor="lamp",
                field="activePower",
                t=t,
                v=kw,
            )
        )
    return out


async def test_writes_burning_lamps_once_per_interval(influx: Influx, tmp_path: Path) -> None:
    sessions = open_database(sqlite_url(tmp_path / "hub.sqlite"))
    register(sessions, [("pole-1", "solna-centrum")])
    with sessions.begin() as s:
        for asset in ("l-burn", "l-off"):
            s.add(Asset(id=asset, device_id="pole-1", kind="streetlight", lat=59.36, lon=18.0))
    minutes = 20
    lines = reading_lines(
        device="pole-1",
        site="solna-centrum",
        readings=_lamp_readings("l-burn", "on", KW, minutes)
        + _lamp_readings("l-off", "off", 0.0, minutes),
    )
    await influx.write("\n".join(lines).encode(), precision="ms")

    writer = DayBurnWriter(sessions=sessions, influx=influx, settle_s=SETTLE_S)
    # First call: the first interval is the five minutes before (now - settle).
    first_end = NOON + 6 * 60_000
    assert await writer.write(first_end + int(SETTLE_S * 1000)) == 1
    # Ten minutes later: the next interval starts where the first ended.
    second_end = first_end + 10 * 60_000
    assert await writer.write(second_end + int(SETTLE_S * 1000)) == 1
    # Called again at the same time: nothing new, nothing counted twice.
    assert await writer.write(second_end + int(SETTLE_S * 1000)) == 0

    result = await influx.query(
        f'SELECT "seconds", "energy_wh" FROM "{MEASUREMENT}" GROUP BY "asset", "site"'
    )
    series = result[0]["series"]
    assert [s["tags"] for s in series] == [{"asset": "l-burn", "site": "solna-centrum"}]
    rows = series[0]["values"]
    assert [r[0] for r in rows] == [first_end, second_end]
    # The first interval is [end - 5 min, end), the second continues from it: all lit by day.
    spans = [300.0, 600.0]
    assert [r[1] for r in rows] == pytest.approx(spans)
    assert [r[2] for r in rows] == pytest.approx([KW * 1000 * x / 3600 for x in spans], abs=1e-3)
    total = await influx.count(f'SELECT sum("seconds") FROM "{MEASUREMENT}"')
    assert total == (second_end - (first_end - 300_000)) // 1000
