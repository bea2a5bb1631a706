"""End to end through the real broker, hub (ingest, rules, API) and database: a crowd surge
published over MQTT raises exactly one alert, pushed to a stream reader, which escalates
while nobody acknowledges and resolves when the crowd thins, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import auth
from tests.helpers import build_hub, hub_settings, running, wait_for
from tests.rules.mqtt_pub import DevicePublisher
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg.clock import FakeClock
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration
T0 = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)


async def test_a_surge_raises_one_alert_that_escalates_and_resolves(
    stack: LocalStack, tmp_path: Path, unique: str, sql_url: str
) -> None:
    clock = FakeClock(T0)
    pole = Pole(f"pole-{unique}", lamps=0, heartbeat_s=7200, zone_area_m2=200.0)
    settings = hub_settings(
        stack, tmp_path, unique, database_url=sql_url, tick_s=0.2, alert_ack_timeout_s=600.0
    )
    hub = build_hub(settings, clock, [(pole.device, "arena")])
    token = auth.bootstrap_token(hub.sessions, name="olga", role="operator", now=clock.now())
    h = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{settings.api_port}"
    pub = DevicePublisher(port=stack.ports.mqtt, client_id=f"dev-{unique}")
    heard: list[dict[str, Any]] = []
    sent = 0

    async def send(*messages: c.Birth | c.State | c.Data) -> None:
        nonlocal sent
        for m in messages:
            await asyncio.to_thread(pub.send, m)
        sent += len(messages)
        target = sent

        async def seen() -> bool:
            return hub.rules.items_fed >= target

        await wait_for(seen, within=20)

    async def crowd(density: float, seconds: int) -> None:
        for _ in range(seconds // 10):
            await send(pole.crowd_data(clock.now(), density=density))
            clock.advance(10)
            await hub.rules.tick()

    async def listen(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/v1/alerts/stream", headers=h) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    heard.append(json.loads(line[6:]))  # noqa: PERF401 (read as it grows)

    try:
        async with (
            running(hub.run),
            httpx.AsyncClient(base_url=base, timeout=30) as client,
        ):
            await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)

            async def api_up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get("/api/v1/alerts", headers=h)).status_code == 200
                return False

            await wait_for(api_up)
            reader = asyncio.create_task(listen(client))
            assert hub.rules.watch is not None
            bus = hub.rules.watch.bus

            async def subscribed() -> bool:
                return bus.subscribers > 0

            await wait_for(subscribed)
            await send(pole.birth(clock.now()), pole.state(clock.now(), online=True))
            await crowd(0.5, 60)
            # The surge builds up over six minutes (0.4 persons/m² a minute) to LoS F.
            for step in range(36):
                await crowd(0.5 + step * 0.4 / 6, 10)
            await crowd(2.9, 30)

            async def alerts(status: str = "all") -> list[dict[str, Any]]:
                r = await client.get("/api/v1/alerts", params={"status": status}, headers=h)
                return list(r.json())

            [alert] = await alerts()
            assert (alert["kind"], alert["severity"], alert["zone"]) == (
                "crowdLevel",
                "Extreme",
                pole.crowd,
            )
            assert alert["figures"]["levelOfService"] == "F"
            assert alert["status"] == "raised"
            # Raised at E 280 s ago; nobody acknowledges within the 600 s timeout.
            await crowd(2.9, 350)
            [alert] = await alerts()
            assert (alert["status"], alert["escalationLevel"]) == ("escalated", 1)
            await crowd(0.4, 90)
            [alert] = await alerts()
            assert alert["status"] == "resolved"
            assert await alerts("open") == []

            async def heard_all() -> bool:
                return bool(heard) and heard[-1]["status"] == "resolved"

            await wait_for(heard_all, within=10)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        pub.close()
    assert {a["id"] for a in heard} == {alert["id"]}
    assert [a["status"] for a in heard] == ["raised", "raised", "escalated", "resolved"]
    assert [a["severity"] for a in heard][:2] == ["Severe", "Extreme"]
