"""Alert latency: an edge crowd reading at level of service F -> the alert in a headless
Chromium and at a webhook receiver, through the real broker and hub. Run as
``.venv/bin/python -m bench.alerts [--alerts 120] [--agents 1000]``.

One bench device registers ``--alerts`` crowd zones and sends each zone one reading at level
of service F (``peopleDensity`` above Fruin's F, ``congested``), then again every second
until the alert arrives (during an event the edge reports at least once a second); the delay
is counted from the first F reading's publish. Two receivers measure it:

- Chromium (Playwright, /usr/bin/chromium) reads ``GET /api/v1/alerts/stream`` (the
  server-sent events the operator page shows) with ``fetch`` and an operator token, and
  notes ``Date.now()`` for each ``alert.zone`` that arrives with status ``raised``;
- a webhook receiver on 127.0.0.1 subscribed to ``alert.raised`` in JSON notes the time of
  each POST (the hub's lanes sign and send it).

``--agents`` simulated agents (``trygg sim``, the fleet benchmark's way) keep the broker and
hub at a normal load meanwhile. The zones' rule settings (minimum durations, hysteresis)
come from the alert rules; ``--zone-properties`` adds asset properties to every zone (e.g.
capacity). Needs the alert lifecycle (``hub.alerts``); without it the bench says so and
exits 0. Writes bench/results/alerts.json; the last line printed is the one-line summary.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import uvicorn
from fastapi import FastAPI, Request
from paho.mqtt.enums import CallbackAPIVersion

from hub import auth
from hub.api.config import ApiConfig
from hub.app import Hub
from hub.devices import register
from hub.settings import HubSettings
from trygg import contract as c
from trygg.clock import SystemClock, to_ms
from trygg.stack import LocalStack, StackPorts, free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHROMIUM = Path("/usr/bin/chromium")
DEVICE = "bench-arena"
# Reads the SSE stream in the page and notes when each zone's raised alert arrives.
WATCH_JS = """
async ([token]) => {
  window.seen = {};
  const r = await fetch('/api/v1/alerts/stream', {headers: {Authorization: 'Bearer ' + token}});
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  (async () => {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\\n\\n')) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        for (const line of block.split('\\n')) {
          if (!line.startsWith('data:')) continue;
          const a = JSON.parse(line.slice(5));
          if (a.status === 'raised' && !(a.zone in window.seen)) window.seen[a.zone] = Date.now();
        }
      }
    }
  })();
}
"""


class Receiver:
    """A webhook receiver in a thread: the wall time each zone's alert.raised arrived."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> dict[str, bool]:
            doc = json.loads(await request.body())
            if doc.get("event") == "alert.raised":
                self.seen.setdefault(doc["alert"]["zone"], time.time())
            return {"ok": True}

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def _fleet(agents: int, stack: LocalStack, state: Path) -> subprocess.Popen[bytes] | None:
    if agents <= 0:
        return None
    scenario = state / "load.yaml"
    scenario.write_text(
        "name: load\nseed: 1\n"
        f'start: "{datetime.now(UTC).isoformat()}"\nduration: 1d\nspeed: 1\n'
        f"city: {{devices: {agents}}}\n"
    )
    args = [sys.executable, "-m", "trygg.cli", "sim", "--scenario", str(scenario)]
    args += ["--mqtt-port", str(stack.ports.mqtt), "--state-dir", str(state / "sim")]
    return subprocess.Popen(
        ["nice", "-n", "19", *args],
        stdout=(state / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


async def bench(alerts: int, agents: int, zone_properties: dict[str, Any]) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        stack = LocalStack(
            state_dir=state / "stack",
            ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
        )
        await asyncio.to_thread(stack.up)
        fleet = _fleet(agents, stack, state)
        try:
            return await _measure(stack, state, alerts, zone_properties, async_playwright)
        finally:
            if fleet is not None:
                fleet.terminate()
                fleet.wait(timeout=120)
            await asyncio.to_thread(stack.down)


async def _measure(
    stack: LocalStack,
    state: Path,
    alerts: int,
    zone_properties: dict[str, Any],
    async_playwright: Any,
) -> dict[str, Any]:
    clock = SystemClock()
    api_port = free_port()
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db="bench",
        database_url=f"sqlite:///{state}/hub.sqlite",
        client_id="bench-hub",
        share_group="bench",
        batch_max_delay_s=0.05,
        tick_s=1.0,
        api_port=api_port,
        api=ApiConfig(webhook_allow=("127.0.0.1",)),
    )
    hub = Hub.build(settings, clock)
    register(hub.sessions, [(DEVICE, "arena")])
    now = clock.now()
    admin = auth.bootstrap_token(hub.sessions, name="bench-admin", role="admin", now=now)
    operator = auth.bootstrap_token(hub.sessions, name="bench-op", role="operator", now=now)
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop))
    base = f"http://127.0.0.1:{api_port}"
    zones = [f"{DEVICE}-crowd{i}" for i in range(alerts)]
    with Receiver() as receiver:
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:
            for _ in range(300):  # the hub's API starts once SQL and the broker answer
                try:
                    if (await api.get("/health")).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            r = await api.post(
                "/api/v1/webhooks",
                headers={"Authorization": f"Bearer {admin}"},
                json={"url": f"http://127.0.0.1:{receiver.port}/hook", "events": ["alert.raised"]},
            )
            r.raise_for_status()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page()
            await page.goto(f"{base}/health")
            await page.evaluate(WATCH_JS, [operator])
            delays = await _drive(stack, zones, zone_properties, page, receiver)
            await browser.close()
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    page_s = [d["page"] for d in delays if d["page"] is not None]
    hook_s = [d["webhook"] for d in delays if d["webhook"] is not None]

    def summary(values: list[float]) -> dict[str, float | int | None]:
        if not values:
            return {"n": 0, "p50_s": None, "p95_s": None}
        return {
            "n": len(values),
            "p50_s": round(statistics.median(values), 3),
            "p95_s": round(_pct(values, 0.95), 3),
            "max_s": round(max(values), 3),
        }

    return {
        "alerts": alerts,
        "reading_to_page": summary(page_s),
        "reading_to_webhook": summary(hook_s),
        "missed_page": alerts - len(page_s),
        "missed_webhook": alerts - len(hook_s),
        "target_p95_s": 2.0,
    }


async def _drive(
    stack: LocalStack,
    zones: list[str],
    zone_properties: dict[str, Any],
    page: Any,
    receiver: Receiver,
) -> list[dict[str, float | None]]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-edge", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", stack.ports.mqtt)
    client.loop_start()

    def publish(kind: c.Kind, msg: Any) -> None:
        client.publish(c.topic_for(DEVICE, kind), c.encode(msg), qos=1).wait_for_publish(10)

    birth = c.Birth(
        device=DEVICE,
        boot=1,
        ts=to_ms(datetime.now(UTC)),
        firmware="bench",
        site="arena",
        heartbeat_s=3600,
        low=1,
        assets=[
            c.AssetInfo(
                id=z,
                kind=c.AssetKind.CROWD,
                lat=59.3727,
                lon=18.0003,
                properties={"zoneArea": 100.0, **zone_properties},
            )
            for z in zones
        ],
    )
    await asyncio.to_thread(publish, c.Kind.BIRTH, birth)
    await asyncio.sleep(2.0)
    seq = 0
    out: list[dict[str, float | None]] = []
    for zone in zones:
        first = time.time()
        deadline = first + 15
        got_page: float | None = None
        while time.time() < deadline:
            seq += 1
            readings = [
                c.Reading(
                    asset=zone,
                    kind=c.AssetKind.CROWD,
                    sensor="vision",
                    field=f,
                    t=to_ms(datetime.now(UTC)),
                    v=v,
                )
                for f, v in (
                    ("peopleCount", 250),
                    ("peopleDensity", 2.5),
                    ("levelOfService", "F"),
                    ("congested", True),
                )
            ]
            data = c.Data(device=DEVICE, site="arena", boot=1, seq=seq, readings=readings)
            await asyncio.to_thread(publish, c.Kind.DATA, data)
            until = min(deadline, time.time() + 1.0)
            while time.time() < until:
                seen = await page.evaluate("window.seen")
                got_page = seen.get(zone, None)
                if got_page is not None and zone in receiver.seen:
                    break
                await asyncio.sleep(0.01)
            if got_page is not None and zone in receiver.seen:
                break
        hook = receiver.seen.get(zone)
        out.append(
            {
                "page": None if got_page is None else got_page / 1000 - first,
                "webhook": None if hook is None else hook - first,
            }
        )
    client.disconnect()
    client.loop_stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=120)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--zone-properties", default="{}", help="JSON merged into each zone")
    parser.add_argument("--out", default=str(RESULTS / "alerts.json"))
    args = parser.parse_args()
    if importlib.util.find_spec("hub.alerts") is None:
        print("alerts: skipped: this hub has no alert lifecycle (hub.alerts) to measure")
        return 0
    if not CHROMIUM.exists():
        print(f"alerts: skipped: {CHROMIUM} is missing (apt-get install chromium)")
        return 0
    props = json.loads(args.zone_properties)
    result = asyncio.run(bench(args.alerts, args.agents, props))
    result["agents"] = args.agents
    result["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    page, hook = result["reading_to_page"], result["reading_to_webhook"]
    print(
        f"alerts: {args.alerts} alerts, {args.agents} agents: reading->page p50 "
        f"{page['p50_s']} s p95 {page['p95_s']} s; reading->webhook p50 {hook['p50_s']} s "
        f"p95 {hook['p95_s']} s (target p95 < 2 s; missed {result['missed_page']} page, "
        f"{result['missed_webhook']} webhook) -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
