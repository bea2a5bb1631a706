"""Chaos on each dependency of the hub — its PostgreSQL, its SQLite file, InfluxDB, the
broker: SIGKILLed and restarted, or hung with SIGSTOP for longer than every timeout and
resumed, at a seeded random point, 3 rounds each, while devices stream readings and API
clients poll. Each round: the hub process never exits; every reading is stored exactly
once (InfluxDB count and checksum, the hub's counters); every API request gets 200 or 503
within its timeout, never a hang or reset; afterwards /ready is 200 again and the only
tickets are resolved ``hubDegraded`` ones (an undisturbed stream raises none), and where
the outage outlasts the grace on a dependency the hub checks, there is one.

SQLite has no process to stop or kill. Its honest analogues: "stop" is another process
holding an exclusive lock longer than every timeout (writers wait, then fail, as on a hung
server) and then rolling back; "kill" is a writer SIGKILLed mid-transaction while holding
that lock (SQLite must roll its journal back and the hub must carry on). Readers still
see the database under WAL, so the SQL check passes and a self-alarm is not required."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub import self_alarm
from hub.db import Ticket, open_database
from tests.hub_ingest.chaos import Round, problems
from tests.needs import unavailable
from trygg.pgserver import PostgresServer, ScratchDatabases
from trygg.stack import LocalStack, Service, StackError

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEEDS = (5, 6, 7)
OUTAGE_S = 5.0  # longer than every timeout below
CLIENT_TIMEOUT_S = 5.0
HUB_ENV = {
    "TRYGG_SQL_CONNECT_TIMEOUT_S": "1",
    "TRYGG_SQL_STATEMENT_TIMEOUT_S": "2",
    "TRYGG_SQL_POOL_TIMEOUT_S": "1",
    "TRYGG_API_DEADLINE_S": "1.5",
    "TRYGG_HEALTH_CHECK_S": "0.3",
    "TRYGG_HEALTH_TIMEOUT_S": "0.5",
    "TRYGG_DEGRADED_GRACE_S": "2",
    "TRYGG_RESTART_FIRST_S": "0.1",
    "TRYGG_RESTART_CAP_S": "1",
    "TRYGG_MQTT_KEEPALIVE_S": "1",
    "TRYGG_API_ANON_PER_MINUTE": "1000000",
    "TRYGG_API_ANON_BURST": "1000000",
}


def _own_postgres() -> PostgresServer:
    """A PostgreSQL of the test's own: it is the one killed and stopped."""
    server = PostgresServer()
    try:
        server.start()
    except StackError as exc:
        unavailable(f"PostgreSQL could not start: {exc}")
    return server


def _pids(server: PostgresServer) -> list[int]:
    """The postmaster and its children (the backends): all must stop for the server to."""
    assert server.process is not None
    root = server.process.pid
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                children.append(int(entry.name))
    return [root, *children]


async def _clients(rnd: Round, stop: asyncio.Event, seen: list[str]) -> None:
    """Poll the API until ``stop``; any answer but 200/503 in time is a problem."""
    base = f"http://127.0.0.1:{rnd.hub.api_port}"
    paths = ("/health", "/ready", "/open311/v2/requests.json", "/open311/v2/services.json")
    async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT_S) as client:
        while not stop.is_set():
            assert rnd.hub.process is not None
            if rnd.hub.process.poll() is not None:
                seen.append(f"hub exited: {rnd.hub.process.returncode}")
                return
            for path in paths:
                try:
                    status = (await client.get(path)).status_code
                except httpx.TransportError as exc:
                    status = 0
                    seen.append(f"{path}: {type(exc).__name__}")
                if status not in (200, 503):
                    seen.append(f"{path}: {status}")
            await asyncio.sleep(0.1)


class Victim:
    """A dependency to hang and kill: ``stop``/``kill`` start the outage, ``resume`` ends it."""

    def pids(self) -> list[int]:
        raise NotImplementedError

    async def stop(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    async def resume_stopped(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)

    async def kill(self) -> None:
        raise NotImplementedError

    async def restart(self) -> None:
        raise NotImplementedError


class PostgresVictim(Victim):
    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def pids(self) -> list[int]:
        return _pids(self.server)

    async def kill(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGKILL)
        assert self.server.process is not None
        await asyncio.to_thread(self.server.process.wait, 10)

    async def restart(self) -> None:
        await asyncio.to_thread(self.server.relaunch)


class ServiceVictim(Victim):
    def __init__(self, service: Service) -> None:
        self.service = service

    def pids(self) -> list[int]:
        assert self.service.pid is not None
        return [self.service.pid]

    async def kill(self) -> None:
        await asyncio.to_thread(self.service.kill)

    async def restart(self) -> None:
        await asyncio.to_thread(self.service.start)


LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE counters SET value = value WHERE name = 'messages'")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


class SqliteVictim(Victim):
    """Another process holding the database's exclusive lock (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.holder: subprocess.Popen[bytes] | None = None

    async def _hold(self, seconds: float) -> None:
        self.holder = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-c", LOCK_HOLDER, str(self.path), str(seconds)],
            stdout=subprocess.PIPE,
        )
        assert self.holder.stdout is not None
        assert await asyncio.to_thread(self.holder.stdout.readline) == b"locked\n"

    async def stop(self) -> None:
        await self._hold(OUTAGE_S)

    async def resume_stopped(self) -> None:
        await self._gone()

    async def _gone(self) -> None:
        assert self.holder is not None
        assert self.holder.stdout is not None
        await asyncio.to_thread(self.holder.wait, 30)
        self.holder.stdout.close()

    async def kill(self) -> None:
        await self._hold(3600)
        await asyncio.sleep(OUTAGE_S * 0.6)  # the hub's writers wait on the lock meanwhile
        assert self.holder is not None
        self.holder.kill()
        await self._gone()

    async def restart(self) -> None:
        """Nothing to start: the next writer rolls the dead writer's journal back."""


async def _outage(victim: Victim, rng: random.Random, how: str) -> None:
    if how == "stop":
        await victim.stop()
        await asyncio.sleep(OUTAGE_S * rng.uniform(1.0, 1.2))
        await victim.resume_stopped()
        return
    await victim.kill()
    await asyncio.sleep(OUTAGE_S * rng.uniform(0.5, 0.7))
    await victim.restart()


async def _recovered(rnd: Round, url: str, *, alarm: bool, within: float = 40.0) -> None:
    """/ready is 200 again and the hubDegraded ticket (required if ``alarm``) is resolved."""
    sessions = open_database(url, migrate=False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    base = f"http://127.0.0.1:{rnd.hub.api_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT_S) as client:
            while loop.time() < deadline:
                ready = (await client.get("/ready")).status_code == 200

                def statuses() -> set[str]:
                    with sessions() as s:
                        q = select(Ticket.status).where(Ticket.kind == self_alarm.KIND)
                        return set(s.scalars(q))

                wanted = ({"resolved"},) if alarm else ({"resolved"}, set())
                if ready and await asyncio.to_thread(statuses) in wanted:
                    return
                await asyncio.sleep(0.3)
    finally:
        sessions.kw["bind"].dispose()
    raise AssertionError(f"not recovered within {within}s:\n{rnd.hub.tail()}")


def _victim(
    stack: LocalStack, dependency: str, postgres: PostgresServer | None, url: str
) -> Victim:
    if postgres is not None:
        return PostgresVictim(postgres)
    if dependency == "sqlite":
        return SqliteVictim(Path(url.removeprefix("sqlite:///")))
    return ServiceVictim(stack.influx if dependency == "influxdb" else stack.mosquitto)


async def _round(
    stack: LocalStack,
    tmp: Path,
    dependency: str,
    postgres: PostgresServer | None,
    name: str,
    seed: int,
    how: str,
) -> None:
    if postgres is not None:
        url = ScratchDatabases(postgres.url()).create(f"chaos_{name}")
    else:
        url = f"sqlite:///{tmp}/hub-{name}.sqlite"
    victim = _victim(stack, dependency, postgres, url)
    rnd = Round(stack, tmp, name, devices=4, messages=40, db_url=url, env=HUB_ENV)
    problems_seen: list[str] = []

    async def disrupt(rng: random.Random) -> None:
        # API clients from the start of the outage until a while after it ended.
        stop_clients = asyncio.Event()
        clients = asyncio.create_task(_clients(rnd, stop_clients, problems_seen))
        try:
            await _outage(victim, rng, how)
            await _recovered(rnd, url, alarm=dependency != "sqlite")
        finally:
            stop_clients.set()
            await clients

    await rnd.run(disrupt, seed)
    figures = await rnd.figures()
    assert problems(figures) == [], (seed, figures, rnd.hub.tail())
    assert problems_seen == [], (seed, problems_seen[:10], rnd.hub.tail())
    sessions = open_database(url, migrate=False)
    with sessions() as s:
        tickets = {(t.kind, t.status) for t in s.scalars(select(Ticket))}
    sessions.kw["bind"].dispose()
    assert tickets <= {(self_alarm.KIND, "resolved")}, (seed, tickets)


@pytest.mark.parametrize("how", ["stop", "kill"])
@pytest.mark.parametrize("dependency", ["postgres", "sqlite", "influxdb", "broker"])
async def test_dependency_outage_mid_stream(
    private_stack: LocalStack, tmp_path: Path, dependency: str, how: str
) -> None:
    postgres = _own_postgres() if dependency == "postgres" else None
    try:
        for seed in SEEDS:
            name = f"{dependency[:2]}{how}{seed}"
            await _round(private_stack, tmp_path, dependency, postgres, name, seed, how)
    finally:
        if postgres is not None:
            for pid in _pids(postgres):
                os.kill(pid, signal.SIGCONT)
            postgres.stop()
