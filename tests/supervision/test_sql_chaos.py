"""Chaos on the hub's PostgreSQL: SIGKILLed and restarted, or hung with SIGSTOP for longer
than every timeout and resumed, at a seeded random point, 3 rounds each, while devices
stream readings and API clients poll. Each round: the hub process never exits; every
reading is stored exactly once (InfluxDB count and checksum, the hub's counters); every
API request gets 200 or 503 within its timeout, never a hang or reset; the outage is on
record as a resolved ``hubDegraded`` ticket (written once SQL answered again); no other
ticket appears (an undisturbed stream raises none)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub import self_alarm
from hub.db import Ticket, open_database
from tests.hub_ingest.chaos import Round, problems
from tests.shared_data import in_ci
from trygg.pgserver import PostgresServer, ScratchDatabases
from trygg.stack import LocalStack, StackError

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
    "TRYGG_API_ANON_PER_MINUTE": "1000000",
    "TRYGG_API_ANON_BURST": "1000000",
}


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own: it is the one killed and stopped."""
    server = PostgresServer()
    try:
        server.start()
    except StackError as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL could not start: {exc}")
        pytest.skip(f"PostgreSQL could not start: {exc}")
    yield server
    for pid in _pids(server):
        os.kill(pid, signal.SIGCONT)
    server.stop()


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


async def _outage(server: PostgresServer, rng: random.Random, how: str) -> None:
    if how == "stop":
        for pid in _pids(server):
            os.kill(pid, signal.SIGSTOP)
        await asyncio.sleep(OUTAGE_S * rng.uniform(1.0, 1.2))
        for pid in _pids(server):
            os.kill(pid, signal.SIGCONT)
        return
    for pid in _pids(server):
        os.kill(pid, signal.SIGKILL)
    assert server.process is not None
    await asyncio.to_thread(server.process.wait, 10)
    await asyncio.sleep(OUTAGE_S * rng.uniform(0.5, 0.7))
    await asyncio.to_thread(server.relaunch)


async def _recovered(rnd: Round, url: str, within: float = 40.0) -> None:
    """/ready is 200 again and the hubDegraded ticket is written and resolved."""
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

                if ready and await asyncio.to_thread(statuses) == {"resolved"}:
                    return
                await asyncio.sleep(0.3)
    finally:
        sessions.kw["bind"].dispose()
    raise AssertionError(f"not recovered within {within}s:\n{rnd.hub.tail()}")


async def _round(
    stack: LocalStack, tmp: Path, server: PostgresServer, name: str, seed: int, how: str
) -> None:
    url = ScratchDatabases(server.url()).create(f"chaos_{name}")
    rnd = Round(stack, tmp, name, devices=4, messages=40, db_url=url, env=HUB_ENV)
    problems_seen: list[str] = []

    async def disrupt(rng: random.Random) -> None:
        # API clients from the start of the outage until a while after it ended.
        stop_clients = asyncio.Event()
        clients = asyncio.create_task(_clients(rnd, stop_clients, problems_seen))
        try:
            await _outage(server, rng, how)
            await _recovered(rnd, url)
        finally:
            stop_clients.set()
            await clients

    await rnd.run(disrupt, seed)
    figures = await rnd.figures()
    assert problems(figures) == [], (seed, figures, rnd.hub.tail())
    assert problems_seen == [], (seed, problems_seen[:10], rnd.hub.tail())
    sessions = open_database(url, migrate=False)
    with sessions() as s:
        tickets = [(t.kind, t.status) for t in s.scalars(select(Ticket))]
    sessions.kw["bind"].dispose()
    assert tickets, (seed, "the outage left no hubDegraded ticket", rnd.hub.tail())
    assert set(tickets) == {(self_alarm.KIND, "resolved")}, (seed, tickets)


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_postgres_outage_mid_stream(
    private_stack: LocalStack, own_postgres: PostgresServer, tmp_path: Path, how: str
) -> None:
    for seed in SEEDS:
        await _round(private_stack, tmp_path, own_postgres, f"pg{how}{seed}", seed, how)
