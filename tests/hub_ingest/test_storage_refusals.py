"""InfluxDB refusing writes, against a real InfluxDB 1.6.7: what InfluxDB did not store is
never acknowledged, and never lost.

- its database dropped mid-stream, then the hub's credentials made wrong, then restored,
  with real edge agents streaming: every reading stored exactly once, the devices' outboxes
  keep what is not stored while the problem lasts, ``storage_problem()`` says why;
- a spooled batch that InfluxDB refuses (wrong credentials) stays in the spool, and of a
  spooled batch with points of the wrong type only those become dead letters;
- a field type conflict on the ingest path: those points are dead letters with InfluxDB's
  message, the others stored, the messages acknowledged;
- a body too large (413) is written in smaller pieces.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub.db import DeadLetter, open_database
from hub.devices import register
from hub.influx import Influx
from hub.influx_batch import DEAD_LETTER_REASON
from hub.ingest import Ingest
from hub.metrics import exposition
from hub.settings import HubSettings
from hub.spool import Spool
from tests.conftest import start_stack
from tests.helpers import running, wait_for
from tests.hub_ingest.chaos import T0, Round, value
from trygg import contract as c
from trygg.clock import SystemClock
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

ADMIN = ("admin", "admin-secret")
HUB_USER, HUB_PASSWORD = "hub", "hub-secret"


def _stack(path: Path, **options: bool | int) -> Iterator[LocalStack]:
    stack = start_stack(path, **options)
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
def auth_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack whose InfluxDB requires users: an admin, and the hub's own (admin too, so
    it can re-create its database)."""
    for stack in _stack(tmp_path / "stack", influx_auth=True):
        # With no user yet, InfluxDB lets anyone create the first admin.
        resp = httpx.post(
            f"{stack.influx_url}/query",
            data={"q": f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES"},
        )
        assert resp.status_code == 200, resp.text
        resp = httpx.post(
            f"{stack.influx_url}/query",
            auth=ADMIN,
            data={
                "q": f"CREATE USER {HUB_USER} WITH PASSWORD '{HUB_PASSWORD}' WITH ALL PRIVILEGES"
            },
        )
        assert resp.status_code == 200, resp.text
        assert "error" not in resp.text, resp.text
        yield stack


async def _influxql(stack: LocalStack, q: str, *, db: str | None = None) -> list[object]:
    """Run ``q`` as the admin; returns the results (fails the test on any error)."""
    async with httpx.AsyncClient(base_url=stack.influx_url, auth=ADMIN, timeout=30) as client:
        resp = await client.post("/query", params={"db": db} if db else {}, data={"q": q})
    assert resp.status_code == 200, resp.text
    results: list[dict[str, object]] = resp.json()["results"]
    assert not any("error" in r for r in results), results
    return [r.get("series") for r in results]


async def _write_as_admin(stack: LocalStack, db: str, body: str) -> None:
    async with httpx.AsyncClient(base_url=stack.influx_url, auth=ADMIN, timeout=30) as client:
        resp = await client.post(
            "/write", params={"db": db, "rp": "raw", "precision": "ms"}, content=body.encode()
        )
    assert resp.status_code == 204, resp.text


async def _count(stack: LocalStack, db: str, field: str, where: str = "") -> int:
    series = (
        await _influxql(stack, f'SELECT count("{field}") FROM "raw"."device" {where}', db=db)
    )[0]
    return int(series[0]["values"][0][1]) if series else 0  # type: ignore[index]


def _ingest(settings: HubSettings) -> Ingest:
    return Ingest(
        settings=settings,
        sessions=open_database(settings.database_url),
        influx=Influx(
            url=settings.influx_url,
            db=settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
        ),
        clock=SystemClock(),
    )


def _dead_letters(url: str) -> list[DeadLetter]:
    sessions = open_database(url)
    with sessions() as s:
        rows = list(s.scalars(select(DeadLetter).where(DeadLetter.reason == DEAD_LETTER_REASON)))
    sessions.kw["bind"].dispose()
    return rows


async def test_dropped_database_then_wrong_credentials_lose_and_acknowledge_nothing(
    auth_stack: LocalStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = auth_stack
    caplog.set_level(logging.INFO, logger="hub")
    # A one-byte spool takes nothing: what InfluxDB does not store must stay on the devices.
    rnd = Round(stack, tmp_path, "refused", devices=4, spool_max_bytes=1, influx_auth=ADMIN)
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db=rnd.influx_db,
        influx_username=HUB_USER,
        influx_password=HUB_PASSWORD,
        database_url=rnd.db_url,
        client_id=f"hub-{rnd.name}",
        share_group=f"g-{rnd.name}",
        spool_dir=tmp_path / "spool",
        spool_max_bytes=1,
        batch_max_delay_s=0.05,
        gauges_s=0.5,
    )
    ingest = _ingest(settings)

    async def rp_exists() -> bool:
        series = (await _influxql(stack, "SHOW DATABASES"))[0]
        if [rnd.influx_db] not in series[0].get("values", []):  # type: ignore[index]
            return False
        rps = (await _influxql(stack, f'SHOW RETENTION POLICIES ON "{rnd.influx_db}"'))[0]
        return ["raw", "2160h0m0s", "24h0m0s", 1, True] in rps[0].get("values", [])  # type: ignore[index]

    async def outbox_depth() -> int:
        stats = [await asyncio.to_thread(a.outbox.stats) for a in rnd.agents]
        return sum(s.depth for s in stats)

    async def refused_401() -> bool:
        return "401" in (ingest.storage_problem() or "")

    async def drained(upto: int) -> bool:
        stats = [await asyncio.to_thread(a.outbox.stats) for a in rnd.agents]
        return all(s.depth == 0 and s.next_seq == upto + 1 for s in stats)

    gate = asyncio.Event()
    gate.set()

    async def produce(stop: asyncio.Event) -> None:
        """Round's messages in seq order, paced, paused while ``gate`` is clear."""
        for _ in range(1000):  # agents assign their boot as they start
            if all(a.boot for a in rnd.agents):
                break
            await asyncio.sleep(0.01)
        for seq in range(1, rnd.messages + 1):
            await gate.wait()
            for d, agent in enumerate(rnd.agents):
                data = rnd._data(d, agent, seq)
                await asyncio.to_thread(agent.outbox.append, c.Kind.DATA.value, data, created_ms=T0)
            await asyncio.sleep(8.0 / rnd.messages)
            if stop.is_set():
                return

    before = 15  # messages per device stored before the database is dropped (and lost with it)
    async with running(ingest.run):
        await asyncio.wait_for(ingest.connected.wait(), timeout=20)
        assert ingest.storage_problem() is None
        rnd.agents = [rnd._agent(d) for d in rnd.device_ids]
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            for agent in rnd.agents:
                tg.create_task(agent.run(stop))
            producing = tg.create_task(produce(stop))
            try:

                async def reached() -> bool:
                    return rnd.agents[0].outbox.stats().next_seq > before

                await wait_for(reached, interval=0.01)
                gate.clear()
                await wait_for(lambda: drained(before), interval=0.05)
                assert (await rnd.figures())["influx_count"] == before * rnd.devices * rnd.readings
                # 1. The database is dropped, the stream going on: the hub re-creates it.
                await _influxql(stack, f'DROP DATABASE "{rnd.influx_db}"')
                gate.set()
                await wait_for(rp_exists, interval=0.05)
                await asyncio.sleep(1.5)
                # 2. The hub's credentials stop working.
                await _influxql(stack, f"SET PASSWORD FOR {HUB_USER} = 'changed-elsewhere'")
                await wait_for(refused_401, interval=0.05)
                await producing
                await asyncio.sleep(3.0)  # devices re-send, the hub retries
                problem = ingest.storage_problem()
                assert "401" in (problem or ""), problem
                assert b"trygg_ingest_storage_problem 1.0" in exposition(ingest.registry)
                depth = await outbox_depth()
                stored = (await rnd.figures())["influx_count"]
                assert depth > 0
                # Whatever is not in InfluxDB is still in a device's outbox.
                after = rnd.published_readings - before * rnd.devices * rnd.readings
                assert stored + depth * rnd.readings >= after, (stored, depth)
                # 3. Restored.
                await _influxql(stack, f"SET PASSWORD FOR {HUB_USER} = '{HUB_PASSWORD}'")
                await rnd._drained(within=60.0)

                async def settled() -> bool:
                    return ingest.gauges.queue_depth == 0

                await wait_for(settled)
            finally:
                stop.set()
        assert ingest.storage_problem() is None
        assert b"trygg_ingest_storage_problem 0.0" in exposition(ingest.registry)
    await ingest.influx.aclose()
    ingest.sessions.kw["bind"].dispose()
    figures = await rnd.figures()
    # Every reading sent after the drop is in InfluxDB exactly once; the hub accepted each
    # reading once.
    assert figures["influx_count"] == after, figures
    assert figures["influx_sum"] == sum(
        value(d, seq, i)
        for d in range(rnd.devices)
        for seq in range(before + 1, rnd.messages + 1)
        for i in range(rnd.readings)
    ), figures
    assert figures["hub_readings"] == rnd.published_readings, figures
    said = [r.getMessage() for r in caplog.records]
    assert any("404 database not found" in m for m in said), said
    assert any("401" in m for m in said), said
    assert _dead_letters(rnd.db_url) == []


async def test_the_spool_keeps_what_influxdb_refuses_and_dead_letters_only_refused_points(
    auth_stack: LocalStack, tmp_path: Path
) -> None:
    stack = auth_stack
    db = "spooled"
    await _influxql(stack, f'CREATE DATABASE "{db}"')
    await _influxql(
        stack, f'CREATE RETENTION POLICY "raw" ON "{db}" DURATION 90d REPLICATION 1 DEFAULT'
    )
    series = "device,asset=a,device=dev-1,sensor=modem,site=s"
    # The series' field already holds strings: integers for it are refused in this shard.
    await _write_as_admin(stack, db, f'{series} rssi="weak" {T0}')
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db=db,
        influx_username=HUB_USER,
        influx_password=HUB_PASSWORD,
        influx_manage_schema=False,
        database_url=f"sqlite:///{tmp_path}/hub.sqlite",
        client_id="hub-spool",
        share_group="g-spool",
        spool_dir=tmp_path / "spool",
    )
    good = [f"{series} load={i}i {T0 + 1 + i}" for i in range(40)]
    bad = [f"{series} rssi={i}i {T0 + 1 + i}" for i in range(0, 40, 3)]
    lines = [*good[:20], *bad, *good[20:]]
    spool = Spool(tmp_path / "spool" / f"{db}-hub-spool", max_bytes=1 << 20)
    assert spool.put("\n".join(lines).encode(), created_ms=T0)
    await _influxql(stack, f"SET PASSWORD FOR {HUB_USER} = 'changed-elsewhere'")
    ingest = _ingest(settings)

    async def refused_401() -> bool:
        return "401" in (ingest.storage_problem() or "")

    async def spool_empty() -> bool:
        return ingest.writer.spool is not None and len(ingest.writer.spool) == 0

    async with running(ingest.run):
        await wait_for(refused_401, interval=0.05)
        await asyncio.sleep(2.0)  # several attempts
        assert ingest.writer.spool is not None
        assert len(ingest.writer.spool) == 1
        assert await _count(stack, db, "load") == 0
        await _influxql(stack, f"SET PASSWORD FOR {HUB_USER} = '{HUB_PASSWORD}'")
        await wait_for(spool_empty, interval=0.05)
        assert ingest.storage_problem() is None
    await ingest.influx.aclose()
    ingest.sessions.kw["bind"].dispose()
    assert await _count(stack, db, "load") == len(good)
    assert await _count(stack, db, "rssi") == 1  # only the string written before
    dead = _dead_letters(settings.database_url)
    assert sorted(d.payload.decode() for d in dead) == sorted(bad)
    assert all("field type conflict" in d.detail for d in dead), [d.detail for d in dead]
    assert {d.device_id for d in dead} == {"dev-1"}
    assert ingest.counters.dead[DEAD_LETTER_REASON] == len(bad)


def _message(device: str, seq: int, n: int) -> bytes:
    readings = [
        c.Reading(
            asset=f"{device}-pi",
            kind=c.AssetKind.DEVICE,
            sensor="modem" if i % 2 else "pi",
            field="rssi" if i % 2 else "cpuLoad",
            t=T0 + seq * 100 + i,
            v=-60 - i if i % 2 else 0.25 * i,
        )
        for i in range(n)
    ]
    return c.encode(c.Data(device=device, site="s", boot=1, seq=seq, readings=readings))


async def _publish(stack: LocalStack, unique: str, device: str, messages: int, n: int) -> None:
    mqtt = MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"dev-{unique}")
    async with Connection(mqtt) as dev:
        for seq in range(1, messages + 1):
            await dev.publish(c.topic_for(device, c.Kind.DATA), _message(device, seq, n))


async def test_points_of_a_conflicting_type_are_dead_letters_and_the_rest_is_stored(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    device, messages, n = f"d-{unique}", 30, 6
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db=f"t_{unique}",
        database_url=f"sqlite:///{tmp_path}/hub.sqlite",
        client_id=f"hub-{unique}",
        share_group=f"g{unique}",
        spool_dir=tmp_path / "spool",
        batch_max_delay_s=0.05,
    )
    ingest = _ingest(settings)
    register(ingest.sessions, [(device, "s")])

    async def acknowledged() -> bool:
        return ingest.sequences.watermark(device) == messages

    async with (
        running(ingest.run),
        httpx.AsyncClient(base_url=stack.influx_url, timeout=30) as influx,
    ):
        await asyncio.wait_for(ingest.connected.wait(), timeout=20)
        # Someone wrote the device's rssi as text first: InfluxDB refuses numbers for it.
        text = f'device,asset={device}-pi,device={device},sensor=modem,site=s rssi="weak" {T0}'
        resp = await influx.post(
            "/write",
            params={"db": settings.influx_db, "rp": "raw", "precision": "ms"},
            content=text.encode(),
        )
        assert resp.status_code == 204, resp.text
        await _publish(stack, unique, device, messages, n)
        await wait_for(acknowledged, interval=0.05)
    await ingest.influx.aclose()
    ingest.sessions.kw["bind"].dispose()

    db = settings.influx_db
    where = f"WHERE device='{device}'"
    async with httpx.AsyncClient(base_url=stack.influx_url, timeout=30) as influx:

        async def count(field: str) -> int:
            q = f'SELECT count("{field}") FROM "raw"."device" {where}'
            resp = await influx.get("/query", params={"db": db, "q": q})
            series = resp.json()["results"][0].get("series")
            return int(series[0]["values"][0][1]) if series else 0

        assert await count("cpuLoad") == messages * n // 2
        assert await count("rssi") == 1
    dead = _dead_letters(settings.database_url)
    assert len(dead) == messages * n // 2
    assert all(b"rssi=" in d.payload and d.device_id == device for d in dead)
    assert all("field type conflict" in d.detail for d in dead), [d.detail for d in dead]
    assert ingest.counters.dead[DEAD_LETTER_REASON] == messages * n // 2
    assert ingest.counters.readings == messages * n  # each accepted once, none twice
    assert ingest.counters.duplicates == 0
    assert ingest.storage_problem() is None


@pytest.fixture
def small_body_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack whose InfluxDB takes write bodies of at most 4 KiB (413 above)."""
    yield from _stack(tmp_path / "stack", influx_max_body_size=4096)


async def test_a_batch_too_large_for_influxdb_is_written_in_pieces(
    small_body_stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    stack = small_body_stack
    device, messages, n = f"d-{unique}", 20, 20
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db=f"t_{unique}",
        database_url=f"sqlite:///{tmp_path}/hub.sqlite",
        client_id=f"hub-{unique}",
        share_group=f"g{unique}",
        spool_dir=tmp_path / "spool",
        batch_max_delay_s=0.5,  # the messages gather into batches far above 4 KiB
    )
    ingest = _ingest(settings)
    register(ingest.sessions, [(device, "s")])

    async def acknowledged() -> bool:
        return ingest.sequences.watermark(device) == messages

    async with running(ingest.run):
        await asyncio.wait_for(ingest.connected.wait(), timeout=20)
        await _publish(stack, unique, device, messages, n)
        await wait_for(acknowledged, interval=0.05)
    await ingest.influx.aclose()
    ingest.sessions.kw["bind"].dispose()
    async with httpx.AsyncClient(base_url=stack.influx_url, timeout=30) as influx:
        q = f'SELECT count("cpuLoad"), count("rssi") FROM "raw"."device" WHERE device=\'{device}\''
        resp = await influx.get("/query", params={"db": settings.influx_db, "q": q})
        stats = (await influx.get("/debug/vars")).json()
    httpd = next(v["values"] for k, v in stats.items() if k.startswith("httpd"))
    assert httpd["clientError"] > 0  # InfluxDB did answer 413 to the whole batch
    values = resp.json()["results"][0]["series"][0]["values"][0]
    assert values[1:] == [messages * n // 2, messages * n // 2]
    assert _dead_letters(settings.database_url) == []
    assert ingest.storage_problem() is None
