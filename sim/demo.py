"""``trygg demo``: local stack + hub + a small simulated fleet, with a live line and a summary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from edge.agent import Agent
from edge.config import AssetConfig, BrokerConfig, DeviceConfig, OutboxConfig, SimLampSensor
from edge.drivers.base import SimFaults
from edge.drivers.registry import build_drivers
from hub.app import Hub
from hub.db import Ticket
from hub.devices import register
from hub.settings import HubSettings
from trygg.clock import Clock, ScaledClock
from trygg.contract import AssetKind
from trygg.stack import LocalStack, StackError, StackPorts, free_port

log = logging.getLogger(__name__)


def demo_fleet(n: int, *, mqtt_port: int) -> list[DeviceConfig]:
    """``n`` poles along a street in Solna centrum, two lamps each."""
    fleet = []
    for i in range(n):
        lat, lon = 59.3600 + 0.0004 * i, 17.9990 + 0.0006 * (i % 5)
        assets = [
            AssetConfig(
                id=f"lamp-{i:04d}-{j}",
                kind=AssetKind.STREETLIGHT,
                lat=lat,
                lon=lon + j * 1e-4,
                cabinet=f"cab-{i // 4:03d}",
                address=f"Solnavägen {2 * i + j + 1}, Solna",
                sensors=[SimLampSensor(type="sim_lamp", id="lamp", interval_s=60.0)],
            )
            for j in range(2)
        ]
        fleet.append(
            DeviceConfig(
                id=f"pole-{i:04d}",
                site="solna-centrum",
                broker=BrokerConfig(port=mqtt_port, reconnect_min_s=0.5, reconnect_max_s=5.0),
                outbox=OutboxConfig(flush_s=30.0),
                heartbeat_s=300,
                assets=assets,
            )
        )
    return fleet


async def _demo(
    *, duration_s: float | None, devices: int, state_dir: Path, api_port: int, clock: Clock
) -> int:
    stack = LocalStack(
        state_dir=state_dir / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
    )
    try:
        await asyncio.to_thread(stack.up)
    except StackError as exc:
        print(f"trygg demo: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        settings = HubSettings(
            mqtt_port=stack.ports.mqtt,
            influx_url=stack.influx_url,
            database_url=f"sqlite:///{state_dir}/hub.sqlite",
            api_port=api_port,
            client_id="trygg-hub-demo",
        )
        hub = Hub.build(settings, clock)
        fleet = demo_fleet(devices, mqtt_port=stack.ports.mqtt)
        register(hub.sessions, [(d.id, d.site) for d in fleet])
        faults = SimFaults()
        for d in fleet[::3]:  # every third pole has a dead lamp
            faults.set(d.assets[0].id, "out", active=True)
        agents = [
            Agent(
                config=d,
                clock=clock,
                drivers=build_drivers(d.assets, faults),
                state_dir=state_dir / "agents" / d.id,
            )
            for d in fleet
        ]
        print(
            f"Trygg demo: {devices} poles, hub API http://127.0.0.1:{api_port}/api/v1/tickets"
            f"  (docs: http://127.0.0.1:{api_port}/docs)"
        )
        print(f"InfluxDB {stack.influx_url} (db trygg); Ctrl-C stops everything.")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(hub.run(stop), name="hub")
            for a in agents:
                tg.create_task(a.run(stop), name=a.config.id)
            tg.create_task(_live(hub, agents, clock, stop, duration_s), name="live")
        readings = hub.ingest.counters.readings
        with hub.sessions() as s:
            tickets = s.scalar(select(func.count()).select_from(Ticket)) or 0
        print(
            f"\nsummary: readings stored {readings}, tickets opened {tickets}, "
            f"duplicates dropped {hub.ingest.counters.duplicates}, "
            f"dead letters {sum(hub.ingest.counters.dead.values())}"
        )
        return 0
    finally:
        await asyncio.to_thread(stack.down)


async def _live(
    hub: Hub, agents: list[Agent], clock: Clock, stop: asyncio.Event, duration_s: float | None
) -> None:
    loop = asyncio.get_running_loop()
    end = None if duration_s is None else loop.time() + duration_s
    while not stop.is_set():
        if end is not None and loop.time() >= end:
            stop.set()
            break
        c = hub.ingest.counters
        online = sum(1 for a in agents if a._link.conn is not None)
        sys.stdout.write(
            f"\r{clock.now():%Y-%m-%d %H:%M} UTC  readings {c.readings:>7}  "
            f"devices online {online:>3}/{len(agents)}  tickets opened "
            f"{hub.rules.tickets_opened:>3}   "
        )
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def run_demo(*, duration_s: float | None, devices: int, state_dir: Path, api_port: int) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    state_dir.mkdir(parents=True, exist_ok=True)
    # Start at a December evening in Solna and run 60x faster, so the demo sees a night.
    clock = ScaledClock(datetime(2026, 12, 15, 15, 0, tzinfo=UTC), speed=60.0)
    return asyncio.run(
        _demo(
            duration_s=duration_s,
            devices=devices,
            state_dir=state_dir,
            api_port=api_port,
            clock=clock,
        )
    )


def run_sim(*, devices: int, mqtt_port: int, duration_s: float | None, state_dir: Path) -> int:
    raise NotImplementedError("the fleet simulator lands with issue 11")
