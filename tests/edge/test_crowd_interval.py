"""``set_crowd_interval``: bounded, applied to crowd sensors only, restored on time or on
request; an agent on a real broker then reports its crowd figures at least once a second."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.agent import Agent
from edge.commands import (
    CROWD_DURATION_DEFAULT_S,
    CommandError,
    crowd_interval_args,
)
from edge.config import DeviceConfig
from edge.drivers.base import Sample
from tests.edge.test_agent import HubSide, _hub_side
from tests.helpers import running, wait_for
from trygg import contract as c
from trygg.clock import FakeClock, ScaledClock, to_ms
from trygg.contract import AssetKind
from trygg.stack import LocalStack

NOW = datetime(2026, 12, 11, 16, 0, tzinfo=UTC)


class Zone:
    """A crowd zone that counts its reads (numbers only, like a pole's)."""

    kind = AssetKind.CROWD

    def __init__(self, asset: str, interval_s: float = 60.0) -> None:
        self.asset, self.sensor, self.interval_s = asset, "people", interval_s
        self.reads = 0

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read(self, now: datetime) -> Sample:
        self.reads += 1
        return Sample({"peopleCount": self.reads, "peopleDensity": 0.1})


class Bin:
    kind = AssetKind.BIN

    def __init__(self) -> None:
        self.asset, self.sensor, self.interval_s = "b1", "temp", 60.0

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read(self, now: datetime) -> Sample:
        return Sample({"temperature": 5.0})


@pytest.mark.parametrize(
    ("args", "want"),
    [
        ({"seconds": 1}, (1.0, CROWD_DURATION_DEFAULT_S)),
        ({"seconds": 0.2, "duration_s": 60}, (0.2, 60.0)),
        ({"seconds": 3600, "duration_s": 86400}, (3600.0, 86400.0)),
        ({"restore": True}, (None, 0.0)),
    ],
)
def test_good_arguments(args: dict[str, Any], want: tuple[float | None, float]) -> None:
    assert crowd_interval_args(args) == want


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({}, "required"),
        ({"seconds": 0.1}, "0.2..3600"),
        ({"seconds": 3601}, "0.2..3600"),
        ({"seconds": True}, "number"),
        ({"seconds": "1"}, "number"),
        ({"seconds": 1, "duration_s": 0.5}, "duration_s"),
        ({"seconds": 1, "duration_s": 86401}, "duration_s"),
        ({"restore": True, "seconds": 1}, "restore takes"),
        ({"restore": "yes"}, "restore must"),
    ],
)
def test_bad_arguments_are_refused(args: dict[str, Any], match: str) -> None:
    with pytest.raises(CommandError, match=match):
        crowd_interval_args(args)


def _boost(agent: Agent) -> float | None:
    return agent.crowd_interval_s


def _cmd(cid: str, **args: object) -> bytes:
    return json.dumps(
        {"v": 1, "id": cid, "name": "set_crowd_interval", "args": args, "ts": to_ms(NOW)}
    ).encode()


async def test_the_command_touches_crowd_sensors_only_and_restores(tmp_path: Path) -> None:
    zones, other = [Zone("z1"), Zone("z2", 30.0)], Bin()
    config = DeviceConfig.model_validate({"id": "pole-z1", "site": "arenastaden"})
    clock = FakeClock(NOW)
    agent = Agent(config=config, clock=clock, drivers=[*zones, other], state_dir=tmp_path)
    result, _ = await agent.commands.handle(_cmd("a", seconds=0.5, duration_s=600))
    assert result.ok, result.message
    assert "2 sensor(s)" in result.message
    assert [z.interval_s for z in zones] == [0.5, 0.5]
    assert other.interval_s == 60.0
    assert _boost(agent) == 0.5
    # a second command moves it again; restoring goes back to each configured interval
    assert (await agent.commands.handle(_cmd("b", seconds=1)))[0].ok
    assert [z.interval_s for z in zones] == [1.0, 1.0]
    bad, _ = await agent.commands.handle(_cmd("c", seconds=0.01))
    assert not bad.ok
    assert [z.interval_s for z in zones] == [1.0, 1.0]  # a refused command changes nothing
    assert (await agent.commands.handle(_cmd("d", restore=True)))[0].ok
    assert [z.interval_s for z in zones] == [60.0, 30.0]
    assert _boost(agent) is None
    agent.outbox.close()


async def test_on_a_fast_clock_the_floor_is_in_wall_seconds(tmp_path: Path) -> None:
    zone = Zone("z1")
    config = DeviceConfig.model_validate({"id": "pole-z3", "site": "arenastaden"})
    clock = ScaledClock(NOW, speed=120.0)
    agent = Agent(config=config, clock=clock, drivers=[zone], state_dir=tmp_path)
    assert (await agent.commands.handle(_cmd("a", seconds=1)))[0].ok
    assert zone.interval_s == pytest.approx(0.2 * 120.0)  # 0.2 wall seconds
    assert (await agent.commands.handle(_cmd("b", seconds=60)))[0].ok
    assert zone.interval_s == 60.0
    agent.outbox.close()


async def test_a_device_without_crowd_sensors_says_so(tmp_path: Path) -> None:
    config = DeviceConfig.model_validate({"id": "pole-z2", "site": "s"})
    agent = Agent(config=config, clock=FakeClock(NOW), drivers=[Bin()], state_dir=tmp_path)
    result, _ = await agent.commands.handle(_cmd("a", seconds=1))
    assert not result.ok
    assert "no crowd sensor" in result.message
    agent.outbox.close()


@pytest.mark.integration
async def test_on_a_real_broker_crowd_figures_arrive_every_second_then_slow_down(
    stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    device = f"pole-z{unique[:6]}"
    zone = Zone(f"{device}-crowd0", 60.0)
    config = DeviceConfig.model_validate(
        {
            "id": device,
            "site": "arenastaden",
            "state_dir": str(tmp_path / "state"),
            "broker": {"port": stack.ports.mqtt, "reconnect_min_s": 0.2},
            "outbox": {"flush_s": 30.0, "synchronous": "NORMAL"},
        }
    )
    agent = Agent(
        config=config, clock=ScaledClock(NOW, speed=1.0), drivers=[zone], state_dir=tmp_path
    )
    conn, hub = await _hub_side(stack, device)
    arrivals: list[float] = []
    loop = asyncio.get_running_loop()

    async def pump() -> None:
        while True:
            for m in await conn.messages():
                hub.got.append(m)
                if not m.topic.endswith("/" + c.Kind.DATA.value):
                    continue
                body = json.loads(m.payload)
                if any(r["field"] == "peopleCount" for r in body["readings"]):
                    arrivals.append(loop.time())
                ack = c.Ack(device=device, seq=body["seq"], ts=to_ms(NOW))
                await conn.publish(c.topic_for(device, c.Kind.ACK), c.encode(ack))

    task = asyncio.create_task(pump())
    try:
        async with running(agent.run):
            await wait_for(lambda: _has_birth(hub), within=15)
            res = await hub.command("set_crowd_interval", "fast", seconds=0.5, duration_s=4)
            assert res["ok"] is True, res
            t0 = loop.time()
            await asyncio.sleep(3.0)
            fast = [t for t in arrivals if t >= t0]
            # sampled every 0.5 s and flushed as often: every second has its figures
            assert len(fast) >= 4, fast
            gaps = [b - a for a, b in zip([t0, *fast], fast, strict=False)]
            assert max(gaps) < 1.0, gaps
            await wait_for(lambda: _restored(zone), within=5)
            settled = len(arrivals)
            await asyncio.sleep(2.0)
            # back at 60 s sampling and 30 s flushes: nothing more in two seconds
            assert len(arrivals) <= settled + 1
    finally:
        task.cancel()
        await conn.__aexit__(None, None, None)


async def _has_birth(hub: HubSide) -> bool:
    return bool(hub.of(c.Kind.BIRTH))


async def _restored(zone: Zone) -> bool:
    return zone.interval_s == 60.0
