"""One bad message never stops anything: each kind is dead-lettered with its reason."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.db import DeadLetter
from tests.helpers import build_hub, hub_settings, running, wait_for
from trygg import contract as c
from trygg.clock import ScaledClock, to_ms
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration


def _data(device: str, seq: int, *, payload_device: str | None = None) -> bytes:
    reading = c.Reading(
        asset=f"{device}-lamp",
        kind=c.AssetKind.STREETLIGHT,
        sensor="lamp",
        field="activePower",
        t=to_ms(datetime(2026, 12, 15, 12, tzinfo=UTC)) + seq,
        v=0.05,
    )
    return c.encode(
        c.Data(device=payload_device or device, site="solna", boot=1, seq=seq, readings=[reading])
    )


async def test_bad_messages_are_dead_lettered_and_the_stream_goes_on(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    good, other, stranger = f"good-{unique}", f"other-{unique}", f"stranger-{unique}"
    settings = hub_settings(stack, tmp_path, unique)
    hub = build_hub(
        settings,
        ScaledClock(datetime(2026, 12, 15, 12, tzinfo=UTC), 1.0),
        [(good, "solna"), (other, "solna")],
    )
    bad = [
        (c.topic_for(good, c.Kind.DATA), b"{definitely not json", "malformed"),
        (c.topic_for(good, c.Kind.DATA), b"[" + b"1," * 150_000 + b"1]", "oversized"),
        (c.topic_for(good, c.Kind.DATA), b'{"v":1,"device":"x"}', "schema"),
        (c.topic_for(stranger, c.Kind.DATA), _data(stranger, 1), "unknown_device"),
        (c.topic_for(good, c.Kind.DATA), _data(other, 1), "device_mismatch"),
        (
            c.topic_for(good, c.Kind.DATA),
            _data(good, 99, payload_device=None).replace(b'"activePower"', b'"noSuchField"'),
            "schema",
        ),
    ]
    async with running(hub.run):
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
        mqtt = MqttSettings(host="127.0.0.1", port=stack.ports.mqtt, client_id=f"pub-{unique}")
        async with Connection(mqtt) as pub:
            for seq, (topic, payload, _) in enumerate(bad, start=1):
                await pub.publish(topic, payload)
                await pub.publish(c.topic_for(good, c.Kind.DATA), _data(good, seq))

        async def all_in() -> bool:
            return hub.ingest.counters.readings >= len(bad) and sum(
                hub.ingest.counters.dead.values()
            ) >= len(bad)

        await wait_for(all_in)
        n = await hub.influx.count(
            f'SELECT count("activePower") FROM "raw"."streetlight" WHERE device=\'{good}\''
        )
    assert n == len(bad)  # every valid reading stored, in between the bad ones
    expected: dict[str, int] = {}
    for _, _, reason in bad:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(hub.ingest.counters.dead) == expected
    with hub.sessions() as s:
        rows = s.scalars(select(DeadLetter)).all()
    assert sorted(r.reason for r in rows) == sorted(r for _, _, r in bad)
    assert all(r.size > 0 and r.topic.startswith("trygg/v1/dev/") for r in rows)
