"""End to end: faults published over real MQTT through the real hub (ingest, rules, ticket
store, InfluxDB export) give exactly the expected tickets; cleared faults resolve them;
a repeat reopens — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub import tickets
from hub.app import Hub
from hub.db import TicketHistory
from tests.helpers import build_hub, hub_settings, running, wait_for
from tests.rules.mqtt_pub import DevicePublisher
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg.clock import FakeClock
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NIGHT = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)


class Driver:
    """Publishes one scenario step per simulated minute and waits until the rules saw it."""

    def __init__(self, hub: Hub, pub: DevicePublisher, clock: FakeClock, pole: Pole) -> None:
        self.hub, self.pub, self.clock, self.pole = hub, pub, clock, pole
        self.sent = 0

    async def send(self, *messages: c.Birth | c.State | c.Data | c.Events) -> None:
        for m in messages:
            await asyncio.to_thread(self.pub.send, m)
        self.sent += len(messages)
        target = self.sent

        async def seen() -> bool:
            return self.hub.rules.items_fed >= target

        await wait_for(seen, within=20)

    async def minutes(self, n: int, *, lamps: list[bool], level: float) -> None:
        for _ in range(n):
            now = self.clock.now()
            await self.send(self.pole.lamps_data(now, lamps), self.pole.bin_data(now, level=level))
            self.clock.advance(60)

    async def tick(self) -> None:
        await self.hub.rules.tick()

    def tickets(self) -> list[tuple[int, str, str | None, str]]:
        with self.hub.sessions() as s:
            rows = tickets.list_tickets(s, limit=1000)
            return sorted((t.id, t.kind, t.asset_id, t.status) for t in rows)


async def test_faults_become_exactly_the_expected_tickets(
    stack: LocalStack, tmp_path: Path, unique: str, sql_url: str
) -> None:
    url = sql_url
    clock = FakeClock(NIGHT)
    # The test jumps the clock by an hour without messages: a device whose heartbeat is
    # two hours is not offline meanwhile (the offline rule has its own tests).
    pole = Pole(f"pole-{unique}", heartbeat_s=7200)
    settings = hub_settings(stack, tmp_path, unique, database_url=url, tick_s=0.2)
    hub = build_hub(settings, clock, [(pole.device, "solna-centrum")])
    pub = DevicePublisher(port=stack.ports.mqtt, client_id=f"dev-{unique}")
    try:
        async with running(hub.run):
            await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
            d = Driver(hub, pub, clock, pole)
            await d.send(pole.birth(clock.now()), pole.state(clock.now(), online=True))
            # Faults: lamp 0 dark at night, the bin full, the camera covered.
            cam = (pole.camera, c.AssetKind.CAMERA, "cameraCovered")
            await d.send(pole.event(clock.now(), *cam, active=True))
            await d.minutes(12, lamps=[False, True, True, True], level=0.92)
            await d.send(pole.event(clock.now(), *cam, active=True))  # a repeat: bump only
            opened = d.tickets()
            assert sorted((k, a, s) for _, k, a, s in opened) == [
                ("binFull", pole.bin, "new"),
                ("cameraCovered", pole.camera, "new"),
                ("lampOut", pole.lamp(0), "new"),
            ]
            # Cleared: lamp repaired, bin emptied, camera uncovered; resolved after the hold.
            await d.send(pole.event(clock.now(), *cam, active=False))
            await d.minutes(5, lamps=[True] * 4, level=0.05)
            assert {s for *_, s in d.tickets()} == {"new"}  # held, not yet resolved
            clock.advance(601)
            await d.tick()
            assert {s for *_, s in d.tickets()} == {"resolved"}
            # The lamp fails again an hour later: the same ticket reopens.
            clock.advance(3600)
            await d.minutes(4, lamps=[False, True, True, True], level=0.1)
            final = d.tickets()
            assert [i for i, *_ in final] == [i for i, *_ in opened]
            lamp = [t for t in final if t[1] == "lampOut"]
            assert lamp[0][3] == "reopened"

            # Every ticket change reached InfluxDB as an event; gauges are written there too.
            with hub.sessions() as s:
                changes = int(s.scalar(select(func.count()).select_from(TicketHistory)) or 0)
            assert hub.gauges is not None
            await hub.gauges.export_events()
            await hub.gauges.write_gauges()
            events = await hub.influx.count('SELECT count("ticket") FROM "ticket_event"')
            assert events == changes
            open_now = await hub.influx.count('SELECT last("count") FROM "tickets_open_total"')
            assert open_now == 1
    finally:
        pub.close()
