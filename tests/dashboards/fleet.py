"""A small city that fills InfluxDB the way production does: real agents on the edge's
simulated drivers -> real Mosquitto -> real hub -> real InfluxDB.

Two sites, three poles, every asset kind Trygg can simulate today (streetlights with a lux
sensor, bins and the Pi itself on the edge's simulated drivers; cameras and crowd zones on
the simulator's, sim/drivers/) and a few injected faults, so panels see on and off lamps,
fires and a tilted bin, every pole raises edge events, and the hub's rules open tickets.

The run has two acts on one clock that jumps between them (:class:`JumpingClock`, shared by
the hub and every agent): an early December afternoon with the sun up, in which a lamp burns
by day (``streetlight_dayburn``) and the bin fires open critical tickets (2 h SLA); then,
after a jump of over two hours, the dark evening, in which lamps are lit, a dark lamp and a
cabinet that lost power open tickets, and the fire tickets, still open, are past their SLA
(``tickets_sla_breached``). The jump is a silence of the whole fleet, as after a broker
outage; the hub's offline handling sees it as such. Devices are built from plain dicts through the edge's own config
validation, so the fleet uses exactly the ``type:`` names a device file would.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.agent import Agent
from edge.config import DeviceConfig
from edge.drivers.base import Driver, SimFaults
from edge.drivers.registry import build_drivers
from sim.drivers.camera import SimCamera
from sim.drivers.crowd import SimCrowd
from sim.fleet import CityFaults
from sim.world import World
from tests.helpers import build_hub, hub_settings, running
from trygg.clock import ScaledClock
from trygg.contract import AssetKind
from trygg.stack import LocalStack

# Mid-December in Solna: the sun is 4 degrees up at 12:40 UTC (above the lamp rule's 2-degree
# "day") and 8 degrees down at 15:05 (past civil dusk and the cabinet rule's margin), when
# fire tickets opened after 12:40 with their 2 h SLA are overdue.
# 240x: one real second is four simulated minutes.
START = datetime(2026, 12, 15, 12, 40, tzinfo=UTC)
EVENING = datetime(2026, 12, 15, 15, 5, tzinfo=UTC)
SPEED = 240.0
SITES = ("solna-centrum", "arenastaden")

# Measurement -> why the fleet cannot produce it yet. The live test runs every panel query
# whose measurements are all produced; tests/dashboards/test_panels_live.py checks that each
# entry here really has no data, so this list can only shrink as producers appear (and that
# every other measurement has data). The afternoon and the evening of the run between them
# produce every other measurement the dashboards read.
UNPRODUCED: dict[str, str] = {
    "rollout_devices": "no release is rolled out in the run; tests/rollout/test_gauges.py "
    "checks the points the gauges write for a rollout",
    "followup_repair": "no ticket is resolved within the run; tests/followup/"
    "test_ground_truth.py runs the Uppföljning queries on a simulated month",
}


class JumpingClock:
    """A :class:`ScaledClock` that can also jump forward (the fleet's clock: every agent and
    the hub read the same one, so the jump is one silence of the whole city)."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._scaled = ScaledClock(start, speed=speed)
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return self._scaled.now() + self._offset

    def scale(self) -> float:
        return self._scaled.scale()

    def jump_to(self, when: datetime) -> None:
        """Move forward to ``when`` (never back)."""
        self._offset += max(when - self.now(), timedelta(0))


def _sensor(type_: str, id_: str, interval_s: float, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "id": id_, "interval_s": interval_s, **extra}


def _lamp(asset: str, lat: float, cabinet: str) -> dict[str, Any]:
    return {
        "id": asset,
        "kind": "streetlight",
        "lat": lat,
        "lon": 18.0,
        "cabinet": cabinet,
        "sensors": [
            _sensor("sim_lamp", "lamp", 60),
            _sensor("sim_bh1750", "lux", 60),
        ],
    }


def _bin(asset: str, lat: float) -> dict[str, Any]:
    return {
        "id": asset,
        "kind": "bin",
        "lat": lat,
        "lon": 18.01,
        "sensors": [
            # Fills fast from nearly full, so it is emptied (a collection) during the run.
            _sensor("sim_ultrasonic", "level", 60, start_fill=0.85, fill_per_hour=1.0),
            _sensor("sim_ds18b20", "temp", 60),
            _sensor("sim_tilt", "tilt", 60),
        ],
    }


def _watched(device: str, place: str, lat: float) -> list[dict[str, Any]]:
    """A camera and a crowd zone; their drivers are the simulator's (sim/drivers/)."""
    return [
        {"id": f"{device}-cam", "kind": "camera", "lat": lat, "lon": 18.02},
        {"id": f"{device}-zone", "kind": "crowd", "lat": lat, "lon": 18.02},
    ]


def _watch_drivers(config: DeviceConfig, faults: SimFaults, world: World) -> list[Driver]:
    """Drivers for the camera and crowd assets of ``config`` (none for other kinds)."""
    drivers: list[Driver] = []
    for a in config.assets:
        if a.kind == AssetKind.CAMERA:
            drivers.append(
                SimCamera(
                    asset=a.id,
                    lat=a.lat,
                    lon=a.lon,
                    wall_area_m2=12.0,
                    world=world,
                    faults=faults,
                )
            )
        elif a.kind == AssetKind.CROWD:
            drivers.append(SimCrowd(asset=a.id, place=config.site, area_m2=400.0, world=world))
    return drivers


def _pi(device: str) -> dict[str, Any]:
    return {
        "id": f"{device}-pi",
        "kind": "device",
        "lat": 59.36,
        "lon": 18.0,
        "sensors": [_sensor("sim_pi_health", "health", 60)],
    }


def fleet(
    unique: str, mqtt_port: int
) -> tuple[list[DeviceConfig], SimFaults, list[tuple[str, str]]]:
    """Three devices over two sites, the faults active from the start, and (asset, fault)
    pairs to inject during the run (a bin knocked over, a camera covered: the edge reports
    the change)."""
    d1, d2, d3 = (f"dash-{unique}-{i}" for i in range(3))
    raw = [
        (
            d1,
            SITES[0],
            [
                _lamp(f"{d1}-l0", 59.360, "cab-1"),
                _lamp(f"{d1}-l1", 59.361, "cab-1"),
                _bin(f"{d1}-b0", 59.3615),
                *_watched(d1, SITES[0], 59.3605),
            ],
        ),
        (
            d2,
            SITES[0],
            [
                _bin(f"{d2}-b0", 59.362),
                _bin(f"{d2}-b1", 59.363),
                # A cabinet of three lamps that loses power: one cabinetOut, not three lampOut.
                *(_lamp(f"{d2}-l{i}", 59.3625 + i * 1e-4, "cab-3") for i in range(3)),
            ],
        ),
        (
            d3,
            SITES[1],
            [
                _lamp(f"{d3}-l0", 59.370, "cab-2"),
                _bin(f"{d3}-b0", 59.371),
                _bin(f"{d3}-b1", 59.372),
                *_watched(d3, SITES[1], 59.3705),
            ],
        ),
    ]
    configs = [
        DeviceConfig.model_validate(
            {
                "id": device,
                "site": site,
                "heartbeat_s": 600,
                "broker": {"port": mqtt_port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
                "outbox": {"flush_s": 0.2, "ack_timeout_s": 3.0},
                "assets": [*assets, _pi(device)],
            }
        )
        for device, site, assets in raw
    ]
    faults = CityFaults()  # the simulator's: edge twins' faults plus camera faults
    faults.set(f"{d1}-l1", "out", active=True)
    faults.set(f"{d3}-l0", "dayburn", active=True)
    faults.set(f"{d1}-b0", "fire", active=True)
    faults.set(f"{d2}-b1", "fire", active=True)
    for i in range(3):
        faults.set(f"{d2}-l{i}", "cabinet_outage", active=True)
    return (
        configs,
        faults,
        [
            (f"{d3}-b1", "dropped"),
            (f"{d1}-cam", "covered"),
            (f"{d3}-cam", "blurred"),
        ],
    )


@dataclass(frozen=True, slots=True)
class CityRun:
    influx_url: str
    database: str
    start: datetime
    end: datetime
    devices: tuple[str, ...]


async def run_city(stack: LocalStack, tmp: Path, unique: str, *, real_s: float) -> CityRun:
    """Run the fleet and the hub for ``real_s`` seconds: the sunny afternoon for the first
    half, then the evening (the later faults a little into it). Whatever is still in an
    outbox at the end is not needed by any panel."""
    clock = JumpingClock(START, speed=SPEED)
    configs, faults, later = fleet(unique, stack.ports.mqtt)
    settings = hub_settings(stack, tmp, unique, gauges_s=0.5, tick_s=0.5)
    hub = build_hub(settings, clock, [(c.id, c.site) for c in configs])
    world = World(seed=7)
    agents: list[Agent] = []
    cameras: list[tuple[SimCamera, int]] = []
    for c in configs:
        watch = _watch_drivers(c, faults, world)
        cameras += [(d, len(agents)) for d in watch if isinstance(d, SimCamera)]
        drivers = build_drivers(c.assets, faults, state_dir=tmp / c.id) + watch
        agents.append(Agent(config=c, clock=clock, drivers=drivers, state_dir=tmp / c.id))

    async def camera_events(stop: asyncio.Event) -> None:
        # As sim/fleet.py does: the camera state machine's events go through the outbox.
        while not stop.is_set():
            for cam, i in cameras:
                events = cam.take_events()
                if events:
                    await agents[i].emit_events(events)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.1)

    async with running(hub.run, *(a.run for a in agents), camera_events):
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
        await asyncio.sleep(real_s / 2)
        clock.jump_to(EVENING)
        await asyncio.sleep(real_s / 6)
        for asset, fault in later:
            faults.set(asset, fault, active=True)
        await asyncio.sleep(real_s / 3)
        end = clock.now()
    return CityRun(
        influx_url=stack.influx_url,
        database=settings.influx_db,
        start=START - timedelta(minutes=5),
        end=end + timedelta(minutes=5),
        devices=tuple(c.id for c in configs),
    )
