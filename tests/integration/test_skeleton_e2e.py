"""Walking skeleton: simulated lamp -> MQTT -> hub -> InfluxDB -> rule -> ticket -> API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from edge.drivers.base import SimFaults
from hub.auth import bootstrap_token
from tests.helpers import build_hub, hub_settings, lamp_device, make_agent, running, wait_for
from trygg.clock import ScaledClock
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

WINTER_NIGHT = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)  # sun far below -6 deg in Solna


async def test_lamp_out_at_night_becomes_a_ticket(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    clock = ScaledClock(WINTER_NIGHT, speed=1.0)
    device = f"pole-{unique}"
    settings = hub_settings(stack, tmp_path, unique)
    hub = build_hub(settings, clock, [(device, "solna-centrum")])
    faults = SimFaults()
    faults.set(f"{device}-lamp0", "out", active=True)
    config = lamp_device(device, port=stack.ports.mqtt)
    # Per-asset threshold (sent in the birth): judge "out" at once, not after the default
    # two minutes, so the skeleton sees its ticket within seconds.
    config = config.model_copy(
        update={
            "assets": [
                a.model_copy(update={"properties": {**a.properties, "lampOutMinS": 0}})
                for a in config.assets
            ]
        }
    )
    agent = make_agent(config, clock, tmp_path, faults)

    async with running(hub.run, agent.run):
        influx = hub.influx
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)

        async def stored() -> bool:
            n = await influx.count(
                f'SELECT count("powerState") FROM "raw"."streetlight" WHERE device=\'{device}\''
            )
            return n >= 1

        await wait_for(stored)
        rows = (
            await influx.query(
                f'SELECT "powerState", "activePower" FROM "raw"."streetlight" '
                f"WHERE device='{device}'"
            )
        )[0]["series"][0]
        assert rows["values"][0][1] == "off"
        assert rows["values"][0][2] == 0.0

        url = f"http://127.0.0.1:{settings.api_port}/api/v1/tickets"
        token = bootstrap_token(hub.sessions, name="ops", role="operator", now=clock.now())
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:

            async def ticketed() -> bool:
                resp = await client.get(url)
                return resp.status_code == 200 and len(resp.json()) > 0

            await wait_for(ticketed)
            tickets = (await client.get(url)).json()
        assert len(tickets) == 1
        assert tickets[0]["kind"] == "lampOut"
        assert tickets[0]["asset_id"] == f"{device}-lamp0"
        assert tickets[0]["status"] == "new"
        # The reading was acknowledged end to end, so the device's outbox empties.
        await wait_for(lambda: _empty(agent))


async def _empty(agent: object) -> bool:
    from edge.agent import Agent

    assert isinstance(agent, Agent)
    return agent.outbox.stats().depth == 0 and agent.stats.acked > 0
