"""The ingest's HTTP face against a real hub: devices with fused state (Last Will and the
heartbeat tick), dead letters with per-reason counts, and Prometheus self-metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from hub import auth
from tests.helpers import build_hub, hub_settings, running, wait_for
from trygg import contract as c
from trygg.clock import ScaledClock, to_ms
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)


async def test_devices_dead_letters_and_metrics(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    clock = ScaledClock(NOW, speed=1.0)
    alive, dead = f"alive-{unique}", f"dead-{unique}"
    settings = hub_settings(
        stack, tmp_path, unique, tick_s=0.2, offline_grace_s=0.0, heartbeat_timeouts="pole=2"
    )
    hub = build_hub(settings, clock, [(alive, "s"), (dead, "s")])
    with hub.sessions.begin() as s:
        user = auth.create_user(s, name=f"op-{unique}", role="operator", now=clock.now())
        _, token = auth.issue_token(s, user=user, now=clock.now())
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{settings.api_port}"
    ts = to_ms(clock.now())

    def birth(device: str, boot: int) -> bytes:
        return c.encode(
            c.Birth(
                device=device,
                boot=boot,
                ts=ts,
                firmware="fw-9",
                site="s",
                heartbeat_s=60,
                low=1,
                assets=[],
            )
        )

    async with running(hub.run), httpx.AsyncClient(base_url=base, headers=headers) as api:
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
        mqtt = MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"dev-{unique}")
        async with Connection(mqtt) as dev:
            await dev.publish(c.topic_for(alive, c.Kind.BIRTH), birth(alive, 1))
            await dev.publish(c.topic_for(dead, c.Kind.BIRTH), birth(dead, 3))
            # A stale death of boot 2 after the birth of boot 3 changes nothing ...
            stale = c.State(device=dead, boot=2, online=False, ts=ts)
            await dev.publish(c.topic_for(dead, c.Kind.STATE), c.encode(stale))
            await dev.publish(c.topic_for(alive, c.Kind.DATA), b"{garbage")

            async def both_online() -> bool:
                rows = (await api.get("/api/v1/devices")).json()
                return (
                    sum(bool(r["state"] == "online") for r in rows if r["id"] in (alive, dead)) == 2
                )

            await wait_for(both_online)
            # ... the current boot's Last Will does.
            will = c.State(device=dead, boot=3, online=False, ts=ts)
            await dev.publish(c.topic_for(dead, c.Kind.STATE), c.encode(will))

            async def dead_by_will() -> bool:
                row = (await api.get(f"/api/v1/devices/{dead}")).json()
                return bool(row["state"] == "offline" and row["state_reason"] == "will")

            await wait_for(dead_by_will)

            async def silent_alive_times_out() -> bool:  # heartbeat 2 s for class "pole"
                row = (await api.get(f"/api/v1/devices/{alive}")).json()
                return bool(row["state"] == "offline" and row["state_reason"] == "heartbeat")

            await wait_for(silent_alive_times_out, within=15)
        row = (await api.get(f"/api/v1/devices/{alive}")).json()
        assert (row["firmware"], row["boot"], row["device_class"]) == ("fw-9", 1, "pole")
        assert (await api.get("/api/v1/devices/no-such-device")).status_code == 404
        assert (await api.get("/api/v1/devices", headers={"Authorization": ""})).status_code == 401
        letters = (await api.get("/api/v1/deadletters", params={"reason": "malformed"})).json()
        assert [(d["topic"], d["size"]) for d in letters] == [
            (c.topic_for(alive, c.Kind.DATA), len(b"{garbage"))
        ]
        summary = (await api.get("/api/v1/deadletters/summary")).json()
        assert summary["by_reason"] == {"malformed": 1}
        assert summary["by_device"] == {alive: 1}
        metrics = (await api.get("/metrics", headers={"Authorization": ""})).text
    assert 'trygg_ingest_dead_letters_total{reason="malformed"} 1.0' in metrics
    assert "trygg_ingest_connected 1.0" in metrics
    assert "trygg_ingest_devices_offline 2.0" in metrics
