"""Chaos: SIGKILL InfluxDB, the hub or the broker mid-stream; 10,000 bad messages mixed in.

Each scenario runs 3 seeded rounds that must lose and double nothing (InfluxDB count and
checksum, and the hub's own counters), then a control round with de-duplication switched
off that must fail the same check — proof that the check can see a duplicate at all.

The InfluxDB outage is 6 s rather than 30 s: what it must exercise is the spool filling
(it is set to 8 KiB here) and the hub then withholding acknowledgements for longer than
the devices' 0.8 s acknowledgement timeout, so devices re-send and duplicates reach the
hub; a longer outage repeats the same retry loop, and the whole suite must stay within a
few minutes on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.db import Counter, DeadLetter, open_database
from tests.hub_ingest.chaos import Round, problems
from trygg import contract as c
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEEDS = (11, 22, 33)
INFLUX_OUTAGE_S = 6.0


async def _rounds(
    stack: LocalStack, tmp: Path, tag: str, disrupt_for: object, **round_args: object
) -> list[dict[str, int]]:
    """3 rounds with de-duplication (must be clean) and 1 control without (must not be)."""
    results = []
    for seed in SEEDS:
        rnd = Round(stack, tmp, f"{tag}{seed}", **round_args)  # type: ignore[arg-type]
        await rnd.run(disrupt_for(rnd), seed)  # type: ignore[operator]
        figures = await rnd.figures()
        assert problems(figures) == [], (seed, figures, rnd.hub.tail())
        assert "Traceback" not in rnd.hub.tail(), rnd.hub.tail()
        results.append(figures)
    control = Round(stack, tmp, f"{tag}ctl", dedup=False, **round_args)  # type: ignore[arg-type]
    await control.run(disrupt_for(control), SEEDS[0])  # type: ignore[operator]
    figures = await control.figures()
    assert problems(figures) != [], ("control run without de-duplication passed", figures)
    assert figures["hub_duplicates"] == 0, figures
    # The duplicates the real rounds dropped are what the control run let through.
    assert sum(f["hub_duplicates"] for f in results) > 0, results
    return results


async def test_influxdb_killed_mid_stream(private_stack: LocalStack, tmp_path: Path) -> None:
    stack = private_stack

    def disrupt_for(_rnd: Round) -> object:
        async def disrupt(rng: random.Random) -> None:
            stack.influx.kill()
            await asyncio.sleep(INFLUX_OUTAGE_S * rng.uniform(0.9, 1.1))
            await asyncio.to_thread(stack.influx.start)

        return disrupt

    await _rounds(stack, tmp_path, "influx", disrupt_for, spool_max_bytes=8 * 1024)


async def test_hub_killed_mid_batch(private_stack: LocalStack, tmp_path: Path) -> None:
    def disrupt_for(rnd: Round) -> object:
        async def disrupt(rng: random.Random) -> None:
            rnd.hub.kill()
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            rnd.hub.start()
            await rnd.hub.connected()

        return disrupt

    await _rounds(private_stack, tmp_path, "hub", disrupt_for)


async def test_broker_killed_mid_stream(private_stack: LocalStack, tmp_path: Path) -> None:
    stack = private_stack

    def disrupt_for(_rnd: Round) -> object:
        async def disrupt(rng: random.Random) -> None:
            stack.mosquitto.kill()
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            await asyncio.to_thread(stack.mosquitto.start)

        return disrupt

    await _rounds(stack, tmp_path, "broker", disrupt_for)


BAD_MIX = {"malformed": 4000, "topic": 3000, "unknown_device": 2900, "oversized": 100}


def _bad_messages(rng: random.Random, device: str) -> list[tuple[str, bytes, str]]:
    topic = c.topic_for(device, c.Kind.DATA)
    out = [
        (topic, b'{"v":1,"device":' + str(i).encode(), "malformed")
        for i in range(BAD_MIX["malformed"])
    ]
    out += [(f"trygg/v1/dev/Bad_Id.{i}/data", b"{}", "topic") for i in range(BAD_MIX["topic"])]
    for i in range(BAD_MIX["unknown_device"]):
        stranger = f"stranger-{i % 50}"
        body = c.encode(
            c.Data(
                device=stranger,
                site="x",
                boot=1,
                seq=i + 1,
                readings=[
                    c.Reading(
                        asset="a",
                        kind=c.AssetKind.DEVICE,
                        sensor="s",
                        field="rssi",
                        t=1_790_000_000_000,
                        v=1,
                    )
                ],
            )
        )
        out.append((c.topic_for(stranger, c.Kind.DATA), body, "unknown_device"))
    out += [(topic, b"[" + b"0," * 140_000 + b"0]", "oversized")] * BAD_MIX["oversized"]
    rng.shuffle(out)
    return out


async def test_ten_thousand_bad_messages_in_a_valid_stream(
    stack: LocalStack, tmp_path: Path
) -> None:
    def disrupt_for(rnd: Round) -> object:
        async def disrupt(rng: random.Random) -> None:
            bad = _bad_messages(rng, rnd.device_ids[0])
            settings = MqttSettings(
                host="127.0.0.1", port=stack.ports.mqtt, client_id=f"bad-{rnd.name}"
            )
            async with Connection(settings) as pub:
                for i in range(0, len(bad), 500):
                    await asyncio.gather(
                        *(pub.publish_nowait(t, p) for t, p, _ in bad[i : i + 500])
                    )
                # A device replaying what it already sent (as after a reconnect): the
                # duplicates the control run must let through.
                agent = rnd.agents[0]
                for seq in range(1, 6):
                    payload = rnd._data(0, agent, seq)(seq)
                    await pub.publish(c.topic_for(agent.config.id, c.Kind.DATA), payload)

        return disrupt

    results = await _rounds(stack, tmp_path, "bad", disrupt_for)
    assert len(results) == len(SEEDS)
    for seed in SEEDS:
        sessions = open_database(f"sqlite:///{tmp_path}/hub-bad{seed}.sqlite")
        with sessions() as s:
            dead = {
                row.name[5:]: row.value
                for row in s.scalars(select(Counter).where(Counter.name.like("dead.%")))
            }
            per_reason = dict(
                s.execute(select(DeadLetter.reason, func.count()).group_by(DeadLetter.reason)).all()
            )
        sessions.kw["bind"].dispose()
        assert dead == BAD_MIX, (seed, dead)
        assert per_reason == BAD_MIX, (seed, per_reason)
