"""Three real hub processes sharing the devices' partitions by leases, and a streaming fleet
of real edge agents, for the chaos tests: faults are injected into the hubs and the broker
while the fleet streams known readings, and afterwards InfluxDB, the hubs' counters, the
leases and the tickets are checked against what was published.

Each round uses devices of its own (ids and sites), so the hubs run once for all rounds.
"""

from __future__ import annotations

import asyncio
import random
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from edge.agent import Agent
from edge.config import BrokerConfig, DeviceConfig, OutboxConfig
from edge.drivers.base import SimFaults
from hub import partitioning as part
from hub import registry, webhooks
from hub.db import Counter, Device, Ticket, open_database
from hub.devices import register
from hub.leases import Leases, LeaseState
from tests.duty.hubs import Receiver
from tests.hub_ingest.chaos import FIELD, T0, HubProcess, value
from trygg import contract as c
from trygg.clock import SystemClock
from trygg.stack import LocalStack, free_port

PARTITIONS = 6
LEASE_TTL_S = 3.0
LEASE_RENEW_S = 0.5
OFFLINE_GRACE_S = 3.0


@dataclass
class Cluster:
    stack: LocalStack
    tmp: Path
    db_url: str
    hubs: list[HubProcess] = field(default_factory=list)
    # Receives the hubs' ticket.opened webhook events (run it with ``receiver.running()``).
    receiver: Receiver = field(default_factory=Receiver)

    def __post_init__(self) -> None:
        self.influx_db = "multihub"
        self.sessions: sessionmaker[Session] = open_database(self.db_url)
        with self.sessions.begin() as s:
            webhooks.subscribe(
                s,
                url=self.receiver.url,
                secret="s" * 32,
                events=["ticket.opened"],
                now=datetime.now(UTC),
            )
        self.leases = Leases(
            sessions=self.sessions, clock=SystemClock(), holder="observer", ttl_s=1.0
        )
        for k in range(3):
            env = {
                "TRYGG_MQTT_PORT": str(self.stack.ports.mqtt),
                "TRYGG_INFLUX_URL": self.stack.influx_url,
                "TRYGG_INFLUX_DB": self.influx_db,
                "TRYGG_DATABASE_URL": self.db_url,
                "TRYGG_API_PORT": str(free_port()),
                "TRYGG_HUB_ID": f"hub-{k}",
                # The hub's own MQTT clients (command sender, certificates) are per hub.
                "TRYGG_CLIENT_ID": f"multihub-{k}",
                "TRYGG_SHARE_GROUP": "multihub",
                "TRYGG_PARTITIONS": str(PARTITIONS),
                "TRYGG_LEASE_TTL_S": str(LEASE_TTL_S),
                "TRYGG_LEASE_RENEW_S": str(LEASE_RENEW_S),
                "TRYGG_OFFLINE_GRACE_S": str(OFFLINE_GRACE_S),
                "TRYGG_TICK_S": "0.5",
                "TRYGG_SPOOL_DIR": str(self.tmp / f"spool-{k}"),
                "TRYGG_BATCH_MAX_DELAY_S": "0.05",
                "TRYGG_MQTT_KEEPALIVE_S": "5",
                "TRYGG_API_WEBHOOK_ALLOW": "127.0.0.1",
            }
            self.hubs.append(HubProcess(env, int(env["TRYGG_API_PORT"]), self.tmp / f"hub-{k}.log"))

    def holder(self, k: int) -> str:
        return self.hubs[k].env["TRYGG_HUB_ID"]

    def partitions(self) -> dict[int, LeaseState]:
        states = {s.name: s for s in self.leases.holders()}
        return {
            p: states[part.lease_name(p)] for p in range(PARTITIONS) if part.lease_name(p) in states
        }

    async def balanced(self, within: float = 40.0, *, hubs: int = 3) -> None:
        """Every partition held, live, by one of ``hubs`` hubs, each holding some."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            held = await asyncio.to_thread(self.partitions)
            holders = {s.holder for s in held.values() if s.live}
            complete = len(held) == PARTITIONS and all(s.live for s in held.values())
            if complete and len(holders) == hubs:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"partitions not balanced: {self.partitions()}\n{self.tails()}")

    async def moved_from(self, k: int, within: float) -> float:
        """Seconds until no live partition is held by hub ``k`` and all are held."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        name = self.holder(k)
        while loop.time() - start < within:
            held = await asyncio.to_thread(self.partitions)
            if all(s.live and s.holder != name for s in held.values()):
                return loop.time() - start
            await asyncio.sleep(0.1)
        raise AssertionError(f"partitions of {name} not taken over: {self.partitions()}")

    def tails(self) -> str:
        return "\n".join(h.tail()[-1500:] for h in self.hubs)

    def counters(self) -> dict[str, int]:
        with self.sessions() as s:
            return {row.name: row.value for row in s.scalars(select(Counter))}

    def online(self, device: str) -> bool:
        """Whether the hubs have stored ``device`` as online (its birth or state heard)."""
        with self.sessions() as s:
            row = s.get(Device, device)
            return row is not None and row.online and row.state_changed is not None

    def tickets(self, devices: list[str]) -> dict[str, int]:
        """Tickets per device: a device's own (its id as the asset; a device without assets
        has no place, so no device_id) or one of its assets'."""
        with self.sessions() as s:
            rows = s.scalars(
                select(Ticket).where(
                    or_(Ticket.asset_id.in_(devices), Ticket.device_id.in_(devices))
                )
            ).all()
        out: dict[str, int] = {}
        for t in rows:
            key = t.asset_id if t.asset_id in devices else t.device_id or ""
            out[key] = out.get(key, 0) + 1
        return out

    def deliveries(self, device: str) -> list[str]:
        """The delivery ids of the ticket.opened events the receiver got for ``device``'s own
        ticket (a device's ticket has the device as its asset; a repeat has the same id)."""
        return [
            str(body["delivery_id"])
            for body in self.receiver.seen()
            if body.get("event") == "ticket.opened" and body["ticket"]["asset_id"] == device
        ]

    def close(self) -> None:
        for h in self.hubs:
            if h.process is not None and h.process.poll() is None:
                h.process.send_signal(signal.SIGCONT)
            h.stop()
        self.sessions.kw["bind"].dispose()


@dataclass
class Wave:
    """One round's fleet: ``devices`` agents streaming ``messages`` messages each, every
    device on a site of its own (so they spread over the partitions), and one more device
    that falls silent at the fault (its one ticket, whichever hub judges it)."""

    cluster: Cluster
    name: str
    devices: int = 8
    messages: int = 40
    readings: int = 5
    agents: list[Agent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.device_ids = [f"mh-{self.name}-{i}" for i in range(self.devices)]
        self.silent = f"mh-{self.name}-silent"
        register(
            self.cluster.sessions,
            [(d, f"site-{d}") for d in [*self.device_ids, self.silent]],
        )
        with self.cluster.sessions.begin() as s:
            registry.bump(s)  # the running hubs reload their registry

    @property
    def published(self) -> int:
        return self.devices * self.messages * self.readings

    @property
    def checksum(self) -> int:
        return sum(
            value(d, s, i)
            for d in range(self.devices)
            for s in range(1, self.messages + 1)
            for i in range(self.readings)
        )

    def _agent(self, device: str, faults: SimFaults | None = None) -> Agent:
        config = DeviceConfig(
            id=device,
            site=f"site-{device}",
            heartbeat_s=60,
            broker=BrokerConfig(
                port=self.cluster.stack.ports.mqtt, reconnect_min_s=0.2, reconnect_max_s=1.0
            ),
            outbox=OutboxConfig(flush_s=0.2, ack_timeout_s=1.0, window=40, capacity=10_000),
        )
        return Agent(
            config=config,
            clock=SystemClock(),
            drivers=[],
            state_dir=self.cluster.tmp / device,
            faults=faults,
        )

    def _data(self, d: int, agent: Agent, seq: int) -> Any:
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
                    device=agent.config.id,
                    site=agent.config.site,
                    boot=agent.boot,
                    seq=seq,
                    readings=readings,
                )
            )

        return build

    async def _produce(self, pace_s: float) -> None:
        for _ in range(1000):
            if all(a.boot for a in self.agents):
                break
            await asyncio.sleep(0.01)
        for seq in range(1, self.messages + 1):
            for d, agent in enumerate(self.agents):
                data = self._data(d, agent, seq)
                await asyncio.to_thread(agent.outbox.append, c.Kind.DATA.value, data, created_ms=T0)
            await asyncio.sleep(pace_s)

    async def run(
        self, fault: Any, rng: random.Random, check: Any, *, stream_s: float = 4.0
    ) -> None:
        """Stream; at a seeded point silence one device and inject ``fault``; drain; then
        ``check()`` while the other devices still run (stopped, they would go offline)."""
        self.agents = [self._agent(d) for d in self.device_ids]
        faults = SimFaults()
        silent = self._agent(self.silent, faults)
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            for agent in self.agents:
                tg.create_task(agent.run(stop))
            tg.create_task(silent.run(stop))
            producer = tg.create_task(self._produce(stream_s / self.messages))
            await asyncio.sleep(rng.uniform(0.3, 0.6) * stream_s)
            # A device cut before the hub heard it come online leaves no will to judge it by
            # (a slow start on a loaded machine): the fault is for a device known online.
            await self._online(self.silent, within=30.0)
            # Its link cut as by a power loss: the broker sends its will (state offline).
            faults.set(self.silent, "offline", active=True)
            await fault(rng)
            try:
                await producer
                await self._drained(within=60.0)
                await check()
            finally:
                stop.set()

    async def _online(self, device: str, *, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if await asyncio.to_thread(self.cluster.online, device):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{device} not online at the hubs within {within}s")

    async def _drained(self, *, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            stats = [await asyncio.to_thread(a.outbox.stats) for a in self.agents]
            if all(s.depth == 0 and s.next_seq == self.messages + 1 for s in stats):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"outboxes not drained within {within}s:\n{self.cluster.tails()}")

    async def influx(self) -> tuple[int, int]:
        q = (
            f'SELECT count("{FIELD}"), sum("{FIELD}") FROM "raw"."device" '
            f"WHERE device =~ /^mh-{self.name}-[0-9]+$/"
        )
        async with httpx.AsyncClient(base_url=self.cluster.stack.influx_url, timeout=30) as cl:
            resp = await cl.get("/query", params={"db": self.cluster.influx_db, "q": q})
        series = resp.json()["results"][0].get("series")
        count, total = (series[0]["values"][0][1:3]) if series else (0, 0)
        return int(count), int(total)
