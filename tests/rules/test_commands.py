"""The command outbox on real SQLite and PostgreSQL, and its delivery over a real broker to
a real agent: a person acknowledging a camera tamper ticket releases the latch on the pole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from edge.agent import Agent
from edge.config import load_device_config
from edge.drivers.base import SimFaults
from edge.drivers.registry import build_drivers
from hub import commands, tickets
from hub.command_sender import CommandSender
from hub.db import Asset, Device, DeviceCommand
from hub.rules.alarms import raise_alarm
from sim.drivers.camera import SimCamera
from sim.world import World
from tests.helpers import running, wait_for
from trygg import contract as c
from trygg.clock import ScaledClock, to_ms
from trygg.mqtt import MqttSettings
from trygg.stack import LocalStack

NOW = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)


def _pole(s: Session, device: str) -> None:
    s.add(Device(id=device, site="solna", above={"seqs": []}))
    s.flush()
    for asset, kind in ((f"{device}-cam0", "camera"), (f"{device}-lamp0", "streetlight")):
        s.add(Asset(id=asset, device_id=device, kind=kind, lat=59.37, lon=18.0, properties={}))


def _ticket(sessions: sessionmaker[Session], asset: str, alarm: str) -> int:
    with sessions.begin() as s:
        ticket_id = raise_alarm(
            s, asset_id=asset, alarm_type=alarm, severity="major", now=NOW
        ).ticket_id
    assert ticket_id is not None
    return ticket_id


def _commands(sessions: sessionmaker[Session]) -> list[DeviceCommand]:
    with sessions() as s:
        return list(s.scalars(select(DeviceCommand).order_by(DeviceCommand.id)))


def test_acknowledging_a_tamper_ticket_queues_one_ack_tamper_for_its_pole(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        _pole(s, "pole-1")
    cam = _ticket(sessions, "pole-1-cam0", "cameraDisplaced")
    lamp = _ticket(sessions, "pole-1-lamp0", "lampOut")
    with sessions.begin() as s:
        tickets.acknowledge(s, ticket_id=lamp, actor="anna", now=NOW)  # not a camera: nothing
        tickets.acknowledge(s, ticket_id=cam, actor="anna", now=NOW)
        tickets.start(s, ticket_id=cam, actor="anna", now=NOW)  # still pending: not twice
    queued = _commands(sessions)
    assert [(q.device_id, q.name, q.args) for q in queued] == [
        ("pole-1", "ack_tamper", {"asset": "pole-1-cam0", "type": "cameraDisplaced"})
    ]
    assert queued[0].reason == f"ticket {cam} acknowledged"


def test_due_commands_are_re_sent_until_answered_or_out_of_attempts(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        _pole(s, "pole-2")
        answered = commands.queue(s, device="pole-2", name="ack_tamper", args={}, now=NOW)
        silent = commands.queue(s, device="pole-2", name="rebirth", args={}, now=NOW)
    retry = timedelta(minutes=5)
    with sessions.begin() as s:
        assert len(commands.due(s, now=NOW, retry=retry)) == 2
        assert commands.due(s, now=NOW + timedelta(minutes=1), retry=retry) == []
        result = c.CommandResult(device="pole-2", id=answered.command_id, ok=True, ts=to_ms(NOW))
        # Another device cannot answer pole-2's command, whatever its payload says.
        assert commands.record_result(s, result, device="pole-3", now=NOW) is False
        assert commands.record_result(s, result, device="pole-2", now=NOW) is True
        assert commands.record_result(s, result, device="pole-2", now=NOW) is False  # answered
    t = NOW
    for _ in range(commands.MAX_ATTEMPTS):
        t += retry
        with sessions.begin() as s:
            due = commands.due(s, now=t, retry=retry)
        assert [d.command_id for d in due] in ([silent.command_id], [])
    rows = {q.command_id: q for q in _commands(sessions)}
    assert rows[answered.command_id].ok is True
    gave_up = rows[silent.command_id]
    assert (gave_up.ok, gave_up.attempts) == (False, commands.MAX_ATTEMPTS)
    assert "no answer" in gave_up.message


POLE = """\
id: {device}
site: solna-centrum
heartbeat_s: 60
state_dir: {state}
broker: {{port: {port}, reconnect_min_s: 0.2, reconnect_max_s: 1.0}}
outbox: {{flush_s: 0.2, synchronous: NORMAL}}
assets:
  - id: {device}-lamp0
    kind: streetlight
    lat: 59.36
    lon: 18.0
    sensors:
      - {{type: sim_relay, id: relay, interval_s: 1}}
"""


@pytest.mark.integration
async def test_the_sender_delivers_to_a_real_agent_and_survives_a_broker_restart(
    sessions: sessionmaker[Session], private_stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    """The hub's command reaches the pole's camera (the simulator's, fed to the real
    camera-health state machine) and the answer comes back, also after the broker was
    restarted under both."""
    stack = private_stack
    device = f"pole-k{unique[:6]}"
    path = tmp_path / "pole.yaml"
    path.write_text(POLE.format(device=device, state=tmp_path / "state", port=stack.ports.mqtt))
    config = load_device_config(path)
    faults = SimFaults()
    agent = Agent(
        config=config,
        clock=ScaledClock(NOW, speed=1.0),
        drivers=[
            *build_drivers(config.assets, faults),
            SimCamera(
                asset=f"{device}-cam0",
                lat=59.36,
                lon=18.0,
                wall_area_m2=12.0,
                world=World(seed=1),
                faults=faults,
                interval_s=1.0,
            ),
        ],
        state_dir=tmp_path / "state",
        faults=faults,
    )
    with sessions.begin() as s:
        _pole(s, device)
    ticket = _ticket(sessions, f"{device}-cam0", "cameraCovered")
    with sessions.begin() as s:
        tickets.resolve(s, ticket_id=ticket, actor="anna", now=NOW)
    sender = CommandSender(
        sessions=sessions,
        clock=ScaledClock(NOW, speed=1.0),
        mqtt=MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"hub-{unique}"),
        every_s=0.1,
        retry_s=2.0,  # a command sent while the pole is still reconnecting is sent again
    )

    async def answered() -> bool:
        return all(q.done_at is not None for q in _commands(sessions))

    async with running(agent.run, sender.run):
        await wait_for(answered, within=20)
        await asyncio.to_thread(stack.mosquitto.stop)
        await asyncio.to_thread(stack.mosquitto.start)
        with sessions.begin() as s:
            commands.queue(s, device=device, name="outbox_status", args={}, now=NOW)
        await wait_for(answered, within=30)
    tamper, status = _commands(sessions)
    assert (tamper.device_id, tamper.name, tamper.ok) == (device, "ack_tamper", True)
    assert "acknowledged on 1 camera(s)" in tamper.message
    assert (status.name, status.ok) == ("outbox_status", True)
    assert sender.answered == 2
