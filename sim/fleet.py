"""Many real edge agents in one process, on simulated drivers, with faults applied on time.

Each simulated pole is the very :class:`edge.agent.Agent` a Raspberry Pi runs, with its own
device identity, SQLite outbox and MQTT session; only the drivers are simulated. Lamps use
the edge's own twin (``sim_lamp``), bins the edge's bin twins filled by the world model;
cameras and crowds use the simulator's world-driven drivers (sim/drivers). A process runs the slice of the city it is given and
applies the scenario's faults to its own poles; infra faults (broker, InfluxDB) belong to
whoever owns the stack (see sim/infra.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from edge.agent import Agent
from edge.config import AssetConfig, BrokerConfig, DeviceConfig, OutboxConfig, SimLampSensor
from edge.drivers.base import Driver, SimFaults
from edge.drivers.registry import build_drivers
from sim.city import SimDevice
from sim.drivers.bin import bin_drivers
from sim.drivers.camera import SimCamera
from sim.drivers.crowd import SimCrowd
from sim.places import exit_by_slug
from sim.scenario import Injection, Scenario
from sim.timeline import Step, sleep_until, steps
from trygg.aio import wait_event
from trygg.clock import Clock
from trygg.contract import AssetKind

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0  # real seconds, as a systemd RestartSec would be
CAMERA_FAULTS = frozenset({"covered", "blurred", "displaced", "frozen", "graffiti"})
CROWD_FAULTS = frozenset({"surge"})


class CityFaults(SimFaults):
    """The edge twins' SimFaults, plus the camera and crowd faults only the simulator's
    cameras and crowd zones know."""

    def set(self, asset: str, fault: str, *, active: bool) -> None:
        if fault not in CAMERA_FAULTS | CROWD_FAULTS:
            super().set(asset, fault, active=active)
            return
        faults = self.by_asset.setdefault(asset, set())
        if active:
            faults.add(fault)
        else:
            faults.discard(fault)


@dataclass(frozen=True, slots=True)
class Rates:
    """Sampling in simulated seconds. The defaults suit a scenario; the scale benchmark uses
    one message per device every 10 s (all intervals and the flush at 10 s)."""

    lamp_s: float = 60.0
    bin_s: float = 300.0
    camera_s: float = 60.0
    crowd_s: float = 60.0
    flush_s: float = 60.0
    heartbeat_s: float = 300.0

    @classmethod
    def uniform(cls, seconds: float) -> Rates:
        return cls(seconds, seconds, seconds, seconds, seconds, max(60.0, 6 * seconds))


@dataclass(frozen=True, slots=True)
class LinkSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    keepalive_s: int = 30


def device_config(
    device: SimDevice, *, link: LinkSettings, rates: Rates, state_dir: Path, speed: float
) -> DeviceConfig:
    """The device file a real pole of this kind would carry (sensors only for edge twins)."""
    assets = [
        AssetConfig(
            id=a.id,
            kind=a.kind,
            lat=a.lat,
            lon=a.lon,
            cabinet=a.cabinet,
            address=a.address,
            properties=dict(a.properties),
            sensors=[
                SimLampSensor(
                    type="sim_lamp",
                    id="lamp",
                    interval_s=rates.lamp_s,
                    rated_power_kw=float(a.properties.get("ratedPower", 0.06)),
                )
            ]
            if a.kind == AssetKind.STREETLIGHT
            else [],
        )
        for a in device.assets
    ]
    return DeviceConfig(
        id=device.id,
        site=device.site,
        firmware="trygg-edge/sim",
        heartbeat_s=rates.heartbeat_s,
        state_dir=state_dir / device.id,
        broker=BrokerConfig(
            host=link.host,
            port=link.port,
            keepalive_s=link.keepalive_s,
            reconnect_min_s=0.2,
            reconnect_max_s=3.0,
        ),
        # acknowledgement timeout: longer at a faster clock, so a busy hub's lagging acks do
        # not turn into a storm of re-sends; a gap the hub sees is healed at once anyway
        # (its rebirth request makes the agent re-send from the acknowledged point)
        # a simulated pole loses no power: commits need not sync, so they run inline
        # (thousands of agents share one process; a thread hand-off per call cost more)
        outbox=OutboxConfig(
            synchronous="NORMAL",
            io="inline",
            flush_s=rates.flush_s,
            ack_timeout_s=30.0 + 5.0 * speed,
            capacity=week_of_readings(device, rates),
        ),
        assets=assets,
    )


SIM_FIELDS_MAX = 8  # no simulated driver reports more fields per sample
WEEK_S = 7 * 86400


def week_of_readings(device: SimDevice, rates: Rates) -> int:
    """Outbox capacity for seven simulated days of every driver on the pole. The device
    file lists sensors only for the lamps (the edge twins), so the agent's own estimate
    would size the outbox of a pole with only bins and cameras at its 1,000-reading floor,
    and a long outage would drop its oldest messages."""
    interval = {
        AssetKind.STREETLIGHT: rates.lamp_s,
        AssetKind.BIN: rates.bin_s,
        AssetKind.CAMERA: rates.camera_s,
        AssetKind.CROWD: rates.crowd_s,
    }
    per_s = sum(SIM_FIELDS_MAX / interval.get(a.kind, rates.lamp_s) for a in device.assets)
    return max(1000, math.ceil(per_s * WEEK_S))


def world_drivers(
    device: SimDevice, scenario: Scenario, faults: SimFaults, rates: Rates
) -> list[Driver]:
    """The world-driven drivers of this pole's bins, cameras and crowd zones."""
    out: list[Driver] = []
    world = scenario.world
    for a in device.assets:
        if a.kind == AssetKind.BIN:
            out += bin_drivers(
                asset=a.id,
                place=a.place,
                volume_m3=float(a.properties["volume"]),
                depth_m=float(a.properties["depth"]),
                world=world,
                faults=faults,
                interval_s=rates.bin_s,
            )
        elif a.kind == AssetKind.CAMERA:
            out.append(
                SimCamera(
                    asset=a.id,
                    lat=a.lat,
                    lon=a.lon,
                    wall_area_m2=float(a.properties["wallArea"]),
                    world=world,
                    faults=faults,
                    interval_s=rates.camera_s,
                )
            )
        elif a.kind == AssetKind.CROWD:
            exit_zone = a.properties.get("exitZone")
            scale = a.properties.get("scale", "walkway")
            out.append(
                SimCrowd(
                    asset=a.id,
                    place=a.place,
                    area_m2=float(a.properties["zoneArea"]),
                    world=world,
                    interval_s=rates.crowd_s,
                    zone=exit_by_slug(exit_zone) if isinstance(exit_zone, str) else None,
                    capacity=int(a.properties.get("capacity", 0)) or None,
                    scale="queue" if scale == "queue" else "walkway",
                    faults=faults,
                )
            )
    return out


@dataclass
class Pole:
    """One simulated pole: its agent (rebuilt after a power cut), drivers and power state."""

    device: SimDevice
    config: DeviceConfig
    drivers: list[Driver]
    agent: Agent
    powered: asyncio.Event = field(default_factory=asyncio.Event)
    cut: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0
    crashes: int = 0

    @property
    def cameras(self) -> list[SimCamera]:
        return [d for d in self.drivers if isinstance(d, SimCamera)]


@dataclass
class Applied:
    """What was really done and when (simulated time): the ground truth the score uses."""

    injection: Injection
    active: bool
    at: datetime


class Fleet:
    """The agents of ``devices`` (a slice of the scenario's city) in this process."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        devices: Sequence[SimDevice],
        clock: Clock,
        link: LinkSettings,
        state_dir: Path,
        rates: Rates | None = None,
        password: Callable[[str], str | None] | None = None,
        stagger_s: float = 0.0,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.faults = CityFaults()
        self.rates = rates or Rates()
        self._password = password or (lambda _d: None)
        self.poles: dict[str, Pole] = {}
        for device in devices:
            config = device_config(
                device,
                link=link,
                rates=self.rates,
                state_dir=state_dir,
                speed=clock.scale(),
            )
            drivers = build_drivers(list(config.assets), self.faults) + world_drivers(
                device, scenario, self.faults, self.rates
            )
            pole = Pole(device, config, drivers, self._agent(config, drivers))
            pole.powered.set()
            self.poles[device.id] = pole
        self.applied: list[Applied] = []
        # real seconds between two poles' first boot: thousands of agents in one process
        # must not all open their outbox and connect in the same instant
        self.stagger_s = stagger_s

    def _agent(self, config: DeviceConfig, drivers: list[Driver]) -> Agent:
        return Agent(
            config=config,
            clock=self.clock,
            drivers=drivers,
            state_dir=config.state_dir,
            password=self._password(config.id),
        )

    @property
    def agents(self) -> list[Agent]:
        return [p.agent for p in self.poles.values()]

    def mine(self, injection: Injection) -> bool:
        return bool(injection.devices) and all(d in self.poles for d in injection.devices)

    # ---- running ---------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run every pole, the camera event pump and this slice's faults until ``stop``."""
        async with asyncio.TaskGroup() as tg:
            for n, pole in enumerate(self.poles.values()):
                tg.create_task(
                    self._pole(pole, stop, delay=n * self.stagger_s), name=f"pole-{pole.device.id}"
                )
            tg.create_task(self._pump_events(stop), name="camera-events")
            tg.create_task(self._inject(stop), name="inject")

    async def _pole(self, pole: Pole, stop: asyncio.Event, *, delay: float = 0.0) -> None:
        """The pole's life: run its agent; a power cut stops it until the power is back."""
        if delay:
            await wait_event(stop, delay)
        while not stop.is_set():
            halt = asyncio.Event()

            async def relay(halt: asyncio.Event = halt) -> None:
                waiter = asyncio.ensure_future(pole.cut.wait())
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    stopper.cancel()
                halt.set()

            try:
                async with asyncio.TaskGroup() as tg:
                    relay_task = tg.create_task(relay(), name=f"relay-{pole.device.id}")
                    await pole.agent.run(halt)
                    relay_task.cancel()
            except Exception as exc:  # noqa: BLE001 - systemd's Restart=on-failure, simulated
                pole.crashes += 1
                log.warning("%s: agent crashed (%s); restarting it", pole.device.id, _first(exc))
                await wait_event(stop, RESTART_DELAY_S)
                pole.agent = self._agent(pole.config, pole.drivers)
                continue
            if stop.is_set():
                return
            # power is off: wait until a crew restores it, then boot a fresh agent
            waiter = asyncio.ensure_future(pole.powered.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                stopper.cancel()
            if stop.is_set():
                return
            pole.cut.clear()
            pole.restarts += 1
            pole.agent = self._agent(pole.config, pole.drivers)

    async def _pump_events(self, stop: asyncio.Event) -> None:
        """Put the cameras' health and graffiti events through each agent's outbox."""
        period = max(0.05, min(1.0, 10.0 / self.clock.scale()))
        while not stop.is_set():
            for pole in self.poles.values():
                if not pole.powered.is_set():
                    continue
                events = [e for cam in pole.cameras for e in cam.take_events()]
                if events:
                    await pole.agent.emit_events(events)
            await wait_event(stop, period)

    async def _inject(self, stop: asyncio.Event) -> None:
        for step in steps(i for i in self.scenario.injections if self.mine(i)):
            if not await sleep_until(self.clock, step.at, stop):
                return
            self.apply(step)

    def apply(self, step: Step) -> None:
        """Set or clear one fault on this process's poles, and record it."""
        inj = step.injection
        kind = inj.kind
        if kind.name == "device_offline":
            for device_id in inj.devices:
                pole = self.poles[device_id]
                if step.active:
                    pole.powered.clear()
                    pole.cut.set()
                else:
                    pole.powered.set()
        elif kind.driver_fault is not None:
            for asset in inj.assets:
                self.faults.set(asset, kind.driver_fault, active=step.active)
        log.info(
            "%s %s on %s at %s",
            "inject" if step.active else "clear",
            kind.name,
            inj.target,
            self.clock.now(),
        )
        self.applied.append(Applied(inj, step.active, self.clock.now()))


def _first(exc: BaseException) -> str:
    """The innermost first error of a (nested) exception group, for one log line."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
