"""Hubs with partitioned devices, in this test's event loop against the real broker, InfluxDB
and SQL: one hub alone holds every partition and stores every device's readings; a second
hub takes its fair share, and when the first stops, the second takes everything over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hub import partitioning as part
from hub import registry
from hub.app import Hub
from hub.db import Counter, Device, Ticket
from hub.devices import register
from hub.leases import LeaseState
from hub.partitions import Partitions
from tests.helpers import build_hub, hub_settings, lamp_device, make_agent, running, wait_for
from trygg.clock import SystemClock
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _devices(unique: str, n: int) -> list[str]:
    return [f"pole-{unique}-{i}" for i in range(n)]


def _hub(stack: LocalStack, tmp: Path, unique: str, name: str, db: str, devices: list[str]) -> Hub:
    settings = hub_settings(
        stack,
        tmp,
        unique,
        database_url=db,
        hub_id=f"hub-{name}",
        partitions=PARTITIONS,
        lease_ttl_s=3.0,
        lease_renew_s=0.5,
        spool_dir=tmp / f"spool-{name}",
        tick_s=0.5,
    )
    return build_hub(settings, SystemClock(), [(d, "solna-centrum") for d in devices])


def _partitions(hub: Hub) -> Partitions:
    assert hub.partitions is not None
    return hub.partitions


def _watermarks(hub: Hub) -> dict[str, int]:
    with hub.sessions() as s:
        return {d.id: d.watermark for d in s.scalars(select(Device))}


def _leases(hub: Hub) -> dict[str, LeaseState]:
    return {s.name: s for s in _partitions(hub).leases.holders()}


async def test_one_hub_holds_every_partition_and_stores_every_device(
    stack: LocalStack, tmp_path: Path, unique: str, sql_url: str
) -> None:
    devices = _devices(unique, 6)
    hub = _hub(stack, tmp_path, unique, "a", sql_url, devices)
    agents = [
        make_agent(lamp_device(d, port=stack.ports.mqtt, interval_s=0.2), SystemClock(), tmp_path)
        for d in devices
    ]
    keys = {d: part.partition_key(device=d, site="", cabinets=[f"{d}-cab"]) for d in devices}
    spread = {part.partition_of(k, PARTITIONS) for k in keys.values()}
    assert len(spread) > 1  # the test exercises several partitions

    async def all_stored() -> bool:
        marks = _watermarks(hub)
        return all(marks.get(d, 0) >= 3 for d in devices)

    async with running(hub.run, *(a.run for a in agents)):
        await wait_for(all_stored, within=40)
        parts = _partitions(hub)
        assert parts.owned() == list(range(PARTITIONS))
        held = _leases(hub)
        for p in range(PARTITIONS):
            assert held[part.lease_name(p)].holder == "hub-a"
            assert held[part.lease_name(p)].live
        counted = parts.counters().messages
    with hub.sessions() as s:
        rows = {r.name: r.value for r in s.scalars(select(Counter))}
    hub.sessions.kw["bind"].dispose()
    per_partition = {
        k: v for k, v in rows.items() if k.startswith("part.") and k.endswith(".messages") and v > 0
    }
    assert {k.split(".")[1] for k in per_partition} == {f"{p:02d}" for p in spread}
    assert sum(per_partition.values()) >= counted > 0
    assert "messages" not in rows  # no unpartitioned counters: nothing stored outside a lease


async def test_a_second_hub_takes_its_share_and_everything_when_the_first_stops(
    stack: LocalStack, tmp_path: Path, unique: str, postgres_url: str
) -> None:
    devices = _devices(unique, 8)
    a = _hub(stack, tmp_path, unique, "a", postgres_url, devices)
    b = _hub(stack, tmp_path, unique, "b", postgres_url, [])
    agents = [
        make_agent(lamp_device(d, port=stack.ports.mqtt, interval_s=0.2), SystemClock(), tmp_path)
        for d in devices
    ]

    async def split() -> bool:
        return len(_partitions(a).owned()) == 2 and len(_partitions(b).owned()) == 2

    async with running(*(ag.run for ag in agents)):
        async with running(a.run, b.run):
            await wait_for(split, within=30)
            before = _watermarks(b)
            assert not set(_partitions(a).owned()) & set(_partitions(b).owned())
        # Both stopped (gracefully): b alone now.
        b2 = _hub(stack, tmp_path, unique, "b", postgres_url, [])
        async with running(b2.run):

            async def b_took_all() -> bool:
                return _partitions(b2).owned() == list(range(PARTITIONS))

            await wait_for(b_took_all, within=20)

            async def advanced() -> bool:
                marks = _watermarks(b2)
                return all(marks[d] > before.get(d, 0) + 2 for d in devices)

            await wait_for(advanced, within=40)


async def test_a_device_registered_while_the_hub_runs_is_served_from_its_birth(
    stack: LocalStack, tmp_path: Path, unique: str, sql_url: str
) -> None:
    hub = _hub(stack, tmp_path, unique, "a", sql_url, [])
    devices = _devices(unique, 4)
    agents = [
        make_agent(lamp_device(d, port=stack.ports.mqtt, interval_s=0.2), SystemClock(), tmp_path)
        for d in devices
    ]

    async def all_held() -> bool:
        return _partitions(hub).owned() == list(range(PARTITIONS))

    async def all_stored() -> bool:
        marks = _watermarks(hub)
        return all(marks.get(d, 0) >= 3 for d in devices)

    async with running(hub.run):
        await wait_for(all_held, within=20)
        register(hub.sessions, [(d, "solna-centrum") for d in devices])
        with hub.sessions.begin() as s:
            registry.bump(s)  # as the admin tools do: the running hub reloads its registry
        async with running(*(a.run for a in agents)):
            await wait_for(all_stored, within=40)
            assert all(_partitions(hub).owns_device(d) for d in devices)


async def test_a_device_its_birth_moves_to_another_partition_is_judged_only_there(
    stack: LocalStack, tmp_path: Path, unique: str, sql_url: str
) -> None:
    """Registered by its site (no assets known yet), a pole belongs to the site's partition;
    its birth names its cabinet, whose partition takes it over. The first partition skips
    its messages from then on, so it must stop following it: left in, the pole would time
    out there and be stored (and ticketed) offline while it talks to the other."""
    site = part.partition_of("site:solna-centrum", PARTITIONS)
    device = next(
        d
        for d in (f"pole-{unique}-m{i}" for i in range(100))
        if part.partition_of(f"cabinet:{d}-cab", PARTITIONS) != site
    )
    settings = hub_settings(
        stack,
        tmp_path,
        unique,
        database_url=sql_url,
        hub_id="hub-m",
        partitions=PARTITIONS,
        lease_ttl_s=3.0,
        lease_renew_s=0.5,
        spool_dir=tmp_path / "spool-m",
        tick_s=0.2,
        offline_grace_s=0.5,
        heartbeat_timeouts="pole=2",
    )
    hub = build_hub(settings, SystemClock(), [(device, "solna-centrum")])
    with hub.sessions.begin() as s:  # heard before, as a pole whose cabinet has changed
        row = s.get(Device, device)
        assert row is not None
        row.online, row.state_reason = True, "birth"
        row.state_changed = row.last_seen = datetime.now(UTC)
    agent = make_agent(
        lamp_device(device, port=stack.ports.mqtt, interval_s=0.2), SystemClock(), tmp_path
    )

    async def all_held() -> bool:
        return _partitions(hub).owned() == list(range(PARTITIONS))

    async def stored() -> bool:
        return _watermarks(hub).get(device, 0) >= 3

    async with running(hub.run):
        await wait_for(all_held, within=20)
        async with running(agent.run):
            await wait_for(stored, within=40)
            await asyncio.sleep(4.0)  # twice the class's timeout, the pole talking throughout
            followed = [
                p for p, h in _partitions(hub).held.items() if device in h.ingest.states.devices
            ]
            with hub.sessions() as s:
                row = s.get(Device, device)
                tickets = s.scalars(select(Ticket).where(Ticket.asset_id == device)).all()
    assert row is not None
    assert row.online
    assert tickets == []
    assert followed == [part.partition_of(f"cabinet:{device}-cab", PARTITIONS)]
