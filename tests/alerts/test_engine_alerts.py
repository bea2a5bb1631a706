"""Crowd alerts through the rules engine over a real database (SQLite and PostgreSQL) with a
fake clock: a surge raises exactly one alert, escalates unacknowledged and resolves; event
phases tell the zone's device to report every second; a blind zone; a bin fire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import store
from hub.alerts.events import Bus
from hub.alerts.model import Alert
from hub.alerts.schedule import Event, Phase, Tightening
from hub.alerts.watch import CrowdWatch, WatchConfig
from hub.db import DeviceCommand, Ticket, open_database
from hub.rules.engine import RuleEngine
from tests.rules.scenario import Pole
from tests.rules.test_engine import GRACE_S, Rig
from trygg import contract as c


class AlertRig(Rig):
    """The engine rig with the crowd watch and a bus whose changes the test hears."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.bus = Bus()
        self.heard: list[Alert] = []
        self.bus.subscribe(self.heard.append)
        super().__init__(sessions)

    def _engine(self) -> RuleEngine:
        watch = CrowdWatch(bus=self.bus, config=WatchConfig(ack_timeout_s=120, chain=2))
        e = RuleEngine(
            sessions=self.sessions,
            clock=self.clock,
            resolve_hold_s=300,
            offline_grace_s=GRACE_S,
            watch=watch,
        )
        e.load()
        return e

    def crowd(self, pole: Pole, density: float, *, seconds: int, every_s: int = 5) -> None:
        for _ in range(seconds // every_s):
            self.send(pole.crowd_data(self.clock.now(), density=density))
            self.clock.advance(every_s)
            self.tick()

    def alerts(self) -> list[Alert]:
        with self.sessions() as s:
            return sorted(store.listing(s, open_only=False, since=None), key=lambda a: a.id)


@pytest.fixture
def sessions(sql_url: str) -> Iterator[sessionmaker[Session]]:
    factory = open_database(sql_url)
    yield factory
    factory.kw["bind"].dispose()


def test_surge_raises_one_alert_escalates_and_resolves(sessions: sessionmaker[Session]) -> None:
    rig, pole = AlertRig(sessions), Pole("pole-arena", lamps=0, zone_area_m2=200.0)
    rig.register(pole)
    rig.crowd(pole, 0.5, seconds=60)
    assert rig.alerts() == []
    rig.crowd(pole, 2.6, seconds=60)  # LoS F for a minute: one alert, however many readings
    rising, alert = rig.alerts()
    assert (rising.kind, rising.severity) == ("crowdRising", "Moderate")  # the jump, first
    assert (alert.kind, alert.severity, alert.status, alert.zone) == (
        "crowdLevel",
        "Extreme",
        "raised",
        pole.crowd,
    )
    assert alert.place == "Arenans entré"
    assert alert.figures["levelOfService"] == "F"
    assert alert.figures["peopleCount"] == 520
    rig.crowd(pole, 2.6, seconds=150)  # nobody acknowledges within 120 s
    alert = rig.alerts()[1]
    assert (alert.status, alert.escalation_level) == ("escalated", 1)
    rig.restart()  # the state survives a hub restart: no second alert for the same surge
    rig.crowd(pole, 2.6, seconds=60)
    rig.crowd(pole, 0.4, seconds=90)
    assert [a.kind for a in rig.alerts()] == ["crowdRising", "crowdLevel"]
    alert = rig.alerts()[1]
    assert alert.status == "resolved"
    statuses = [a.status for a in rig.heard if a.id == alert.id]
    assert statuses[0] == "raised"
    assert statuses[-1] == "resolved"
    assert "escalated" in statuses
    with sessions() as s:
        steps = [h.step for h in store.history(s, alert.id)]
    assert steps == ["raise", "escalate", "escalate", "resolve"]  # a chain of two contacts
    assert alert.escalation_level == 2


def test_event_phase_sets_the_crowd_interval_tightens_and_watches_blind_zones(
    sessions: sessionmaker[Session],
) -> None:
    rig, pole = AlertRig(sessions), Pole("pole-gate", lamps=0, zone_area_m2=100.0)
    rig.register(pole)
    now = rig.clock.now()
    egress = Phase(
        "egress", now + timedelta(minutes=1), now + timedelta(minutes=10), Tightening(0.8, 0.5)
    )
    with sessions.begin() as s:
        store.save_event(
            s, Event("Derby", "Strawberry Arena", (pole.crowd,), 50_000, (egress,)), now=now
        )
    rig.crowd(pole, 0.95, seconds=50)  # D, not yet an event: nothing
    assert rig.alerts() == []
    rig.crowd(pole, 0.95, seconds=30)  # egress: 0.95 >= 0.8 x 1.08, within 10 s
    [alert] = rig.alerts()
    assert (alert.kind, alert.event, alert.place) == ("crowdLevel", "Derby", "Strawberry Arena")
    with sessions() as s:
        cmds = [(d.device_id, d.name, d.args) for d in s.scalars(select(DeviceCommand))]
    # fast until the egress ends (9 minutes from now), plus the device's own expiry grace
    assert cmds == [(pole.device, "set_crowd_interval", {"seconds": 1.0, "duration_s": 840})]
    # the camera is covered during the event: the city is blind there
    rig.send(
        pole.event(rig.clock.now(), pole.camera, c.AssetKind.CAMERA, "cameraCovered", active=True)
    )
    rig.crowd(pole, 0.95, seconds=40)
    blind = [a for a in rig.alerts() if a.kind == "zoneBlind"]
    assert [(a.severity, a.status) for a in blind] == [("Severe", "raised")]
    rig.clock.advance(600)  # the event ends: the device's own interval, the blind alert clears
    rig.tick()
    rig.clock.advance(30)
    rig.tick()
    with sessions() as s:
        later = [
            (d.name, d.args) for d in s.scalars(select(DeviceCommand).order_by(DeviceCommand.id))
        ]
    assert later[-1] == ("set_crowd_interval", {"restore": True})
    assert len(later) == 2  # told once per phase and restored once, not at every tick
    assert [a.status for a in rig.alerts() if a.kind == "zoneBlind"] == ["resolved"]


def test_bin_fire_is_an_alert_and_the_ticket_stays(sessions: sessionmaker[Session]) -> None:
    rig, pole = AlertRig(sessions), Pole("pole-bin", lamps=0)
    rig.register(pole)
    rig.send(pole.bin_data(rig.clock.now(), level=0.3, temperature=90.0))
    [alert] = rig.alerts()
    assert (alert.kind, alert.severity, alert.zone) == ("binFire", "Severe", pole.bin)
    assert alert.figures["temperature"] == 90.0
    with sessions() as s:
        assert [t.kind for t in s.scalars(select(Ticket))] == ["binFire"]
