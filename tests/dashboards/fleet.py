"""A small city that fills InfluxDB the way production does: real agents on the edge's
simulated drivers -> real Mosquitto -> real hub -> real InfluxDB.

Two sites, three poles, every asset kind the edge can simulate today (streetlights with a
lux sensor, bins, the Pi itself) and a few injected faults, so panels see on and off lamps,
fires and a tilted bin, every pole raises edge events, and the hub's rules open tickets. Devices are built from plain dicts through the edge's own config
validation, so the fleet uses exactly the ``type:`` names a device file would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dashboards.schema import CAMERA_TICKETS
from edge.config import DeviceConfig
from edge.drivers.base import SimFaults
from tests.helpers import build_hub, hub_settings, make_agent, running
from trygg.clock import ScaledClock
from trygg.stack import LocalStack

# Mid-December, a little before civil dusk in Solna (~14:40 UTC): lamps switch on during
# the run, so both states appear. 240x: one real second is four simulated minutes.
START = datetime(2026, 12, 15, 14, 20, tzinfo=UTC)
SPEED = 240.0
SITES = ("solna-centrum", "arenastaden")

# Measurement -> why the fleet cannot produce it yet. The live test runs every panel query
# whose measurements are all produced; tests/dashboards/test_panels_live.py checks that each
# entry here really has no data, so this list can only shrink as producers appear.
UNPRODUCED: dict[str, str] = {
    "camera": "camera health is simulated only inside sim/ (issue 11), not as an edge driver",
    "crowd": "crowd zones are simulated only inside sim/ (issue 11), not as an edge driver",
    "event:camera": "camera events come only from sim/drivers/camera.py (issue 11)",
    "ticket_event:cabinetOut": "no cabinet outage is injected into this small fleet",
    f"ticket_event:{CAMERA_TICKETS}": "no camera in the fleet, so no camera tickets",
    "tickets_sla_breached": "no ticket passes its SLA in minutes of simulated time",
    "asset_state": "nobody writes asset positions/state to InfluxDB (needed by the map)",
    "streetlight_dayburn": "nobody writes day-burning hours/energy (needs the sun per pole)",
    "sun": "nobody writes the sun elevation per site to InfluxDB",
    "hub_ingest": "hub self-metrics are not written to InfluxDB yet (issue 5)",
}


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
    pairs to inject during the run (a bin knocked over: the edge reports the change)."""
    d1, d2, d3 = (f"dash-{unique}-{i}" for i in range(3))
    raw = [
        (
            d1,
            SITES[0],
            [
                _lamp(f"{d1}-l0", 59.360, "cab-1"),
                _lamp(f"{d1}-l1", 59.361, "cab-1"),
                _bin(f"{d1}-b0", 59.3615),
            ],
        ),
        (d2, SITES[0], [_bin(f"{d2}-b0", 59.362), _bin(f"{d2}-b1", 59.363)]),
        (
            d3,
            SITES[1],
            [
                _lamp(f"{d3}-l0", 59.370, "cab-2"),
                _bin(f"{d3}-b0", 59.371),
                _bin(f"{d3}-b1", 59.372),
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
    faults = SimFaults()
    faults.set(f"{d1}-l1", "out", active=True)
    faults.set(f"{d3}-l0", "dayburn", active=True)
    faults.set(f"{d1}-b0", "fire", active=True)
    faults.set(f"{d2}-b1", "fire", active=True)
    return configs, faults, [(f"{d3}-b1", "dropped")]


@dataclass(frozen=True, slots=True)
class CityRun:
    influx_url: str
    database: str
    start: datetime
    end: datetime
    devices: tuple[str, ...]


async def run_city(stack: LocalStack, tmp: Path, unique: str, *, real_s: float) -> CityRun:
    """Run the fleet and the hub for ``real_s`` seconds (a third of it before the later
    faults). Whatever is still in an outbox at the end is not needed by any panel."""
    clock = ScaledClock(START, speed=SPEED)
    configs, faults, later = fleet(unique, stack.ports.mqtt)
    settings = hub_settings(stack, tmp, unique, gauges_s=0.5, tick_s=0.5)
    hub = build_hub(settings, clock, [(c.id, c.site) for c in configs])
    agents = [make_agent(c, clock, tmp, faults) for c in configs]
    async with running(hub.run, *(a.run for a in agents)):
        await asyncio.wait_for(hub.ingest.connected.wait(), timeout=20)
        await asyncio.sleep(real_s / 3)
        for asset, fault in later:
            faults.set(asset, fault, active=True)
        await asyncio.sleep(real_s * 2 / 3)
        end = clock.now()
    return CityRun(
        influx_url=stack.influx_url,
        database=settings.influx_db,
        start=START - timedelta(minutes=5),
        end=end + timedelta(minutes=5),
        devices=tuple(c.id for c in configs),
    )
