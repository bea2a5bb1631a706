"""Scale: 10,000 real edge agents against the local stack and one hub, one message per
device every 10 s. Run as ``.venv/bin/python -m bench.fleet [--devices N] [--seconds S]``.

The agents are the edge's own Agent class on simulated drivers, each with its own MQTT
connection and SQLite outbox, spread over worker processes (``trygg sim --mqtt-port``)
as the file-descriptor limit requires (1,000 per process, ~4 descriptors each); the hub runs
as its own process (``trygg hub``, SQL on a PostgreSQL server of its own) so its CPU can be
read from /proc. On a 2-core box the simulator's agents alone want more than the machine, so
``--sim-nice 19`` lets the hub (the system under test) have the CPU first, and
``--boot-seconds`` spreads the agents' first connects (births) over that time. Measured over
a steady window after every agent is up:

- broker's ``$SYS/broker/clients/connected`` (the proof of N connections);
- hub CPU (% of one core) and the broker's and workers' CPU;
- simulator memory per agent (workers' RSS / agents, and the same less an idle worker);
- end-to-end delay for a sample of devices: measurement time -> the hub's acknowledgement
  (stored in InfluxDB and SQL), and publish -> acknowledgement.

Writes bench/results/fleet.json; the last line printed is the one-line summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.db import open_database
from hub.devices import register
from sim.city import build_city
from sim.demo import processes_for
from trygg import contract as c
from trygg.mqtt import Connection, MqttSettings
from trygg.pgserver import PostgresServer
from trygg.stack import LocalStack, StackPorts, free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
    return out


class Probe:
    """Watches $SYS and a sample of devices' data and acknowledgements."""

    def __init__(self, port: int, sample: list[str]) -> None:
        self.port = port
        self.sample = sample
        self.connected = 0
        self.received_total: int | None = None
        self.sent: dict[tuple[str, int], tuple[int, float]] = {}  # -> (oldest reading ms, seen)
        self.delays_measured: list[float] = []
        self.delays_published: list[float] = []
        self.recording = False

    async def run(self, stop: asyncio.Event) -> None:
        settings = MqttSettings(host="127.0.0.1", port=self.port, client_id="bench-probe")
        async with Connection(settings) as conn:
            await conn.subscribe("$SYS/broker/clients/connected", "$SYS/broker/messages/received")
            for d in self.sample:
                await conn.subscribe(c.topic_for(d, c.Kind.DATA), c.topic_for(d, c.Kind.ACK))
            while not stop.is_set():
                getter = asyncio.ensure_future(conn.messages())
                waiter = asyncio.ensure_future(stop.wait())
                await asyncio.wait([getter, waiter], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if not getter.done():
                    getter.cancel()
                    return
                now = time.time()
                for msg in getter.result():
                    self._on(msg.topic, msg.payload, msg.retain, now)

    def _on(self, topic: str, payload: bytes, retain: bool, now: float) -> None:
        if topic == "$SYS/broker/clients/connected":
            self.connected = int(payload)
            return
        if topic == "$SYS/broker/messages/received":
            self.received_total = int(payload)
            return
        if retain:
            return
        device, kind = c.parse_topic(topic)
        if kind == c.Kind.DATA:
            data = c.decode(kind, payload)
            self.sent[(device, data.seq)] = (min(r.t for r in data.readings), now)
        elif kind == c.Kind.ACK:
            # Acknowledged messages leave ``sent`` whether or not the window is open: one
            # kept from before the window would count the whole ramp as its delay.
            ack = c.decode(kind, payload)
            for key in [k for k in self.sent if k[0] == device and k[1] <= ack.seq]:
                oldest_ms, seen = self.sent.pop(key)
                if self.recording:
                    self.delays_measured.append(now - oldest_ms / 1000)
                    self.delays_published.append(now - seen)


def published(sim_log: Path) -> tuple[int, float] | None:
    """Messages the agents have published so far and when: the simulator's latest counter
    line (its clock runs at speed 1 here)."""
    for line in reversed(sim_log.read_text(errors="replace").splitlines()):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            stats = json.loads(line)
            return int(stats["published"]), datetime.fromisoformat(stats["sim_time"]).timestamp()
    return None


def _rate(start: tuple[int, float] | None, end: tuple[int, float] | None) -> float | None:
    if start is None or end is None or end[1] <= start[1]:
        return None
    return round((end[0] - start[0]) / (end[1] - start[1]), 1)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(
    devices: int,
    *,
    seconds: float,
    interval: float,
    processes: int | None,
    database: str,
    boot_s: float,
    sim_nice: int,
) -> dict[str, Any]:
    state = ROOT / "state" / "bench-fleet"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    stack = LocalStack(
        state_dir=state / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
    )
    await asyncio.to_thread(stack.up)
    procs: list[subprocess.Popen[bytes]] = []
    # A server of the bench's own, with PostgreSQL's default durability like production's.
    pg = PostgresServer(durable=True) if database == "postgres" else None
    try:
        if pg:
            await asyncio.to_thread(pg.start)
            db_url = pg.url("postgres")
        else:
            db_url = f"sqlite:///{state / 'hub.sqlite'}"
        city = build_city(devices, seed=1)
        register(open_database(db_url), [(d.id, d.site) for d in city.devices])
        scenario = state / "scale.yaml"
        scenario.write_text(
            "name: scale\nseed: 1\n"
            f'start: "{datetime.now(UTC).isoformat()}"\nduration: 1d\nspeed: 1\n'
            f"city: {{devices: {devices}}}\n"
        )
        env = {**os.environ, "TRYGG_SPOOL_DIR": str(state / "spool")}
        hub = await asyncio.to_thread(
            subprocess.Popen,
            [
                sys.executable,
                "-m",
                "trygg.cli",
                "hub",
                "--mqtt-port",
                str(stack.ports.mqtt),
                "--influx-url",
                stack.influx_url,
                "--database-url",
                db_url,
                "--api-port",
                str(free_port()),
            ],
            env=env,
            stdout=(state / "hub.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append(hub)
        sim_args = [
            sys.executable,
            "-m",
            "trygg.cli",
            "sim",
            "--scenario",
            str(scenario),
            "--mqtt-port",
            str(stack.ports.mqtt),
            "--interval",
            str(interval),
            "--state-dir",
            str(state / "sim"),
        ]
        if processes:
            sim_args += ["--processes", str(processes)]
        per_process = devices / (processes or processes_for(devices, None))
        stagger_s = max(0.01, boot_s / per_process)  # each worker boots its agents in boot_s
        if sim_nice:  # the hub is what is measured: on a small box it gets the CPU first
            sim_args = ["nice", "-n", str(sim_nice), *sim_args]
        sim = await asyncio.to_thread(
            subprocess.Popen,
            sim_args,
            env={**os.environ, "TRYGG_SIM_STAGGER_S": str(stagger_s)},
            stdout=(state / "sim.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append(sim)
        sample = [d.id for d in city.devices[:: max(1, devices // 50)]]
        probe = Probe(stack.ports.mqtt, sample)
        stop = asyncio.Event()
        task = asyncio.create_task(probe.run(stop))
        t0 = time.monotonic()
        target = devices + 1  # the agents and the hub
        while probe.connected < target and time.monotonic() - t0 < 900:
            if sim.poll() is not None or hub.poll() is not None:
                raise RuntimeError("hub or simulator exited; see state/bench-fleet/*.log")
            await asyncio.sleep(1)
        ramp_s = time.monotonic() - t0
        await asyncio.sleep(3 * interval)  # let the first batches and acks settle
        workers = children(sim.pid)
        watched = {"hub": [hub.pid], "broker": [stack.mosquitto.pid or 0], "workers": workers}
        cpu0 = {k: sum(cpu_seconds(p) for p in v) for k, v in watched.items()}
        recv0, w0 = probe.received_total, time.monotonic()
        pub0 = published(state / "sim.log")
        probe.recording = True
        await asyncio.sleep(seconds)
        probe.recording = False
        wall = time.monotonic() - w0
        pub1 = published(state / "sim.log")
        cpu = {
            k: 100 * (sum(cpu_seconds(p) for p in v) - cpu0[k]) / wall for k, v in watched.items()
        }
        recv1 = probe.received_total
        worker_rss = sum(rss_kb(p) for p in workers)
        connected = probe.connected
        stop.set()
        await task
        idle = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-c",
                "import sim.fleet, sim.worker, pathlib;"
                "print([l.split()[1] for l in pathlib.Path('/proc/self/status').read_text()"
                ".splitlines() if l.startswith('VmRSS:')][0])",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        idle_kb = int(idle.stdout.strip())
        return {
            "devices": devices,
            "hub_database": database,
            "boot_spread_s": boot_s,
            "sim_nice": sim_nice,
            "interval_s": interval,
            "worker_processes": len(workers),
            "ulimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "ramp_s": round(ramp_s, 1),
            "broker_clients_connected": connected,
            "window_s": round(wall, 1),
            "broker_msgs_per_s": round((recv1 - recv0) / wall, 1) if recv0 and recv1 else None,
            # what the agents managed against what was asked (one message per interval):
            # below 1.0 the machine could not run the fleet at this rate
            "agent_msgs_per_s": _rate(pub0, pub1),
            "asked_msgs_per_s": round(devices / interval, 1),
            "cpu_percent_of_one_core": {k: round(v, 1) for k, v in cpu.items()},
            "workers_rss_mb": round(worker_rss / 1024, 1),
            "rss_per_agent_kb": round(worker_rss / devices, 1),
            "rss_per_agent_kb_above_idle_worker": round(
                (worker_rss - len(workers) * idle_kb) / devices, 1
            ),
            "e2e_from_measurement_s": {
                "n": len(probe.delays_measured),
                "median": _round(
                    statistics.median(probe.delays_measured) if probe.delays_measured else None
                ),
                "p95": _round(_pct(probe.delays_measured, 0.95)),
            },
            "e2e_from_publish_s": {
                "n": len(probe.delays_published),
                "median": _round(
                    statistics.median(probe.delays_published) if probe.delays_published else None
                ),
                "p95": _round(_pct(probe.delays_published, 0.95)),
            },
            "load_average_at_end": os.getloadavg(),
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    p.kill()
        await asyncio.to_thread(stack.down)
        if pg:
            await asyncio.to_thread(pg.stop)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--processes", type=int)
    parser.add_argument(
        "--database", choices=("postgres", "sqlite"), default="postgres", help="the hub's SQL"
    )
    parser.add_argument(
        "--boot-seconds",
        type=float,
        default=100.0,
        help="agents boot spread over this time (the hub's SQL locks up under a boot storm)",
    )
    parser.add_argument(
        "--sim-nice", type=int, default=0, help="run the simulator at this nice level"
    )
    args = parser.parse_args()
    result = asyncio.run(
        bench(
            args.devices,
            seconds=args.seconds,
            interval=args.interval,
            processes=args.processes,
            database=args.database,
            boot_s=args.boot_seconds,
            sim_nice=args.sim_nice,
        )
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fleet.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    cpu = result["cpu_percent_of_one_core"]
    e2e = result["e2e_from_measurement_s"]
    print(
        f"fleet: {result['devices']} agents in {result['worker_processes']} processes, broker "
        f"clients {result['broker_clients_connected']}, hub CPU {cpu['hub']}% of a core, "
        f"{result['rss_per_agent_kb']} kB RSS/agent "
        f"({result['rss_per_agent_kb_above_idle_worker']} above an idle worker), e2e "
        f"median {e2e['median']} s p95 {e2e['p95']} s, agents published "
        f"{result['agent_msgs_per_s']} of {result['asked_msgs_per_s']} msg/s asked"
    )


if __name__ == "__main__":
    main()
