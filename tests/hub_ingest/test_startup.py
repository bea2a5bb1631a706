"""The ingest's start-up overlaps: the InfluxDB schema is made and the broker session
opened (its backlog streaming in) while the state loads, but nothing is classified, stored
or acknowledged before the hub says it is ready."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from hub.app import Hub
from tests.helpers import build_hub, hub_settings, running, wait_for
from trygg import contract as c
from trygg.clock import FakeClock, to_ms
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


async def test_a_queued_backlog_is_classified_only_once_the_hub_is_ready(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    clock = FakeClock(NOW)
    device = f"d-{unique}"
    settings = hub_settings(stack, tmp_path, unique)
    hub = build_hub(settings, clock, [(device, "s")])
    async with running(hub.ingest.run):  # creates the persistent session, then stops
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
    await hub.influx.aclose()
    async with httpx.AsyncClient(base_url=stack.influx_url) as influx:
        await influx.post("/query", data={"q": f'DROP DATABASE "{settings.influx_db}"'})
    readings = [
        c.Reading(
            asset="a",
            kind=c.AssetKind.DEVICE,
            sensor="pi",
            field="cpuLoad",
            t=to_ms(NOW) + i,
            v=0.5,
        )
        for i in range(3)
    ]
    mqtt = MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"dev-{unique}")
    async with Connection(mqtt) as dev:
        for seq in (1, 2):
            data = c.Data(device=device, site="s", boot=1, seq=seq, readings=readings)
            await dev.publish(c.topic_for(device, c.Kind.DATA), c.encode(data))

    hub = Hub.build(settings, clock)
    ready = asyncio.Event()
    async with (
        running(lambda stop: hub.ingest.run(stop, ready=ready)),
        httpx.AsyncClient(base_url=stack.influx_url) as influx,
    ):

        async def schema_made() -> bool:
            resp = await influx.get("/query", params={"q": "SHOW DATABASES"})
            series = resp.json()["results"][0].get("series", [{}])
            return [settings.influx_db] in series[0].get("values", [])

        async def stored() -> bool:
            return hub.ingest.counters.readings >= 2 * len(readings)

        await wait_for(schema_made, interval=0.05)  # the schema comes first
        await asyncio.sleep(1.0)  # connected and loaded meanwhile; the backlog is here
        assert hub.ingest.counters.messages == 0
        assert not hub.ingest.connected.is_set()
        ready.set()
        await wait_for(stored, interval=0.05)
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
    await hub.influx.aclose()
    assert hub.ingest.counters.messages == 2
    assert hub.ingest.counters.duplicates == 0
