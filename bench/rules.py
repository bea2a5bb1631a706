"""Rules benchmark: evaluation cost per reading, and reading-to-ticket-stored latency.

1. Pure rule cost: ``lamp_step`` (sun elevation included, through its per-grid-cell and
   per-minute cache) and ``bin_step`` over a city-sized fleet, one reading per asset per
   simulated minute through a December evening, as the hub sees them. Target <= 20 us.
2. Latency: a real hub (in this process) on a real Mosquitto + InfluxDB (LocalStack) and
   SQLite; a device publishes a lamp-off reading at night with QoS 1 and we time until the
   ticket row is committed (polled every 2 ms). Target p95 <= 1 s.

``.venv/bin/python -m bench.rules [--lamps N] [--samples N]``; prints one summary line
last and writes ``bench/results/rules.json``. Other processes on the machine add noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from hub.app import Hub
from hub.db import Ticket
from hub.devices import register
from hub.rules.bin import BinParams, BinState, bin_step
from hub.rules.lamp import LampParams, LampState, lamp_step
from hub.settings import HubSettings
from trygg import contract as c
from trygg.clock import SystemClock, to_ms
from trygg.stack import LocalStack, StackPorts, free_port
from trygg.sun import _elevation_at

ROOT = Path(__file__).resolve().parent.parent
EVENING = datetime(2026, 12, 15, 15, 0, tzinfo=UTC)


def pure_cost(lamps: int, minutes: int) -> dict[str, float]:
    """Microseconds per reading for lamps (incl. sun) and bins, cold and warm sun cache."""
    _elevation_at.cache_clear()
    p, bp = LampParams(), BinParams()
    # lamps spread over ~6 x 6 km around Solna, as a city's are
    where = [(59.34 + (i % 97) * 6e-4, 17.97 + (i // 97) * 1.1e-3) for i in range(lamps)]
    states = [LampState() for _ in range(lamps)]
    obs_on: dict[str, float | str] = {"powerState": "on", "intensity": 0.26, "activePower": 0.06}
    obs_off: dict[str, float | str] = {"powerState": "off", "intensity": 0.0, "activePower": 0.0}
    t0 = to_ms(EVENING)
    n = 0
    start = time.perf_counter()
    for m in range(minutes):
        t = t0 + m * 60_000
        for i in range(lamps):
            obs = obs_off if i % 50 == 0 else obs_on  # 2 % of lamps are out
            states[i], _ = lamp_step(
                states[i], obs, asset="L", t_ms=t, lat=where[i][0], lon=where[i][1], p=p
            )
            n += 1
    lamp_us = (time.perf_counter() - start) / n * 1e6
    bins = [BinState() for _ in range(lamps // 4)]
    nb = 0
    start = time.perf_counter()
    for m in range(minutes):
        t = t0 + m * 60_000
        for i in range(len(bins)):
            level = min(1.0, 0.2 + 0.01 * m + (i % 7) * 0.05)
            bins[i], _ = bin_step(
                bins[i], {"fillingLevel": level, "temperature": 8.0}, asset="B", t_ms=t, p=bp
            )
            nb += 1
    bin_us = (time.perf_counter() - start) / nb * 1e6
    info = _elevation_at.cache_info()
    return {
        "lamp_us_per_reading": round(lamp_us, 2),
        "bin_us_per_reading": round(bin_us, 2),
        "lamp_readings": n,
        "bin_readings": nb,
        "sun_cache_hits": info.hits,
        "sun_cache_misses": info.misses,
    }


class OffsetClock(SystemClock):
    """Wall-clock speed, shifted to a December evening so the lamp rule judges darkness."""

    def __init__(self, at: datetime) -> None:
        self.offset = at - datetime.now(UTC)

    def now(self) -> datetime:
        return super().now() + self.offset


async def latency(samples: int, state: Path) -> dict[str, Any]:
    stack = LocalStack(
        state_dir=state / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
    )
    stack.up()
    try:
        return await _latency(stack, samples, state)
    finally:
        stack.down()


async def _latency(stack: LocalStack, samples: int, state: Path) -> dict[str, Any]:
    clock = OffsetClock(EVENING + timedelta(hours=3))
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db="bench",
        database_url=f"sqlite:///{state}/hub.sqlite",
        client_id="bench-hub",
        share_group="bench",
        batch_max_delay_s=0.05,
        tick_s=1.0,
        api_port=free_port(),
    )
    device = "bench-pole"
    hub = Hub.build(settings, clock)
    register(hub.sessions, [(device, "bench")])
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop, serve_api=False))
    await asyncio.wait_for(hub.ingest.connected.wait(), timeout=30)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-dev", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", stack.ports.mqtt)
    client.loop_start()
    lamps = [f"{device}-l{i}" for i in range(samples)]
    birth = c.Birth(
        device=device,
        boot=1,
        ts=to_ms(clock.now()),
        firmware="bench",
        site="bench",
        heartbeat_s=3600,
        low=1,
        assets=[
            c.AssetInfo(
                id=a,
                kind=c.AssetKind.STREETLIGHT,
                lat=59.36,
                lon=18.0,
                properties={"lampOutMinS": 0},
            )
            for a in lamps
        ],
    )

    def publish(kind: c.Kind, msg: Any) -> None:
        client.publish(c.topic_for(device, kind), c.encode(msg), qos=1).wait_for_publish(10)

    await asyncio.to_thread(publish, c.Kind.BIRTH, birth)
    await asyncio.sleep(1.0)
    waits: list[float] = []
    for seq, asset in enumerate(lamps, start=1):
        data = c.Data(
            device=device,
            site="bench",
            boot=1,
            seq=seq,
            readings=[
                c.Reading(
                    asset=asset,
                    kind=c.AssetKind.STREETLIGHT,
                    sensor="s",
                    field="powerState",
                    t=to_ms(clock.now()),
                    v="off",
                )
            ],
        )
        start = time.perf_counter()
        await asyncio.to_thread(publish, c.Kind.DATA, data)
        while True:
            with hub.sessions() as s:
                found = s.scalars(select(Ticket.id).where(Ticket.asset_id == asset)).first()
            if found is not None:
                break
            if time.perf_counter() - start > 10:
                raise RuntimeError(f"no ticket for {asset} within 10 s")
            await asyncio.sleep(0.002)
        waits.append(time.perf_counter() - start)
        await asyncio.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    waits.sort()
    return {
        "samples": len(waits),
        "p50_ms": round(statistics.median(waits) * 1000, 1),
        "p95_ms": round(waits[int(0.95 * (len(waits) - 1))] * 1000, 1),
        "max_ms": round(waits[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lamps", type=int, default=5000)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "rules.json"))
    args = parser.parse_args()
    cost = pure_cost(args.lamps, args.minutes)
    with tempfile.TemporaryDirectory() as tmp:
        lat = asyncio.run(latency(args.samples, Path(tmp)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"pure": cost, "reading_to_ticket": lat, "targets": {"us": 20, "p95_ms": 1000}}
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"rules: lamp {cost['lamp_us_per_reading']} us/reading (sun incl.), "
        f"bin {cost['bin_us_per_reading']} us/reading (target <= 20); "
        f"reading->ticket p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms (target <= 1000) "
        f"-> {out}"
    )


if __name__ == "__main__":
    main()
