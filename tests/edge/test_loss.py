"""Loss tests on a real broker with TLS and ACLs on: nothing lost, nothing doubled.

- the agent process SIGKILLed at seeded random points (3 rounds, restarted each time);
- the broker SIGKILLed and restarted under a running agent;
- the link cut for one simulated hour (ScaledClock), then the replay.

Each ends with :func:`assert_exactly_once`: the hub's accepted-reading counter and
InfluxDB both equal the readings the device's outbox ever stored (InfluxDB alone would
hide doubles, since it overwrites a point written twice), and duplicates are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.drivers.registry import build_drivers
from tests.edge.loss_check import assert_exactly_once
from tests.edge.secure import lamp_assets, secure_stack
from tests.helpers import build_hub, running, wait_for
from trygg import contract as c
from trygg.clock import ScaledClock, SystemClock
from trygg.mqtt import Connection, MqttSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)
SEED = 20261125
ROOT = Path(__file__).resolve().parents[2]


def _spawn(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edge", "--config", str(config)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def test_agent_sigkilled_at_random_points_loses_and_doubles_nothing(
    tmp_path: Path, unique: str
) -> None:
    device = f"pole-k{unique[:6]}"
    rng = random.Random(SEED)
    with secure_stack(tmp_path, {device: lamp_assets(device, lamps=2, interval_s=0.05)}) as sec:
        state = tmp_path / "agent-state"
        config = sec.write_device_file(device, tmp_path, state_dir=state)
        hub = build_hub(sec.hub(tmp_path, unique), SystemClock(), [(device, "solna-centrum")])
        agent_log = tmp_path / "agent.log"
        async with running(hub.run):
            await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
            for round_ in range(3):
                proc = _spawn(config, agent_log)
                await asyncio.sleep(rng.uniform(1.5, 3.5))  # seeded: same points every run
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 10)
                log.info("round %d: agent SIGKILLed", round_)
            proc = _spawn(config, agent_log)
            await asyncio.sleep(2.0)
            proc.send_signal(signal.SIGTERM)  # a clean stop drains what is in flight
            assert await asyncio.to_thread(proc.wait, 20) == 0, agent_log.read_text()[-2000:]
            figures = await assert_exactly_once(hub, device, state)
        boots = agent_log.read_text().count(" sensor(s)")
        assert boots == 4
        print(f"agent kill -9 x3: {figures}")


async def test_broker_sigkilled_and_restarted_loses_and_doubles_nothing(
    tmp_path: Path, unique: str
) -> None:
    device = f"pole-b{unique[:6]}"
    with secure_stack(tmp_path, {device: lamp_assets(device, lamps=2, interval_s=0.05)}) as sec:
        state = tmp_path / "agent-state"
        config = sec.device_config(device, state_dir=state)
        clock = SystemClock()
        hub = build_hub(sec.hub(tmp_path, unique), clock, [(device, "solna-centrum")])
        agent = Agent(
            config=config, clock=clock, drivers=build_drivers(config.assets), state_dir=state
        )
        async with running(hub.run) as hub_stop:
            await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
            async with running(agent.run):
                await wait_for(lambda: _acked(agent), within=20)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(sec.stack.mosquitto.kill)
                await asyncio.sleep(1.5)
                await asyncio.to_thread(sec.stack.mosquitto.start)
                connects = agent.stats.connects
                await wait_for(lambda: _reconnected(agent, connects), within=30)
                await asyncio.sleep(1.0)
                # The broker lost the hub's queued messages with it (no autosave yet): the
                # agent re-sends from the hub's last acknowledgement until it is caught up.
                mark = agent.outbox.stats().next_seq - 1
                await wait_for(lambda: _caught_up(agent, mark), within=30)
            del hub_stop
            figures = await assert_exactly_once(hub, device, state)
        assert agent.stats.connects >= 2
        print(f"broker kill -9: {figures}")


async def _acked(agent: Agent) -> bool:
    return agent.stats.acked > 0


async def _reconnected(agent: Agent, before: int) -> bool:
    return agent.stats.connects > before and agent.link.connected


class LinkCutter:
    """A TCP proxy between agent and broker whose link can be cut (connections dropped,
    new ones refused) and restored: a mobile link going away, TLS and all."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_w}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self._writers -= {writer, up_w}

    def sever(self) -> None:
        self.cut = True
        for w in list(self._writers):
            w.transport.abort()

    def restore(self) -> None:
        self.cut = False

    async def close(self) -> None:
        self.sever()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_one_hour_link_cut_replays_in_order_marked_historical(
    tmp_path: Path, unique: str
) -> None:
    device = f"pole-l{unique[:6]}"
    speed = 400.0  # one simulated hour in nine seconds
    with secure_stack(tmp_path, {device: lamp_assets(device, lamps=1, interval_s=1.0)}) as sec:
        state = tmp_path / "agent-state"
        proxy = LinkCutter(sec.tls_port)
        port = await proxy.start()
        config = sec.device_config(device, state_dir=state)
        config = config.model_copy(
            update={
                "broker": config.broker.model_copy(update={"port": port}),
                # batches every 10 simulated seconds, as a Pi would (not one per reading)
                "outbox": config.outbox.model_copy(update={"flush_s": 10.0}),
            }
        )
        clock = ScaledClock(datetime(2026, 12, 15, 20, 0, tzinfo=UTC), speed=speed)
        hub = build_hub(sec.hub(tmp_path, unique), clock, [(device, "solna-centrum")])
        agent = Agent(
            config=config, clock=clock, drivers=build_drivers(config.assets), state_dir=state
        )
        seen: list[c.Data] = []
        monitor = MqttSettings(
            host="127.0.0.1",
            port=sec.stack.ports.mqtt,
            client_id=f"mon-{unique}",
            username="trygg-hub",
            password=sec.prov.hub_password(),
        )
        async with running(hub.run), Connection(monitor) as mon:
            await mon.subscribe(c.topic_for(device, c.Kind.DATA))

            async def watch() -> None:
                while True:
                    seen.extend(c.decode(c.Kind.DATA, m.payload) for m in await mon.messages())

            watcher = asyncio.create_task(watch())
            await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
            async with running(agent.run):
                await wait_for(lambda: _acked(agent), within=20)
                proxy.sever()
                cut_at = clock.now()
                await asyncio.sleep(3600 / speed)
                held = agent.outbox.stats()
                assert (clock.now() - cut_at).total_seconds() >= 3600
                assert not agent.link.connected
                proxy.restore()
                restored = time.monotonic()
                await wait_for(
                    lambda: _caught_up(agent, held.next_seq - 1), within=60, interval=0.05
                )
                replay_s = time.monotonic() - restored
            watcher.cancel()
            figures = await assert_exactly_once(hub, device, state)
        await proxy.close()
        historical = [d for d in seen if d.historical]
        assert historical, "messages queued during the cut must be marked historical"
        span_ms = max(r.t for d in historical for r in d.readings) - min(
            r.t for d in historical for r in d.readings
        )
        assert span_ms >= 3_500_000  # about an hour of simulated readings were held
        last: dict[tuple[str, str, str], int] = {}
        for d in sorted({d.seq: d for d in seen}.values(), key=lambda d: d.seq):
            for r in d.readings:
                key = (r.asset, r.sensor, r.field)
                assert r.t > last.get(key, 0), "replay reordered readings"
                last[key] = r.t
        assert replay_s < 60
        print(f"1 h link cut: replay {replay_s:.1f}s, {held.readings} readings held; {figures}")


async def _caught_up(agent: Agent, upto: int) -> bool:
    return agent.link.state.acked >= upto
