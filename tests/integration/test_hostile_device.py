"""A hostile or broken pole, through the real broker, hub, InfluxDB and SQL database.

The device publishes only on its own topics (the broker ACL allows that much) but sends
NUL-bearing births, readings and command results, and speaks for another pole's assets,
mixed into a valid stream. The hub stays up, stores every valid reading, dead-letters the
rest with their reasons, and no ticket, alarm or asset of the other pole changes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub import commands, tickets
from hub.app import Hub
from hub.db import Asset, DeadLetter, DeviceCommand
from tests.helpers import build_hub, hub_settings, running, wait_for
from tests.rules.scenario import Pole
from trygg import contract as c
from trygg.clock import FakeClock, to_ms
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

NIGHT = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)


def _json(msg: c.Birth | c.Data | c.Events | c.CommandResult, **patch: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(c.encode(msg))
    doc.update(patch)
    return doc


def _raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()  # ensure_ascii: a NUL travels as the escape \u0000


def _tickets(hub: Hub) -> list[tuple[str, str | None, str]]:
    with hub.sessions() as s:
        return sorted((t.kind, t.asset_id, t.status) for t in tickets.list_tickets(s, limit=100))


async def test_hostile_pole_changes_nothing_and_the_hub_stays_up(
    stack: LocalStack, tmp_path: Path, unique: str, sql_url: str
) -> None:
    url = sql_url
    clock = FakeClock(NIGHT)
    victim, attacker = Pole(f"victim-{unique}", lamps=1), Pole(f"attacker-{unique}", lamps=1)
    settings = hub_settings(stack, tmp_path, unique, database_url=url, tick_s=0.2)
    hub = build_hub(
        settings, clock, [(victim.device, "solna-centrum"), (attacker.device, "solna-centrum")]
    )
    now = clock.now()
    topic = c.topic_for
    a = attacker.device
    with hub.sessions.begin() as s:  # a command the victim has not answered yet
        pending = commands.queue(s, device=victim.device, name="lamp_test", args={}, now=now)
        pending_id = pending.command_id
        own_id = commands.queue(s, device=a, name="lamp_test", args={}, now=now).command_id

    def cmdres(**patch: Any) -> bytes:
        result = c.CommandResult(device=a, id=pending_id, ok=True, message="done", ts=to_ms(now))
        return _raw(_json(result, **patch))

    def foreign_birth() -> bytes:
        doc = _json(attacker.birth(now))
        cam = _json(victim.birth(now))["assets"][-1]  # the victim's camera
        doc["assets"].append({**cam, "address": "Attacker Road 1", "lat": 59.0})
        return _raw(doc)

    def crowded_birth() -> bytes:
        doc = _json(attacker.birth(now))
        extra = [{**doc["assets"][0], "id": f"{a}-x{i}", "cabinet": None} for i in range(70)]
        doc["assets"] += extra
        return _raw(doc)

    nul_birth = _json(attacker.birth(now))
    nul_birth["assets"][0]["address"] = "Solnav\u0000gen 1"
    nul_data = _json(attacker.lamps_data(now, [True]))
    nul_data["readings"][0]["v"] = "o\u0000n"
    odd_key = {**_json(attacker.lamps_data(now, [True])), "x\u0000y": 1}
    fire = attacker.event(now, victim.bin, c.AssetKind.BIN, "temperatureJump", active=True)
    uncover = attacker.event(now, victim.camera, c.AssetKind.CAMERA, "cameraCovered", active=False)
    hot = victim.bin_data(now, level=0.1, temperature=95.0)
    hot_from_attacker = _json(hot, device=a, seq=attacker.seq + 100)
    bad: list[tuple[str, bytes, str]] = [
        (topic(a, c.Kind.BIRTH), _raw(nul_birth), "schema"),
        (topic(a, c.Kind.DATA), _raw(nul_data), "schema"),
        (topic(a, c.Kind.DATA), _raw(odd_key), "schema"),
        (topic(a, c.Kind.CMD_RESULT), cmdres(message="oops\u0000"), "schema"),
        (topic(a, c.Kind.CMD_RESULT), cmdres(id="c\u0000"), "schema"),
        # Answering the victim's command in the victim's name, on the attacker's topic.
        (topic(a, c.Kind.CMD_RESULT), cmdres(device=victim.device), "device_mismatch"),
        (topic(a, c.Kind.EVENT), c.encode(fire), "foreign_asset"),
        (topic(a, c.Kind.EVENT), c.encode(uncover), "foreign_asset"),
        (topic(a, c.Kind.DATA), _raw(hot_from_attacker), "foreign_asset"),
        (topic(a, c.Kind.BIRTH), foreign_birth(), "foreign_asset"),
        (topic(a, c.Kind.BIRTH), crowded_birth(), "too_many_assets"),
    ]
    mqtt = MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"pub-{unique}")
    async with running(hub.run):
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
        async with Connection(mqtt) as pub:
            for m, kind in (
                (victim.birth(now), c.Kind.BIRTH),
                (attacker.birth(now), c.Kind.BIRTH),
                (
                    victim.event(
                        now, victim.camera, c.AssetKind.CAMERA, "cameraCovered", active=True
                    ),
                    c.Kind.EVENT,
                ),
            ):
                await pub.publish(topic(m.device, kind), c.encode(m))

            async def covered() -> bool:
                return ("cameraCovered", victim.camera, "new") in _tickets(hub)

            await wait_for(covered)
            before = _tickets(hub)
            good = 0
            for i, (t, payload, _) in enumerate(bad):
                await pub.publish(t, payload)
                later = now + timedelta(seconds=i + 1)  # a point of its own in InfluxDB
                await pub.publish(
                    topic(a, c.Kind.DATA), c.encode(attacker.lamps_data(later, [True]))
                )
                good += 1
            # Last, the attacker answers its own command: once that is recorded, the
            # command sender has seen every result before it.
            await pub.publish(topic(a, c.Kind.CMD_RESULT), cmdres(id=own_id))

        async def all_in() -> bool:
            dead = sum(hub.ingest.counters.dead.values())
            return dead >= len(bad) and hub.ingest.counters.readings >= 3 * good

        async def own_answered() -> bool:
            with hub.sessions() as s:
                row = s.scalars(select(DeviceCommand).where(DeviceCommand.command_id == own_id))
                return row.one().done_at is not None

        await wait_for(all_in)
        await wait_for(own_answered)
        stored = await hub.influx.count(
            f'SELECT count("activePower") FROM "raw"."streetlight" WHERE device=\'{a}\''
        )
        foreign = await hub.influx.count(
            f'SELECT count("temperature") FROM "raw"."bin" WHERE device=\'{a}\''
        )
        await hub.rules.tick()
        after = _tickets(hub)
        assert hub.ingest.connected.is_set()  # still consuming
    assert stored == good
    assert foreign == 0
    assert after == before  # no binFire, the covered camera still open
    assert ("binFire", victim.bin, "new") not in after
    reasons: dict[str, int] = {}
    for _, _, reason in bad:
        reasons[reason] = reasons.get(reason, 0) + 1
    assert dict(hub.ingest.counters.dead) == reasons
    with hub.sessions() as s:
        rows = s.scalars(select(DeadLetter).where(DeadLetter.device_id == a)).all()
        cam = s.get(Asset, victim.camera)
        extra = s.scalars(select(Asset).where(Asset.id.like(f"{a}-x%"))).all()
        victims = s.scalars(select(DeviceCommand).where(DeviceCommand.device_id == victim.device))
        answered = [cmd.command_id for cmd in victims if cmd.done_at is not None]
    hub.sessions.kw["bind"].dispose()  # the hub disposed of its pool; these were opened since
    assert sorted(r.reason for r in rows) == sorted(r for _, _, r in bad)
    assert all("\x00" not in r.detail for r in rows)
    assert any("\\u0000" in r.detail for r in rows)  # the NUL key, escaped in the detail
    assert cam is not None
    assert (cam.device_id, cam.address, cam.lat) == (
        victim.device,
        "Solna torg 2",
        59.3606,
    )
    assert extra == []
    assert answered == []
