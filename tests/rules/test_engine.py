"""The rule engine against a real database (SQLite and PostgreSQL) with a fake clock:
root-cause suppression, hold-time resolve, reopen, restarts and the offline storm."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import contract_mirror as mirror
from hub import tickets
from hub.db import Alarm, Device, Ticket
from hub.device_state import DeviceStates, DeviceStatus
from hub.rules.engine import RuleEngine
from hub.rules.inputs import Born, LinkChanged, Liveness, RuleInput
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg.clock import FakeClock, to_ms

NIGHT = datetime(2026, 12, 15, 18, 0, tzinfo=UTC)  # dark in Solna


GRACE_S = 120.0


class Rig:
    """An engine with a fake clock over a real database, fed as the ingest feeds it: device
    liveness from its one owner; ``restart`` is a new hub process."""

    def __init__(self, sessions: sessionmaker[Session], *, start: datetime = NIGHT) -> None:
        self.sessions = sessions
        self.clock = FakeClock(start)
        self.liveness = self._liveness([])
        self.engine = self._engine()

    def _liveness(self, persisted: Iterable[DeviceStatus]) -> DeviceStates:
        states = DeviceStates(started_ms=self._now(), grace_s=GRACE_S)
        states.load(persisted)
        return states

    def _engine(self) -> RuleEngine:
        e = RuleEngine(
            sessions=self.sessions, clock=self.clock, resolve_hold_s=300, offline_grace_s=GRACE_S
        )
        e.load()
        return e

    def _now(self) -> int:
        return to_ms(self.clock.now())

    def restart(self) -> None:
        self.liveness = self._liveness(list(self.liveness.devices.values()))
        self.engine = self._engine()

    def register(self, pole: Pole) -> None:
        with self.sessions.begin() as s:
            if s.get(Device, pole.device) is None:
                s.add(
                    Device(
                        id=pole.device,
                        site="solna",
                        heartbeat_s=pole.heartbeat_s,
                        above={"seqs": []},
                    )
                )
        self._ingest_birth(pole)
        self.send(pole.birth(self.clock.now()))

    def _ingest_birth(self, pole: Pole) -> None:
        # What ingest stores before the rules see the birth.
        from hub.db import Asset

        with self.sessions.begin() as s:
            for a in pole.birth(self.clock.now()).assets:
                s.merge(
                    Asset(
                        id=a.id,
                        device_id=pole.device,
                        kind=a.kind.value,
                        lat=a.lat,
                        lon=a.lon,
                        cabinet=a.cabinet,
                        address=a.address,
                        properties=dict(a.properties),
                    )
                )

    def send(self, message: c.Birth | c.State | c.Data | c.Events | LinkChanged) -> None:
        """One stored message (or link change), with the liveness transitions it causes."""
        now, owner = self._now(), self.liveness
        inputs: list[RuleInput] = []
        births, states, seen = [], [], {}
        match message:
            case c.Birth():
                births, inputs = [message], [Born(message)]
            case c.State():
                states = [message]
            case c.Data():
                seen, inputs = {message.device: message.boot}, [mirror.as_data(message)]
            case c.Events():
                seen, inputs = {message.device: message.boot}, [mirror.as_events(message)]
            case LinkChanged():
                owner.link(up=message.up, now_ms=now)
                inputs = [message]
        transitions = owner.observe(births=births, states=states, seen=seen, now_ms=now)
        self.engine.feed_sync([*inputs, *(Liveness(t.status) for t in transitions)])

    def tick(self) -> None:
        transitions = self.liveness.tick(self._now())
        if transitions:
            self.engine.feed_sync([Liveness(t.status) for t in transitions])
        self.engine.tick_sync()

    def every_minute(self, minutes: int, make: Any) -> None:
        for _ in range(minutes):
            self.send(make())
            self.clock.advance(60)
            self.tick()

    def tickets(self) -> list[tuple[str, str | None, str]]:
        with self.sessions() as s:
            return sorted((t.kind, t.asset_id, t.status) for t in s.scalars(select(Ticket)))


def test_cabinet_outage_is_one_ticket_and_hides_the_lamp_alarms(
    sessions: sessionmaker[Session],
) -> None:
    rig, pole = Rig(sessions), Pole("pole-a")
    rig.register(pole)
    rig.every_minute(10, lambda: pole.lamps_data(rig.clock.now(), [False] * 4))
    assert rig.tickets() == [("cabinetOut", pole.cabinet, "new")]
    with sessions() as s:
        lamp_alarms = s.scalars(select(Alarm).where(Alarm.type == "lampOut")).all()
        assert len(lamp_alarms) == 4
        assert {a.suppressed_by for a in lamp_alarms} == {f"cabinetOut:{pole.cabinet}"}
        cab = tickets.list_tickets(s, kind="cabinetOut")[0]
        assert cab.priority == 1
        assert cab.lat is not None
        assert cab.device_id == pole.device
    # Power back on three lamps; lamp 3 stays dark: it is a lamp fault of its own.
    rig.every_minute(5, lambda: pole.lamps_data(rig.clock.now(), [True] * 3 + [False]))
    rig.clock.advance(400)
    rig.tick()
    assert rig.tickets() == [
        ("cabinetOut", pole.cabinet, "resolved"),
        ("lampOut", pole.lamp(3), "new"),
    ]


def test_offline_device_suppresses_its_assets_and_resolves_after_the_hold(
    sessions: sessionmaker[Session],
) -> None:
    rig, pole = Rig(sessions), Pole("pole-b", lamps=1)
    pole.properties = {pole.bin: {"sensorTimeoutS": 600}}
    rig.register(pole)
    rig.every_minute(3, lambda: pole.bin_data(rig.clock.now(), level=0.3))
    rig.send(pole.state(rig.clock.now(), online=False))  # the Last Will
    for _ in range(20):  # 20 silent minutes
        rig.clock.advance(60)
        rig.tick()
    assert rig.tickets() == [("deviceOffline", pole.device, "new")]
    with sessions() as s:
        dead = s.scalars(select(Alarm).where(Alarm.type == "binSensorDead")).one()
        assert dead.suppressed_by == f"deviceOffline:{pole.device}"
    # Back online: the offline ticket resolves after the hold; the bin reports again.
    pole.boot += 1
    rig.send(pole.birth(rig.clock.now()))
    rig.every_minute(10, lambda: pole.bin_data(rig.clock.now(), level=0.3))
    assert rig.tickets() == [("deviceOffline", pole.device, "resolved")]


def test_a_repeat_bumps_a_return_in_the_hold_continues_a_later_one_reopens(
    sessions: sessionmaker[Session],
) -> None:
    rig, pole = Rig(sessions), Pole("pole-c", lamps=1)
    rig.register(pole)

    def covered(active: bool) -> c.Events:
        return pole.event(
            rig.clock.now(), pole.camera, c.AssetKind.CAMERA, "cameraCovered", active=active
        )

    rig.send(covered(True))
    rig.send(covered(True))  # the edge repeats itself: bump, not a second ticket
    rig.clock.advance(60)
    rig.send(covered(False))
    rig.clock.advance(120)  # back within the 300 s hold: same ticket, still open
    rig.send(covered(True))
    rig.clock.advance(60)
    rig.send(covered(False))
    rig.clock.advance(301)
    rig.tick()
    assert rig.tickets() == [("cameraCovered", pole.camera, "resolved")]
    rig.clock.advance(3600)
    rig.send(covered(True))  # an hour later: the same ticket reopens
    with sessions() as s:
        (t,) = tickets.list_tickets(s)
        assert (t.status, t.reopen_count, t.alarm_count) == ("reopened", 1, 4)
        actions = [h.action for h in tickets.history(s, ticket_id=t.id)]
        assert actions == ["open", "bump", "clear", "bump", "clear", "auto_resolve", "reopen"]
        assert len(t.evidence["readings"]) == 4


def test_timers_and_baselines_survive_a_restart(sessions: sessionmaker[Session]) -> None:
    rig, pole = Rig(sessions), Pole("pole-d", lamps=1)
    rig.register(pole)

    def lit() -> c.Data:
        return pole.lamps_data(rig.clock.now(), [True])

    def dark() -> c.Data:
        return pole.lamps_data(rig.clock.now(), [False])

    rig.every_minute(12, lit)  # learns its baseline
    baseline = rig.engine.lamps[pole.lamp(0)].baseline_kw
    rig.send(dark())
    rig.clock.advance(60)
    rig.restart()  # 60 s into the 120 s hold
    assert rig.engine.lamps[pole.lamp(0)].baseline_kw == baseline
    assert rig.tickets() == []
    rig.clock.advance(61)
    rig.tick()  # the persisted timer completes without another reading
    assert rig.tickets() == [("lampOut", pole.lamp(0), "new")]


def test_no_offline_storm_after_the_hub_was_down(sessions: sessionmaker[Session]) -> None:
    rig = Rig(sessions)
    poles = [Pole(f"pole-s{i}", lamps=1) for i in range(5)]
    for p in poles:
        rig.register(p)
    rig.tick()
    rig.clock.advance(2 * 3600)  # the hub was down for two hours
    rig.restart()
    rig.tick()
    rig.clock.advance(60)
    rig.tick()
    assert rig.tickets() == []  # silence only counts from the restart + grace
    for p in poles[:4]:  # four devices come back, one does not
        rig.send(p.bin_data(rig.clock.now(), level=0.2))
    # grace 120 s + heartbeat timeout 2.5 x 60 s + offline hold 120 s = 6.5 min
    for _ in range(7):
        rig.clock.advance(60)
        for p in poles[:4]:
            rig.send(p.bin_data(rig.clock.now(), level=0.2))
        rig.tick()
    assert rig.tickets() == [("deviceOffline", poles[4].device, "new")]


def test_no_offline_ticket_while_the_hubs_broker_link_is_down(
    sessions: sessionmaker[Session],
) -> None:
    rig, pole = Rig(sessions), Pole("pole-l", lamps=1)  # one device: no mass-silence rule
    rig.register(pole)
    rig.send(pole.bin_data(rig.clock.now(), level=0.2))
    rig.send(LinkChanged(up=False))
    for _ in range(30):  # half an hour without a broker: the hub hears nobody
        rig.clock.advance(60)
        rig.tick()
    rig.send(LinkChanged(up=True))
    rig.clock.advance(60)  # the device is still in its reconnect back-off
    rig.tick()
    assert rig.tickets() == []
    # It never comes back: grace 120 s + heartbeat timeout 2.5 x 60 s + offline hold 120 s.
    for _ in range(7):
        rig.clock.advance(60)
        rig.tick()
    assert rig.tickets() == [("deviceOffline", pole.device, "new")]


def test_bin_threshold_from_the_birth_and_fire_priority(sessions: sessionmaker[Session]) -> None:
    rig, pole = Rig(sessions), Pole("pole-e", lamps=1)
    pole.properties = {pole.bin: {"fullnessThreshold": 0.6, "fullMinS": 120}}
    rig.register(pole)
    rig.every_minute(4, lambda: pole.bin_data(rig.clock.now(), level=0.65))
    rig.send(pole.bin_data(rig.clock.now(), level=0.65, temperature=85.0))
    with sessions() as s:
        got = {t.kind: t.priority for t in tickets.list_tickets(s)}
    assert got == {"binFull": 3, "binFire": 1}
