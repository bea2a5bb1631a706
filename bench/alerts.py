"""Alert latency: an edge crowd reading at level of service F -> the alert on the operator
page in a headless Chromium and at a webhook receiver, through the real broker and hub,
while a simulated fleet keeps them at their normal load. Run as
``.venv/bin/python -m bench.alerts [--alerts 100] [--agents 1000]``; a small run is
``--alerts 20 --agents 0``.

Bench devices announce ``--alerts`` crowd zones (50 a device: the hub lets a device own
at most 64 assets) and send each zone, one every ``--pace`` seconds, a reading at level of
service F, again every second until both receivers have the alert. Each zone's rule hold is zero (``--zone-properties``, default ``{"losMinS": 0}``):
what is measured is the pipeline, not the configured minimum duration, which adds to it.
The delay counts from the first F reading's publish, and is split where the bench can see:

- ``reading_to_broker``: the reading's copy arrives at a subscriber of the bench's own;
- ``broker_to_rule``: the hub's receipt, InfluxDB write and acknowledgement, up to the rule
  deciding (the alert's ``raisedAt``);
- ``rule_to_bus``: the alert's SQL transaction up to its publication on the hub's bus;
- ``bus_to_page``: the server-sent event to the operator page (``/operator/``, logged in)
  until its card is in the page's DOM;
- ``bus_to_webhook``: the delivery lanes until a receiver's POST arrives (JSON).

``--agents`` simulated agents (``trygg sim``, registered with the hub first, every sensor
and flush each ``--fleet-interval`` seconds) load the broker and hub; the bench waits for
their births to reach the hub's rules before measuring. Every wait is bounded
and says what it waited for. Progress goes to stderr; the last line on stdout is the
summary; the full result goes to bench/results/alerts.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.fleet import published
from hub import auth
from hub.alerts.model import Alert
from hub.api.config import ApiConfig
from hub.app import Hub
from hub.devices import register
from hub.settings import HubSettings
from sim.city import build_city
from trygg import contract as c
from trygg.clock import SystemClock, to_ms
from trygg.stack import LocalStack, StackPorts, free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHROMIUM = Path("/usr/bin/chromium")
DEVICE = "bench-arena"
ZONES_PER_DEVICE = 50  # the hub lets one device own at most 64 assets
STAGES = ("reading_to_broker", "broker_to_rule", "rule_to_bus", "bus_to_page", "bus_to_webhook")
# Logs the operator page in and notes when each alert's card first appears in its DOM.
PAGE_JS = """
sessionStorage.setItem('trygg.token', %s);
const seen = {};
new MutationObserver(() => {
  for (const li of document.querySelectorAll('#alerts li[data-alert]')) {
    const id = li.dataset.alert;
    if (!(id in seen)) { seen[id] = Date.now(); window.tryggSeen(id, seen[id]); }
  }
}).observe(document, {childList: true, subtree: true});
"""


class BenchError(RuntimeError):
    """A bounded wait ran out or a part refused; the message says which."""


def say(text: str) -> None:
    print(f"alerts: {text}", file=sys.stderr, flush=True)


@dataclass
class Arrivals:
    """Wall times (s) per zone at each place the bench watches, fed from any thread."""

    loop: asyncio.AbstractEventLoop
    times: dict[str, dict[str, float]] = field(default_factory=dict)
    raised: dict[str, float] = field(default_factory=dict)  # zone -> the alert's raisedAt
    zone_of: dict[str, str] = field(default_factory=dict)  # alert id -> zone
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def note(self, where: str, zone: str, t: float) -> None:
        self.loop.call_soon_threadsafe(self._note, where, zone, t)

    def _note(self, where: str, zone: str, t: float) -> None:
        self.times.setdefault(zone, {}).setdefault(where, t)
        self.changed.set()

    def on_bus(self, alert: Alert) -> None:
        """From the rules' thread, after the alert's transaction committed."""
        if alert.status == "raised" and alert.zone.startswith(DEVICE):
            t = time.time()
            self.loop.call_soon_threadsafe(self._raised, alert, t)

    def _raised(self, alert: Alert, t: float) -> None:
        self.zone_of[str(alert.id)] = alert.zone
        self.raised.setdefault(alert.zone, alert.raised_at.timestamp())
        self._note("bus", alert.zone, t)

    def on_page(self, alert_id: str, t_ms: float) -> None:
        zone = self.zone_of.get(alert_id)
        if zone is not None:
            self._note("page", zone, t_ms / 1000)

    def has(self, zone: str, *wheres: str) -> bool:
        got = self.times.get(zone, {})
        return all(w in got for w in wheres)


def receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    """A webhook receiver on a free loopback port, serving from its own thread."""

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            t = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()
            doc = json.loads(body)
            if doc.get("event") == "alert.raised":
                arrivals.note("webhook", doc["alert"]["zone"], t)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return server


async def until(what: str, check: Callable[[], bool | Awaitable[bool]], within: float) -> None:
    """Wait until ``check`` holds; BenchError naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        got = check()
        if not isinstance(got, bool):
            got = await got
        if got:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"gave up after {within:g} s waiting for {what}")
        await asyncio.sleep(0.2)


def _fleet(opts: Options, stack: LocalStack, state: Path) -> subprocess.Popen[bytes]:
    agents, seed = opts.agents, opts.seed
    scenario = state / "load.yaml"
    scenario.write_text(
        f"name: load\nseed: {seed}\n"
        f'start: "{datetime.now(UTC).isoformat()}"\nduration: 1d\nspeed: 1\n'
        f"city: {{devices: {agents}}}\n"
    )
    args = [sys.executable, "-m", "trygg.cli", "sim", "--scenario", str(scenario)]
    args += ["--mqtt-port", str(stack.ports.mqtt), "--state-dir", str(state / "sim")]
    args += ["--interval", str(opts.fleet_interval_s)]
    # the hub is what is measured: on a small machine it gets the CPU first
    return subprocess.Popen(
        ["nice", "-n", "19", *args],
        stdout=(state / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


class Edge:
    """The bench device's MQTT client; it also notes when each reading's copy arrives."""

    def __init__(self, port: int, arrivals: Arrivals) -> None:
        self.arrivals, self.births = arrivals, set[str]()
        self.zone_of_seq: dict[tuple[str, int], str] = {}
        self.seqs: dict[str, int] = {}
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-edge", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(c.subscription(c.Kind.BIRTH), 0), (c.subscription(c.Kind.DATA), 0)])
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        t = time.time()
        device = msg.topic.split("/")[-2]
        if msg.topic.endswith("/" + c.Kind.BIRTH.value):
            self.births.add(device)
            return
        if not device.startswith(DEVICE):
            return
        zone = self.zone_of_seq.get((device, json.loads(msg.payload)["seq"]))
        if zone is not None:
            self.arrivals.note("broker", zone, t)

    def publish(self, kind: c.Kind, msg: c.Birth | c.Data) -> None:
        info = self.client.publish(c.topic_for(msg.device, kind), c.encode(msg), qos=1)
        info.wait_for_publish(10)
        if not info.is_published():
            raise BenchError(f"the broker did not acknowledge a {kind.value} within 10 s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def device_of(zone: str) -> str:
    return zone.rsplit("-crowd", 1)[0]


def _births(zones: list[str], zone_properties: dict[str, Any]) -> list[c.Birth]:
    by_device: dict[str, list[str]] = {}
    for zone in zones:
        by_device.setdefault(device_of(zone), []).append(zone)
    return [_birth(device, zs, zone_properties) for device, zs in by_device.items()]


def _birth(device: str, zones: list[str], zone_properties: dict[str, Any]) -> c.Birth:
    assets = [
        c.AssetInfo(
            id=z,
            kind=c.AssetKind.CROWD,
            lat=59.3727,
            lon=18.0003,
            properties={"zoneArea": 100.0, **zone_properties},
        )
        for z in zones
    ]
    return c.Birth(
        device=device,
        boot=1,
        ts=to_ms(datetime.now(UTC)),
        firmware="bench",
        site="arena",
        heartbeat_s=3600,
        low=1,
        assets=assets,
    )


def _surge(zone: str, seq: int) -> c.Data:
    now = to_ms(datetime.now(UTC))
    fields = (("peopleCount", 250), ("peopleDensity", 2.5), ("levelOfService", "F"))
    readings = [
        c.Reading(asset=zone, kind=c.AssetKind.CROWD, sensor="vision", field=f, t=now, v=v)
        for f, v in (*fields, ("congested", True))
    ]
    return c.Data(device=device_of(zone), site="arena", boot=1, seq=seq, readings=readings)


@dataclass(frozen=True, slots=True)
class Options:
    alerts: int
    agents: int
    zone_properties: dict[str, Any]
    alert_timeout_s: float
    ramp_timeout_s: float
    fleet_interval_s: float
    pace_s: float
    seed: int = 1


async def bench(opts: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        state = Path(tmp)
        stack = LocalStack(
            state_dir=state / "stack",
            ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
        )
        say("starting Mosquitto and InfluxDB")
        await asyncio.wait_for(asyncio.to_thread(stack.up), timeout=120)
        try:
            return await _measure(stack, state, opts)
        finally:
            await asyncio.to_thread(stack.down)


async def _measure(stack: LocalStack, state: Path, opts: Options) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    clock, api_port = SystemClock(), free_port()
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db="bench",
        database_url=f"sqlite:///{state}/hub.sqlite",
        spool_dir=state / "spool",
        client_id="bench-hub",
        share_group="bench",
        batch_max_delay_s=0.05,
        tick_s=1.0,
        api_port=api_port,
        api=ApiConfig(webhook_allow=("127.0.0.1",)),
    )
    hub = Hub.build(settings, clock)
    fleet_ids = (
        [(d.id, d.site) for d in build_city(opts.agents, seed=opts.seed).devices]
        if opts.agents
        else []
    )
    zones = [
        f"{DEVICE}{i // ZONES_PER_DEVICE}-crowd{i % ZONES_PER_DEVICE}" for i in range(opts.alerts)
    ]
    bench_devices = sorted({device_of(z) for z in zones})
    register(hub.sessions, [*((d, "arena") for d in bench_devices), *fleet_ids])
    now = clock.now()
    admin = auth.bootstrap_token(hub.sessions, name="bench-admin", role="admin", now=now)
    operator = auth.bootstrap_token(hub.sessions, name="bench-op", role="operator", now=now)
    arrivals = Arrivals(asyncio.get_running_loop())
    assert hub.rules.watch is not None
    hub.rules.watch.bus.subscribe(arrivals.on_bus)
    stop = asyncio.Event()
    hub_task = asyncio.create_task(hub.run(stop), name="hub")
    edge = Edge(stack.ports.mqtt, arrivals)
    hook = receiver(arrivals)
    fleet: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:

            async def healthy() -> bool:
                if hub_task.done():
                    raise BenchError(f"the hub stopped: {hub_task.exception()!r}")
                try:
                    return (await api.get("/health")).status_code < 500
                except httpx.TransportError:
                    return False

            await until("the hub's API (/health)", healthy, 60)
            say("hub up")
            r = await api.post(
                "/api/v1/webhooks",
                headers={"Authorization": f"Bearer {admin}"},
                json={
                    "url": f"http://127.0.0.1:{hook.server_port}/hook",
                    "events": ["alert.raised"],
                },
            )
            if r.status_code >= 300:
                raise BenchError(f"webhook registration refused: {r.status_code} {r.text}")
        ramp_s = 0.0
        if opts.agents:
            fleet = _fleet(opts, stack, state)
            t0 = time.monotonic()
            await _ramp(hub, edge, fleet, opts, state)
            ramp_s = time.monotonic() - t0
        fleet_births = len(_fleet_births(edge))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = await browser.new_page()
                await page.expose_function("tryggSeen", arrivals.on_page)
                await page.add_init_script(PAGE_JS % json.dumps(operator))
                listeners = _streams(hub)
                await page.goto(f"{base}/operator/")
                await until(
                    "the operator page's alert stream", lambda: _streams(hub) > listeners, 15
                )
                say("operator page live; announcing the zones")
                for birth in _births(zones, opts.zone_properties):
                    edge.publish(c.Kind.BIRTH, birth)
                await until(
                    "the hub to know the bench's zones (hub ingest when the wait began: "
                    f"{hub.ingest.counters.readings} readings, "
                    f"{sum(hub.ingest.counters.dead.values())} dead letters so far)",
                    lambda: all(z in hub.rules.fleet.assets for z in zones),
                    120,
                )
                sim_log = state / "sim.log"
                pub0 = published(sim_log) if fleet else None
                delays = await _drive(edge, zones, arrivals, opts)
                pub1 = published(sim_log) if fleet else None
            finally:
                await browser.close()
    finally:
        edge.close()
        hook.shutdown()
        if fleet is not None:
            fleet.terminate()
            await asyncio.to_thread(fleet.wait, 120)
        stop.set()
        await asyncio.wait_for(hub_task, timeout=60)
    load = None
    if pub0 is not None and pub1 is not None and pub1[1] > pub0[1]:
        load = round((pub1[0] - pub0[0]) / (pub1[1] - pub0[1]), 1)
    return _result(opts, delays, ramp_s=ramp_s, fleet_births=fleet_births, fleet_msgs_per_s=load)


def _streams(hub: Hub) -> int:
    assert hub.rules.watch is not None
    return hub.rules.watch.bus.subscribers


async def _ramp(
    hub: Hub, edge: Edge, fleet: subprocess.Popen[bytes], opts: Options, state: Path
) -> None:
    """Wait for the fleet's births at the broker, then in the hub's rules (all of them, or
    give up naming how many came)."""
    deadline, last = time.monotonic() + opts.ramp_timeout_s, 0.0
    while len(_fleet_births(edge)) < opts.agents:
        if fleet.poll() is not None:
            tail = (state / "sim.log").read_text(errors="replace")[-1500:]
            raise BenchError(f"the simulator exited ({fleet.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            raise BenchError(
                f"only {len(_fleet_births(edge))} of {opts.agents} agents announced "
                f"themselves within {opts.ramp_timeout_s:g} s; try fewer --agents"
            )
        if time.monotonic() - last > 10:
            say(f"fleet: {len(_fleet_births(edge))}/{opts.agents} agents up")
            last = time.monotonic()
        await asyncio.sleep(0.5)
    say(f"fleet: all {opts.agents} agents up")
    deadline, last = time.monotonic() + opts.ramp_timeout_s, 0.0
    while (known := len(_fleet_only(_known_devices(hub)))) < opts.agents:
        if time.monotonic() > deadline:
            raise BenchError(
                f"the hub took in the births of only {known} of {opts.agents} agents within "
                f"{opts.ramp_timeout_s:g} s; try fewer --agents"
            )
        if time.monotonic() - last > 10:
            say(f"hub: births of {known}/{opts.agents} agents taken in")
            last = time.monotonic()
        await asyncio.sleep(0.5)
    settle = max(10.0, 1.5 * opts.fleet_interval_s)
    say(f"hub: every agent's birth taken in; letting the fleet settle {settle:g} s")
    await asyncio.sleep(settle)


def _fleet_births(edge: Edge) -> set[str]:
    return _fleet_only(edge.births)


def _fleet_only(devices: set[str]) -> set[str]:
    return {d for d in devices if not d.startswith(DEVICE)}


def _known_devices(hub: Hub) -> set[str]:
    """Devices whose assets the hub's rules know (from their births)."""
    return {info.device for info in list(hub.rules.fleet.assets.values())}


async def _drive(
    edge: Edge, zones: list[str], arrivals: Arrivals, opts: Options
) -> list[dict[str, float | None]]:
    out, timeout_s, start = [], opts.alert_timeout_s, time.monotonic()
    for i, zone in enumerate(zones):
        # paced, so the measurement spans many of the fleet's reporting intervals
        await asyncio.sleep(max(0.0, start + i * opts.pace_s - time.monotonic()))
        first = time.time()
        deadline = time.monotonic() + timeout_s
        while not arrivals.has(zone, "page", "webhook") and time.monotonic() < deadline:
            device = device_of(zone)
            seq = edge.seqs[device] = edge.seqs.get(device, 0) + 1
            edge.zone_of_seq[(device, seq)] = zone
            await asyncio.to_thread(edge.publish, c.Kind.DATA, _surge(zone, seq))
            resend = min(deadline, time.monotonic() + 1.0)
            while not arrivals.has(zone, "page", "webhook") and time.monotonic() < resend:
                arrivals.changed.clear()
                try:
                    await asyncio.wait_for(arrivals.changed.wait(), resend - time.monotonic())
                except TimeoutError:
                    break
        got = arrivals.times.get(zone, {})
        if not arrivals.has(zone, "page", "webhook"):
            missing = [w for w in ("broker", "bus", "page", "webhook") if w not in got]
            say(f"zone {zone}: no {', '.join(missing)} within {timeout_s:g} s")
        raised = arrivals.raised.get(zone)
        out.append(_stages(first, got, raised))
        if (i + 1) % 10 == 0 or i + 1 == len(zones):
            done = [d["reading_to_page"] for d in out if d["reading_to_page"] is not None]
            p50 = f"{statistics.median(done):.3f} s" if done else "-"
            say(f"{i + 1}/{len(zones)} alerts; reading->page median so far {p50}")
    return out


def _stages(first: float, got: dict[str, float], raised: float | None) -> dict[str, float | None]:
    def span(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    broker, bus = got.get("broker"), got.get("bus")
    return {
        "reading_to_page": span(first, got.get("page")),
        "reading_to_webhook": span(first, got.get("webhook")),
        "reading_to_broker": span(first, broker),
        "broker_to_rule": span(broker, raised),
        "rule_to_bus": span(raised, bus),
        "bus_to_page": span(bus, got.get("page")),
        "bus_to_webhook": span(bus, got.get("webhook")),
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_s": None, "p95_s": None, "max_s": None}
    return {
        "n": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p95_s": round(_pct(values, 0.95), 3),
        "max_s": round(max(values), 3),
    }


def _result(
    opts: Options,
    delays: list[dict[str, float | None]],
    *,
    ramp_s: float,
    fleet_births: int,
    fleet_msgs_per_s: float | None,
) -> dict[str, Any]:
    def col(key: str) -> list[float]:
        return [v for d in delays if (v := d[key]) is not None]

    return {
        "alerts": opts.alerts,
        "agents": opts.agents,
        "agents_announced": fleet_births,
        "fleet_interval_s": opts.fleet_interval_s,
        "pace_s": opts.pace_s,
        "ramp_s": round(ramp_s, 1),
        "fleet_msgs_per_s_while_measuring": fleet_msgs_per_s,
        "zone_properties": opts.zone_properties,
        "reading_to_page": _summary(col("reading_to_page")),
        "reading_to_webhook": _summary(col("reading_to_webhook")),
        "where_the_time_goes": {k: _summary(col(k)) for k in STAGES},
        "missed_page": opts.alerts - len(col("reading_to_page")),
        "missed_webhook": opts.alerts - len(col("reading_to_webhook")),
        "target_p95_s": 2.0,
        "load_average_at_end": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=100, help="alerts to measure (>= 1)")
    parser.add_argument("--agents", type=int, default=1000, help="simulated agents as load")
    parser.add_argument(
        "--zone-properties", default='{"losMinS": 0}', help="JSON merged into each zone"
    )
    parser.add_argument("--alert-timeout", type=float, default=15.0, help="seconds per alert")
    parser.add_argument("--ramp-timeout", type=float, default=600.0, help="seconds for the fleet")
    parser.add_argument(
        "--fleet-interval", type=float, default=10.0, help="the agents' sensor and flush interval"
    )
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between alert starts")
    parser.add_argument("--out", default=str(RESULTS / "alerts.json"))
    args = parser.parse_args()
    if args.alerts < 1 or args.agents < 0:
        parser.error("--alerts must be >= 1 and --agents >= 0")
    try:
        props = json.loads(args.zone_properties)
    except json.JSONDecodeError as exc:
        parser.error(f"--zone-properties is not JSON: {exc}")
    if not isinstance(props, dict):
        parser.error("--zone-properties must be a JSON object")
    if not CHROMIUM.exists():
        print(f"alerts: skipped: {CHROMIUM} is missing (apt-get install chromium)")
        return 0
    opts = Options(
        args.alerts,
        args.agents,
        props,
        args.alert_timeout,
        args.ramp_timeout,
        args.fleet_interval,
        args.pace,
    )
    try:
        result = asyncio.run(bench(opts))
    except BenchError as exc:
        print(f"alerts: failed: {exc}")
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    page, hook = result["reading_to_page"], result["reading_to_webhook"]
    print(
        f"alerts: {args.alerts} alerts, {result['agents_announced']}/{args.agents} agents: "
        f"reading->page p50 {page['p50_s']} s p95 {page['p95_s']} s; reading->webhook p50 "
        f"{hook['p50_s']} s p95 {hook['p95_s']} s (target p95 < 2 s; missed "
        f"{result['missed_page']} page, {result['missed_webhook']} webhook) -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
