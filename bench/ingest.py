"""Hub ingest drain benchmark: ``python -m bench.ingest`` (from the project root).

Against a real Mosquitto and InfluxDB (the local stack, started here in a temp dir): a
backlog is preloaded into the hub's persistent session while the hub is stopped, then the
hub is started and timed until the last reading is queryable in InfluxDB. For each workload
(100,000 one-reading messages; 20,000 messages of 20 readings; 500 devices) it reports, in
the same run:

1. the hub's drain rate (readings/s and messages/s);
2. the two ceilings of this machine: a subscriber that only receives and acknowledges the
   same backlog (through the hub's own MQTT connection, batch acks) and InfluxDB's own single-thread
   write rate for the same points pre-encoded in 5000-line batches (the best of 3 passes);
3. the ratio of 1 to the lower ceiling, and to InfluxDB's ceiling alone: the subscriber
   ceiling is the checkout's own client, so only the latter compares across commits.

Other engineers' work shares this 2-core machine, so figures move between runs; compare the
ratio, which is measured in the same run; each workload is measured ``--rounds`` times (3)
and the round with the median ratio reported. Prints one summary line last and writes
bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.app import Hub
from hub.devices import register
from hub.settings import HubSettings
from trygg import contract as c
from trygg.clock import SystemClock
from trygg.mqtt import Connection, MqttSettings
from trygg.stack import LocalStack, StackPorts, free_port

RESULTS = Path(__file__).resolve().parent / "results"
DEVICES = 500
T0 = 1_790_000_000_000
POLL_S = 0.005


def payload(device: str, seq: int, readings: int) -> bytes:
    body = ",".join(
        f'{{"asset":"{device}-a","kind":"device","sensor":"pi","field":"cpuLoad",'
        f'"t":{T0 + seq * 100 + i},"v":{((seq * 31 + i) % 1000) / 1000!r}}}'
        for i in range(readings)
    )
    return (
        f'{{"v":1,"device":"{device}","site":"bench","boot":1,"seq":{seq},'
        f'"historical":true,"readings":[{body}]}}'
    ).encode()


def backlog(messages: int, readings: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(messages):
        device = f"dev-{i % DEVICES:03d}"
        out.append((c.topic_for(device, c.Kind.DATA), payload(device, i // DEVICES + 1, readings)))
    return out


def tail(items: list[tuple[str, bytes]]) -> tuple[int, int]:
    """The earliest time of any device's last message, and how many readings are at or
    after it: once those are queryable, so is the whole backlog."""
    messages = [c.decode(c.Kind.DATA, body) for _topic, body in items]
    last = {msg.device: msg for msg in messages}
    since = min(r.t for msg in last.values() for r in msg.readings)
    count = sum(r.t >= since for msg in messages for r in msg.readings)
    return since, count


def preload(port: int, items: list[tuple[str, bytes]]) -> float:
    """Publish QoS 1 and wait for every PUBACK; returns seconds."""
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(0)
    pub.max_queued_messages_set(0)
    acked = [0]
    pub.on_publish = lambda *_a: acked.__setitem__(0, acked[0] + 1)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    started = time.perf_counter()
    for i, (topic, body) in enumerate(items):
        pub.publish(topic, body, qos=1)
        if i % 10_000 == 9_999:  # stay under the broker's receive maximum
            while acked[0] < i - 5_000:
                time.sleep(0.005)
    deadline = time.monotonic() + 300
    while acked[0] < len(items) and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    pub.disconnect()
    pub.loop_stop()
    return elapsed


def _session(port: int, client_id: str) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
    )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 20_000
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    return client


def forget_session(port: int, client_id: str) -> None:
    """End a persistent session: otherwise the broker goes on queueing every later
    measurement's backlog for it too (work that would slow whatever is measured next)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port, clean_start=True)  # no session expiry: ends at close
    client.loop_start()
    client.disconnect()
    client.loop_stop()


def noop_drain(port: int, items: list[tuple[str, bytes]]) -> float:
    """Receive-and-acknowledge ceiling of plain paho (threaded, one ack per message), the
    independent reference: returns messages/s."""
    cid = f"noop-paho-{time.monotonic_ns()}"
    topic = f"$share/{cid}/{c.subscription(c.Kind.DATA)}"
    sub = _session(port, cid)
    sub.loop_start()
    time.sleep(0.2)
    sub.subscribe(topic, 1)
    time.sleep(0.3)
    sub.disconnect()
    sub.loop_stop()
    preload(port, items)
    lock, mids, done, got = threading.Lock(), [], threading.Event(), [0]

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        with lock:
            mids.append(msg.mid)
        got[0] += 1
        if got[0] >= len(items):
            done.set()

    sub = _session(port, cid)
    sub.on_message = on_message
    started = time.perf_counter()
    sub.loop_start()
    deadline = time.monotonic() + 300
    while not done.wait(0.005) and time.monotonic() < deadline:
        with lock:
            batch, mids[:] = list(mids), []
        for mid in batch:
            sub.ack(mid, 1)
    elapsed = time.perf_counter() - started
    sub.disconnect()
    sub.loop_stop()
    forget_session(port, cid)
    return got[0] / elapsed


async def connection_drain(port: int, items: list[tuple[str, bytes]]) -> float:
    """Receive-and-acknowledge ceiling of the hub's own MQTT connection (batch acks, the
    read-ahead the hub uses): returns messages/s."""
    cid = f"noop-trygg-{time.monotonic_ns()}"
    settings = MqttSettings(
        "127.0.0.1",
        port,
        cid,
        clean_start=False,
        session_expiry_s=3600,
        receive_maximum=20_000,
    )
    async with Connection(settings, manual_ack=True) as conn:
        await conn.subscribe(f"$share/{cid}/{c.subscription(c.Kind.DATA)}")
    await asyncio.to_thread(preload, port, items)
    got = 0
    started = time.perf_counter()  # before the connect: the broker sends as soon as it accepts
    async with Connection(settings, manual_ack=True, read_ahead=2000) as conn:  # as hub/ingest.py
        while got < len(items):
            batch = await asyncio.wait_for(conn.messages(), timeout=300)
            conn.ack_many(batch)
            got += len(batch)
        elapsed = time.perf_counter() - started
    await asyncio.to_thread(forget_session, port, cid)
    return got / elapsed


def influx_ceiling(url: str, items: list[tuple[str, bytes]], passes: int = 3) -> list[float]:
    """InfluxDB's single-thread raw write rate, same points pre-encoded: readings/s of each
    pass, each into a new database (the best is the ceiling)."""
    from hub.lineproto import reading_lines

    lines: list[str] = []
    for topic, body in items:
        msg = c.decode(c.Kind.DATA, body)
        lines += reading_lines(device=c.parse_topic(topic)[0], site=msg.site, readings=msg.readings)
    bodies = ["\n".join(lines[i : i + 5000]).encode() for i in range(0, len(lines), 5000)]
    rates = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(passes):
            client.post("/query", data={"q": 'CREATE DATABASE "ceiling"'})
            started = time.perf_counter()
            for body in bodies:
                client.post("/write", params={"db": "ceiling", "precision": "ms"}, content=body)
            rates.append(len(lines) / (time.perf_counter() - started))
            client.post("/query", data={"q": 'DROP DATABASE "ceiling"'})
    return rates


async def hub_drain(
    settings: HubSettings, stack: LocalStack, items: list[tuple[str, bytes]], readings: int
) -> dict[str, float]:
    clock = SystemClock()
    hub = Hub.build(settings, clock)
    register(hub.sessions, [(f"dev-{i:03d}", "bench") for i in range(DEVICES)])
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop, serve_api=False))
    await asyncio.wait_for(hub.ingest.connected.wait(), 60)  # creates the persistent session
    stop.set()
    await task
    preload_s = await asyncio.to_thread(preload, stack.ports.mqtt, items)
    total = len(items) * readings
    tail_t, tail_expected = tail(items)
    hub = Hub.build(settings, clock)
    # The ingest pipeline alone: the rules run behind it through a bounded queue,
    # and on SQLite they share one writer lock with the ingest's commits.
    hub.ingest.feed.sink = None
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(hub.run(stop, serve_api=False))
    # The clock stops once the last message of every device is queryable (a count over the
    # backlog's tail: the hub counts a reading only after InfluxDB's 204 for its write, so
    # by then every earlier one is queryable too). A count of the whole backlog, InfluxDB's
    # time and not part of the hub's work, is then checked and timed separately.
    base = 'SELECT count("cpuLoad") FROM "raw"."device"'
    async with httpx.AsyncClient(base_url=stack.influx_url, timeout=30) as client:

        async def count(where: str = "") -> int:
            resp = await client.get("/query", params={"db": settings.influx_db, "q": base + where})
            series = resp.json()["results"][0].get("series")
            return int(series[0]["values"][0][1]) if series else 0

        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            # Finely enough that the poll adds little to a drain of about a second. Only
            # the counter is read this often; InfluxDB is asked once the hub has counted
            # every reading stored.
            await asyncio.sleep(POLL_S)
            if hub.ingest.counters.readings < total:
                continue
            if await count(f" WHERE time >= {tail_t}ms") >= tail_expected:
                break
        elapsed = time.perf_counter() - started
        stored = await count()
        full_count_s = time.perf_counter() - started
        # Counted: its compactions would slow what is measured after it.
        await client.post("/query", data={"q": f'DROP DATABASE "{settings.influx_db}"'})
    counters = hub.ingest.counters
    stop.set()
    await task
    await asyncio.to_thread(forget_session, stack.ports.mqtt, settings.client_id)
    if stored != total:
        raise SystemExit(f"hub stored {stored} of {total} readings")
    return {
        "preload_s": preload_s,
        "drain_s": elapsed,
        "drain_and_full_count_s": full_count_s,
        "stored": stored,
        "accepted": counters.readings,
        "duplicates": counters.duplicates,
        "readings_per_s": stored / elapsed,
        "messages_per_s": len(items) / elapsed,
    }


def run_round(
    stack: LocalStack, tmp: Path, name: str, items: list[tuple[str, bytes]], readings: int
) -> dict[str, Any]:
    """One measurement of the hub and both ceilings, each on its own session and database."""
    settings = HubSettings(
        mqtt_port=stack.ports.mqtt,
        influx_url=stack.influx_url,
        influx_db=f"bench_{name}",
        database_url=f"sqlite:///{tmp}/hub-{name}.sqlite",
        client_id=f"bench-hub-{name}",
        share_group=f"bench-{name}",
        spool_dir=tmp / "spool",
        api_port=free_port(),
        gauges_s=3600,
    )
    hub = asyncio.run(hub_drain(settings, stack, items, readings))
    sub_fast = asyncio.run(connection_drain(stack.ports.mqtt, items))
    sub_paho = noop_drain(stack.ports.mqtt, items)
    passes = influx_ceiling(stack.influx_url, items)
    influx = max(passes)
    ceilings = {"subscriber_readings_per_s": sub_fast * readings, "influx_readings_per_s": influx}
    lower = min(ceilings.values())
    return {
        "hub": hub,
        "ceiling_subscriber_messages_per_s": sub_fast,
        "plain_paho_subscriber_messages_per_s": sub_paho,
        "ceiling_influx_readings_per_s": influx,
        "influx_passes_readings_per_s": passes,
        "lower_ceiling": min(ceilings, key=lambda k: ceilings[k]),
        "ratio_to_lower_ceiling": hub["readings_per_s"] / lower,
        # The same denominator whichever client the checkout has: compare this across commits.
        "ratio_to_influx": hub["readings_per_s"] / influx,
    }


def run_workload(
    stack: LocalStack, tmp: Path, name: str, messages: int, readings: int, *, rounds: int
) -> dict[str, Any]:
    """``rounds`` measurements; the round with the median ratio is the result (on a
    shared machine the figures, InfluxDB's ceiling most of all, move between runs)."""
    items = backlog(messages, readings)
    runs = []
    for i in range(rounds):
        runs.append(run_round(stack, tmp, f"{name}{i}", items, readings))
        r = runs[-1]
        print(
            f"{name} round {i + 1}/{rounds}: hub {r['hub']['readings_per_s']:,.0f} readings/s "
            f"{r['hub']['messages_per_s']:,.0f} msg/s; ceilings: subscriber "
            f"{r['ceiling_subscriber_messages_per_s']:,.0f} msg/s (plain paho "
            f"{r['plain_paho_subscriber_messages_per_s']:,.0f}), influx "
            f"{r['ceiling_influx_readings_per_s']:,.0f} readings/s; ratio "
            f"{r['ratio_to_lower_ceiling']:.2f} ({r['ratio_to_influx']:.2f} of influx)",
            flush=True,
        )
    ranked = sorted(runs, key=lambda r: float(r["ratio_to_lower_ceiling"]))
    return {
        "messages": messages,
        "readings_per_message": readings,
        "devices": DEVICES,
        **ranked[len(ranked) // 2],
        "ratios": [r["ratio_to_lower_ceiling"] for r in runs],
        "rounds": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="backlog size factor")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per workload")
    parser.add_argument(
        "--only", choices=("single", "batched"), help="one workload (no summary line, no JSON)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result: dict[str, Any] = {"note": "2-core shared machine; compare ratios"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stack = LocalStack(
            state_dir=tmp / "stack", ports=StackPorts(free_port(), free_port(), free_port())
        )
        stack.up()
        try:
            for name, messages, readings in (("single", 100_000, 1), ("batched", 20_000, 20)):
                if args.only not in (None, name):
                    continue
                n = max(DEVICES, int(messages * args.scale))
                result[name] = run_workload(stack, tmp, name, n, readings, rounds=args.rounds)
        finally:
            stack.down()
    if args.only:
        return 0
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2))
    s, b = result["single"], result["batched"]
    print(
        f"ingest (median of {args.rounds} rounds): 1-reading {s['hub']['messages_per_s']:,.0f} "
        f"msg/s (ratio {s['ratio_to_lower_ceiling']:.2f} of {s['lower_ceiling']}); 20-reading "
        f"{b['hub']['readings_per_s']:,.0f} readings/s (ratio {b['ratio_to_lower_ceiling']:.2f} "
        f"of {b['lower_ceiling']}, influx ceiling {b['ceiling_influx_readings_per_s']:,.0f}/s; "
        f"ratios {' / '.join(f'{x:.2f}' for x in b['ratios'])})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
