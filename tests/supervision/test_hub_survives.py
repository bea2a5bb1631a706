"""A real hub (Mosquitto, InfluxDB, PostgreSQL) in which one worker's table refuses every
write with a DataError: the worker fails and is restarted, its siblings go on (a device's
readings are stored), /health stays 200, /ready turns 503 and names the worker, the
``hubDegraded`` self-alarm opens past the grace, and all clears once the table accepts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select, text

from hub import self_alarm
from hub.db import Ticket
from tests.helpers import build_hub, hub_settings, lamp_device, make_agent, running, wait_for
from trygg.clock import ScaledClock
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)
REFUSE = """
CREATE FUNCTION refuse() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22023'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse BEFORE DELETE ON citizen_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION refuse();
"""


async def test_a_worker_refused_by_sql_does_not_stop_the_hub(
    stack: LocalStack, tmp_path: Path, unique: str, postgres_url: str
) -> None:
    clock = ScaledClock(NOW, speed=1.0)
    device = f"pole-{unique}"
    settings = hub_settings(
        stack,
        tmp_path,
        unique,
        database_url=postgres_url,
        tick_s=0.5,
        health_check_s=0.2,
        health_timeout_s=1.0,
        degraded_grace_s=1.0,
        restart_first_s=0.05,
        restart_cap_s=0.2,
    )
    hub = build_hub(settings, clock, [(device, "solna-centrum")])
    with hub.sessions.begin() as s:
        for statement in REFUSE.split(";\n"):
            if statement.strip():
                s.execute(text(statement))
    agent = make_agent(lamp_device(device, port=stack.ports.mqtt, interval_s=0.2), clock, tmp_path)
    base = f"http://127.0.0.1:{settings.api_port}"
    registry: CollectorRegistry = hub.ingest.registry

    def tickets() -> list[tuple[str, str]]:
        with hub.sessions() as s:
            rows = s.scalars(select(Ticket).where(Ticket.kind == self_alarm.KIND)).all()
            return [(t.asset_id or "", t.status) for t in rows]

    async with running(hub.run, agent.run), httpx.AsyncClient(base_url=base) as api:
        readings_before = 0

        async def privacy_failing() -> bool:
            try:
                doc = (await api.get("/ready")).json()
            except httpx.TransportError:  # the API not listening yet
                return False
            parts = {p["name"]: p for p in doc.get("parts", [])}
            part = parts.get("worker:privacy")
            return part is not None and part["state"] == "failing"

        await wait_for(privacy_failing, within=30)
        readings_before = hub.ingest.counters.readings
        ready = await api.get("/ready")
        assert ready.status_code == 503
        privacy = next(p for p in ready.json()["parts"] if p["name"] == "worker:privacy")
        assert privacy["last_error"].startswith("DataError")
        assert "refused by the test" in privacy["last_error"]
        assert (await api.get("/health")).status_code == 200

        async def alarm_open() -> bool:
            return await asyncio.to_thread(tickets) == [("hub", "new")]

        await wait_for(alarm_open, within=20)

        # The siblings went on meanwhile: the device's readings kept being stored.
        async def more_readings() -> bool:
            return hub.ingest.counters.readings > readings_before

        await wait_for(more_readings, within=20)
        failures = registry.get_sample_value(
            "trygg_hub_worker_failures_total", {"worker": "privacy", "error": "DataError"}
        )
        assert failures is not None
        assert failures >= 2
        assert registry.get_sample_value("trygg_hub_degraded") == 1.0

        with hub.sessions.begin() as s:
            s.execute(text("DROP TRIGGER refuse ON citizen_contacts"))

        async def all_ready() -> bool:
            return (await api.get("/ready")).status_code == 200

        await wait_for(all_ready, within=30)

        async def alarm_resolved() -> bool:
            return await asyncio.to_thread(tickets) == [("hub", "resolved")]

        await wait_for(alarm_resolved, within=20)
        assert registry.get_sample_value("trygg_hub_degraded") == 0.0
        # The Open311 face never shows the hub's own ticket.
        listed = (await api.get("/open311/v2/requests.json")).json()
        assert all(r.get("service_code") != self_alarm.KIND for r in listed)
    hub.sessions.kw["bind"].dispose()
