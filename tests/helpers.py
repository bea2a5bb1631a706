"""Helpers for integration tests: run a hub and agents in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import pytest

from edge.agent import Agent
from edge.config import AssetConfig, BrokerConfig, DeviceConfig, OutboxConfig, SimLampSensor
from edge.drivers.base import SimFaults
from edge.drivers.registry import build_drivers
from hub.app import Hub
from hub.devices import register
from hub.settings import HubSettings
from hub.settings_env import load
from trygg.clock import Clock
from trygg.contract import AssetKind
from trygg.stack import LocalStack, free_port


def hub_settings(stack: LocalStack, tmp: Path, unique: str, **over: object) -> HubSettings:
    values: dict[str, object] = {
        "mqtt_port": stack.ports.mqtt,
        "influx_url": stack.influx_url,
        "influx_db": f"t_{unique}",
        "database_url": f"sqlite:///{tmp}/hub-{unique}.sqlite",
        "api_port": free_port(),
        "client_id": f"hub-{unique}",
        "share_group": f"g{unique}",
        "batch_max_delay_s": 0.05,
    }
    values.update(over)
    return HubSettings(**values)  # type: ignore[arg-type]


def settings_from(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> HubSettings:
    """What ``trygg hub`` makes of exactly ``env`` (the shell's own TRYGG_* set aside)."""
    for name in list(os.environ):
        if name.upper().startswith("TRYGG_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load()


def lamp_device(
    device_id: str,
    *,
    port: int,
    lamps: int = 1,
    interval_s: float = 1.0,
    lat: float = 59.36,
    lon: float = 18.0,
) -> DeviceConfig:
    assets = [
        AssetConfig(
            id=f"{device_id}-lamp{i}",
            kind=AssetKind.STREETLIGHT,
            lat=lat + i * 1e-4,
            lon=lon,
            cabinet=f"{device_id}-cab",
            address=f"Solnavägen {i + 1}",
            sensors=[SimLampSensor(type="sim_lamp", id="lamp", interval_s=interval_s)],
        )
        for i in range(lamps)
    ]
    return DeviceConfig(
        id=device_id,
        site="solna-centrum",
        broker=BrokerConfig(port=port, reconnect_min_s=0.2, reconnect_max_s=1.0),
        outbox=OutboxConfig(flush_s=0.2, ack_timeout_s=3.0),
        heartbeat_s=60,
        assets=assets,
    )


def make_agent(
    config: DeviceConfig, clock: Clock, tmp: Path, faults: SimFaults | None = None
) -> Agent:
    return Agent(
        config=config,
        clock=clock,
        drivers=build_drivers(config.assets, faults),
        state_dir=tmp / config.id,
    )


@contextlib.asynccontextmanager
async def running(
    *runners: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> AsyncIterator[asyncio.Event]:
    """Run each ``runner(stop)`` as a task; on exit set ``stop`` and wait for them."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r(stop)) for r in runners]
    try:
        yield stop
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=20)
        for t in pending:
            t.cancel()
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], *, within: float = 20.0, interval: float = 0.1
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s")


def build_hub(settings: HubSettings, clock: Clock, devices: list[tuple[str, str]]) -> Hub:
    hub = Hub.build(settings, clock)
    register(hub.sessions, devices)
    return hub
