"""After an event, every pole returns to its own crowd interval: the commands the hub's
crowd watch queues (real database, SQLite and PostgreSQL, fake clock) are carried out by
real edge agents whose zones are configured at different intervals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from edge.agent import Agent
from edge.config import DeviceConfig
from hub.alerts import store
from hub.alerts.schedule import Event, Phase
from hub.db import DeviceCommand, open_database
from tests.alerts.test_engine_alerts import AlertRig
from tests.edge.test_crowd_interval import Zone
from tests.rules.scenario import Pole
from trygg.clock import FakeClock, to_ms


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    factory = open_database(sql_url)
    yield factory
    factory.kw["bind"].dispose()


class Fleet:
    """Edge agents that carry out the hub's queued commands, each command once."""

    def __init__(self, sessions: sessionmaker[Session], rig: AlertRig, tmp: Path) -> None:
        self.sessions, self.rig, self.done = sessions, rig, 0
        self.agents: dict[str, Agent] = {}
        self.zones: dict[str, Zone] = {}
        self.tmp = tmp

    def add(self, pole: Pole, interval_s: float) -> None:
        zone = Zone(pole.crowd, interval_s)
        config = DeviceConfig.model_validate({"id": pole.device, "site": "arenastaden"})
        self.agents[pole.device] = Agent(
            config=config,
            clock=FakeClock(self.rig.clock.now()),
            drivers=[zone],
            state_dir=self.tmp / pole.device,
        )
        self.zones[pole.device] = zone

    async def deliver(self) -> list[tuple[str, dict[str, object]]]:
        with self.sessions() as s:
            q = select(DeviceCommand).order_by(DeviceCommand.id).offset(self.done)
            cmds = [(d.command_id, d.device_id, d.name, d.args) for d in s.scalars(q)]
        self.done += len(cmds)
        for cid, device, name, args in cmds:
            body = {
                "v": 1,
                "id": cid,
                "name": name,
                "args": args,
                "ts": to_ms(self.rig.clock.now()),
            }
            result, _ = await self.agents[device].commands.handle(json.dumps(body).encode())
            assert result.ok, result.message
        return [(device, args) for _, device, _, args in cmds]

    def intervals(self) -> dict[str, float]:
        return {device: zone.interval_s for device, zone in self.zones.items()}

    def close(self) -> None:
        for agent in self.agents.values():
            agent.outbox.close()


async def test_each_pole_returns_to_its_own_interval_after_the_event(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rig = AlertRig(sessions)
    gate, stand = Pole("pole-gate", lamps=0, zone_area_m2=100.0), Pole("pole-stand", lamps=0)
    stand.zone_area_m2 = 80.0
    fleet = Fleet(sessions, rig, tmp_path)
    for pole, interval in ((gate, 30.0), (stand, 120.0)):
        rig.register(pole)
        fleet.add(pole, interval)
    now = rig.clock.now()
    ingress = Phase("ingress", now + timedelta(minutes=1), now + timedelta(minutes=10))
    match = Phase("event", now + timedelta(minutes=10), now + timedelta(minutes=20))
    with sessions.begin() as s:
        store.save_event(
            s,
            Event("Derby", "Strawberry Arena", (gate.crowd, stand.crowd), 50_000, (ingress, match)),
            now=now,
        )
    try:
        rig.tick()
        assert await fleet.deliver() == []  # no phase yet: nothing to tell
        rig.clock.advance(90)
        rig.tick()
        sent = await fleet.deliver()
        assert sorted(d for d, _ in sent) == ["pole-gate", "pole-stand"]
        assert all(a["seconds"] == 1.0 for _, a in sent)
        assert fleet.intervals() == {"pole-gate": 1.0, "pole-stand": 1.0}
        rig.clock.advance(60)
        rig.tick()
        assert await fleet.deliver() == []  # the same phase: told once
        rig.clock.advance(450)  # the match starts: fast again, until its own end
        rig.tick()
        sent = await fleet.deliver()
        assert [a["duration_s"] for _, a in sent] == [900, 900]  # 10 minutes + 5 of grace
        rig.clock.advance(600)  # the event is over
        rig.tick()
        sent = await fleet.deliver()
        assert sent == [("pole-gate", {"restore": True}), ("pole-stand", {"restore": True})]
        assert fleet.intervals() == {"pole-gate": 30.0, "pole-stand": 120.0}
    finally:
        fleet.close()
