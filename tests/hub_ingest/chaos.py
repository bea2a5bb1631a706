"""Chaos rounds: real edge agents stream known readings through a real hub process while
one service is SIGKILLed at a seeded random point; then InfluxDB and the hub's own counters
are checked against what was published.

InfluxDB overwrites a point written twice, so its count cannot see a duplicate; the hub's
counters can (readings accepted must equal readings published). :func:`problems` is the
check; a control round with de-duplication off must produce problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from edge.agent import Agent
from edge.config import BrokerConfig, DeviceConfig, OutboxConfig
from hub.db import Counter, open_database
from hub.devices import register
from trygg import contract as c
from trygg.clock import SystemClock
from trygg.stack import LocalStack, free_port

T0 = 1_790_000_000_000
SITE = "chaos"
FIELD = "rssi"  # an integer field, so the checksum is exact


def value(device_index: int, seq: int, i: int) -> int:
    return -((device_index * 7919 + seq * 131 + i * 17) % 90) - 30


@dataclass
class HubProcess:
    """``python -m trygg.cli hub`` as a real child process, TRYGG_* environment."""

    env: dict[str, str]
    api_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "trygg.cli", "hub"],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def connected(self, within: float = 30.0) -> None:
        url = f"http://127.0.0.1:{self.api_port}/metrics"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with httpx.AsyncClient(timeout=1.0) as client:
            while loop.time() < deadline:
                assert self.process is not None, "not started"
                assert self.process.poll() is None, self.tail()
                with contextlib.suppress(httpx.HTTPError):
                    resp = await client.get(url)
                    if "trygg_ingest_connected 1.0" in resp.text:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"hub did not connect within {within}s:\n{self.tail()}")

    async def metric(self, name: str) -> float | None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            try:
                text = (await client.get(f"http://127.0.0.1:{self.api_port}/metrics")).text
            except httpx.HTTPError:
                return None
        for line in text.splitlines():
            if line.startswith(f"trygg_ingest_{name} "):
                return float(line.split()[1])
        return None

    async def settled(self, within: float = 60.0) -> None:
        """Nothing left in the spool or un-acknowledged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if await self.metric("spool_batches") == 0 and await self.metric("queue_depth") == 0:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"hub did not settle within {within}s:\n{self.tail()}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@dataclass
class Round:
    stack: LocalStack
    tmp: Path
    name: str
    dedup: bool = True
    devices: int = 6
    messages: int = 60  # per device
    readings: int = 5
    spool_max_bytes: int = 64 * 1024 * 1024
    influx_auth: tuple[str, str] | None = None  # for reading InfluxDB back
    db_url: str = ""  # the hub's SQL database; a SQLite file of the round's own if empty
    env: dict[str, str] = field(default_factory=dict)  # more TRYGG_* settings for the hub
    hub: HubProcess = field(init=False)
    agents: list[Agent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.db_url = self.db_url or f"sqlite:///{self.tmp}/hub-{self.name}.sqlite"
        self.influx_db = f"chaos_{self.name}"
        self.device_ids = [f"chaos-{self.name}-{i}" for i in range(self.devices)]
        sessions = open_database(self.db_url)
        register(sessions, [(d, SITE) for d in self.device_ids])
        sessions.kw["bind"].dispose()
        api_port = free_port()
        env = {
            "TRYGG_MQTT_PORT": str(self.stack.ports.mqtt),
            "TRYGG_INFLUX_URL": self.stack.influx_url,
            "TRYGG_INFLUX_DB": self.influx_db,
            "TRYGG_DATABASE_URL": self.db_url,
            "TRYGG_API_PORT": str(api_port),
            "TRYGG_CLIENT_ID": f"hub-{self.name}",
            "TRYGG_SHARE_GROUP": f"g-{self.name}",
            "TRYGG_SPOOL_DIR": str(self.tmp / f"spool-{self.name}"),
            "TRYGG_SPOOL_MAX_BYTES": str(self.spool_max_bytes),
            "TRYGG_DEDUP": "1" if self.dedup else "0",
            "TRYGG_BATCH_MAX_DELAY_S": "0.05",
            **self.env,
        }
        self.hub = HubProcess(env, api_port, self.tmp / f"hub-{self.name}.log")

    @property
    def published_readings(self) -> int:
        return self.devices * self.messages * self.readings

    @property
    def checksum(self) -> int:
        return sum(
            value(d, s, i)
            for d in range(self.devices)
            for s in range(1, self.messages + 1)
            for i in range(self.readings)
        )

    def _agent(self, device: str) -> Agent:
        config = DeviceConfig(
            id=device,
            site=SITE,
            heartbeat_s=60,
            broker=BrokerConfig(
                port=self.stack.ports.mqtt, reconnect_min_s=0.2, reconnect_max_s=1.0
            ),
            outbox=OutboxConfig(flush_s=0.2, ack_timeout_s=0.8, window=40, capacity=10_000),
        )
        return Agent(config=config, clock=SystemClock(), drivers=[], state_dir=self.tmp / device)

    async def _produce(self, stop: asyncio.Event, pace_s: float) -> None:
        """Append each device's messages to its real outbox, paced, in seq order."""
        for _ in range(1000):  # agents assign their boot as they start
            if all(a.boot for a in self.agents):
                break
            await asyncio.sleep(0.01)
        for seq in range(1, self.messages + 1):
            for d, agent in enumerate(self.agents):
                data = self._data(d, agent, seq)
                await asyncio.to_thread(agent.outbox.append, c.Kind.DATA.value, data, created_ms=T0)
            await asyncio.sleep(pace_s)
            if stop.is_set():
                return

    def _data(self, d: int, agent: Agent, seq: int) -> Callable[[int], bytes]:
        def build(assigned: int) -> bytes:
            assert assigned == seq, (assigned, seq)
            readings = [
                c.Reading(
                    asset=f"{agent.config.id}-pi",
                    kind=c.AssetKind.DEVICE,
                    sensor="modem",
                    field=FIELD,
                    t=T0 + seq * 10 + i,
                    v=value(d, seq, i),
                )
                for i in range(self.readings)
            ]
            return c.encode(
                c.Data(
                    device=agent.config.id, site=SITE, boot=agent.boot, seq=seq, readings=readings
                )
            )

        return build

    async def run(
        self,
        disrupt: Callable[[random.Random], Awaitable[None]],
        seed: int,
        *,
        stream_s: float = 4.0,
    ) -> None:
        """Stream for about ``stream_s``; disrupt at a seeded random point; drain."""
        rng = random.Random(seed)
        self.hub.start()
        await self.hub.connected()
        self.agents = [self._agent(d) for d in self.device_ids]
        stop = asyncio.Event()
        pace = stream_s / self.messages
        async with asyncio.TaskGroup() as tg:
            for agent in self.agents:
                tg.create_task(agent.run(stop))
            tg.create_task(self._produce(stop, pace))
            await asyncio.sleep(rng.uniform(0.2, 0.7) * stream_s)
            await disrupt(rng)
            try:
                await self._drained(within=60.0)
                await self.hub.settled()
            finally:
                stop.set()
        self.hub.stop()

    async def _drained(self, *, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        want = self.messages
        while loop.time() < deadline:
            stats = [await asyncio.to_thread(a.outbox.stats) for a in self.agents]
            if all(s.depth == 0 and s.next_seq == want + 1 for s in stats):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"outboxes not drained within {within}s:\n{self.hub.tail()}")

    async def figures(self) -> dict[str, int]:
        q = f'SELECT count("{FIELD}"), sum("{FIELD}") FROM "raw"."device" WHERE site=\'{SITE}\''
        async with httpx.AsyncClient(
            base_url=self.stack.influx_url, timeout=30, auth=self.influx_auth
        ) as client:
            resp = await client.get("/query", params={"db": self.influx_db, "q": q})
        series = resp.json()["results"][0].get("series")
        count, total = (series[0]["values"][0][1:3]) if series else (0, 0)
        sessions = open_database(self.db_url)
        with sessions() as s:
            counters = {row.name: row.value for row in s.scalars(select(Counter))}
        sessions.kw["bind"].dispose()
        return {
            "published": self.published_readings,
            "checksum": self.checksum,
            "influx_count": int(count),
            "influx_sum": int(total),
            "hub_readings": counters.get("readings", 0),
            "hub_duplicates": counters.get("duplicates", 0),
            "hub_duplicate_readings": counters.get("duplicate_readings", 0),
        }


def problems(figures: dict[str, int]) -> list[str]:
    """Empty when every reading is stored exactly once as far as both InfluxDB and the
    hub's counters can tell."""
    out = []
    if figures["influx_count"] != figures["published"]:
        out.append(f"InfluxDB holds {figures['influx_count']} of {figures['published']}")
    if figures["influx_sum"] != figures["checksum"]:
        out.append(f"checksum {figures['influx_sum']} != {figures['checksum']}")
    if figures["hub_readings"] != figures["published"]:
        out.append(f"hub accepted {figures['hub_readings']} of {figures['published']}")
    return out
