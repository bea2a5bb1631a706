"""Several hubs: the simulated fleet (bench.fleet's real edge agents) split over one, two and
three hub processes on this machine, sharing the devices' partitions by SQL leases. Run as
``.venv/bin/python -m bench.hubs [--devices N] [--seconds S] [--hubs 1,2,3]``.

For each number of hubs, on a fresh local stack and a PostgreSQL server of its own: every
hub's CPU (% of one core, from /proc) over a steady window, the delay from measurement to
stored (the hub's acknowledgement to the device) for a sample of devices (p50/p95), and,
with two hubs or more, the take-over when one hub is SIGKILLed under that load: the time
until every partition and duty it held has a live holder again, and the sample's delays in
the window after the kill (what the devices saw of the outage).

Writes bench/results/hubs.json; prints a table, and the one-line summary last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.fleet import Probe, _pct, cpu_seconds
from hub.db import LeaseRow, open_database
from hub.devices import register
from sim.city import build_city
from trygg.pgserver import PostgresServer
from trygg.stack import LocalStack, StackPorts, free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PARTITIONS = 16
LEASE_TTL_S = 6.0
LEASE_RENEW_S = 2.0


def holders(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Lease name -> live holder."""
    now = datetime.now(UTC)
    with sessions() as s:
        rows = s.scalars(select(LeaseRow)).all()
    return {r.name: r.holder for r in rows if r.holder and r.expires_at > now}


def _delays(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3) if values else None,
        "p95": round(v, 3) if (v := _pct(values, 0.95)) is not None else None,
        "max": round(max(values), 3) if values else None,
    }


async def run_hubs(
    hubs: int, *, devices: int, seconds: float, interval: float, boot_s: float, sim_nice: int
) -> dict[str, Any]:
    state = ROOT / "state" / f"bench-hubs-{hubs}"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    stack = LocalStack(
        state_dir=state / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
    )
    await asyncio.to_thread(stack.up)
    pg = PostgresServer(durable=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        await asyncio.to_thread(pg.start)
        db_url = pg.url("postgres")
        sessions = open_database(db_url)
        city = build_city(devices, seed=1)
        register(sessions, [(d.id, d.site) for d in city.devices])
        for k in range(hubs):
            name = f"hub-{k}"
            env = {
                **os.environ,
                "TRYGG_HUB_ID": name,
                "TRYGG_CLIENT_ID": name,
                "TRYGG_PARTITIONS": str(PARTITIONS),
                "TRYGG_LEASE_TTL_S": str(LEASE_TTL_S),
                "TRYGG_LEASE_RENEW_S": str(LEASE_RENEW_S),
                "TRYGG_DUTY_LEASE_S": str(LEASE_TTL_S),
                "TRYGG_SPOOL_DIR": str(state / f"spool-{k}"),
                "TRYGG_MQTT_PORT": str(stack.ports.mqtt),
                "TRYGG_INFLUX_URL": stack.influx_url,
                "TRYGG_DATABASE_URL": db_url,
                "TRYGG_API_PORT": str(free_port()),
            }
            procs[name] = await asyncio.to_thread(
                subprocess.Popen,
                [sys.executable, "-m", "trygg.cli", "hub"],
                env=env,
                stdout=(state / f"{name}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        await _settled(sessions, hubs)
        scenario = state / "scale.yaml"
        scenario.write_text(
            "name: scale\nseed: 1\n"
            f'start: "{datetime.now(UTC).isoformat()}"\nduration: 1d\nspeed: 1\n'
            f"city: {{devices: {devices}}}\n"
        )
        per_process = max(1, devices // 1000 + (devices % 1000 > 0))
        sim_args = [
            sys.executable, "-m", "trygg.cli", "sim", "--scenario", str(scenario),
            "--mqtt-port", str(stack.ports.mqtt), "--interval", str(interval),
            "--state-dir", str(state / "sim"),
        ]  # fmt: skip
        if sim_nice:
            sim_args = ["nice", "-n", str(sim_nice), *sim_args]
        stagger_s = max(0.01, boot_s / (devices / per_process))
        procs["sim"] = await asyncio.to_thread(
            subprocess.Popen,
            sim_args,
            env={**os.environ, "TRYGG_SIM_STAGGER_S": str(stagger_s)},
            stdout=(state / "sim.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        sample = [d.id for d in city.devices[:: max(1, devices // 50)]]
        probe = Probe(stack.ports.mqtt, sample)
        stop = asyncio.Event()
        task = asyncio.create_task(probe.run(stop))
        t0 = time.monotonic()
        while probe.connected < devices and time.monotonic() - t0 < 900:
            if any(p.poll() is not None for p in procs.values()):
                raise RuntimeError(f"a hub or the simulator exited; see {state}/*.log")
            await asyncio.sleep(1)
        ramp_s = time.monotonic() - t0
        await asyncio.sleep(3 * interval)
        hub_pids = {n: p.pid for n, p in procs.items() if n != "sim"}
        cpu0 = {n: cpu_seconds(pid) for n, pid in hub_pids.items()}
        w0 = time.monotonic()
        probe.recording = True
        await asyncio.sleep(seconds)
        wall = time.monotonic() - w0
        cpu = {
            n: round(100 * (cpu_seconds(pid) - cpu0[n]) / wall, 1) for n, pid in hub_pids.items()
        }
        steady = list(probe.delays_measured)
        probe.delays_measured.clear()
        result: dict[str, Any] = {
            "hubs": hubs,
            "devices": devices,
            "interval_s": interval,
            "partitions": PARTITIONS,
            "lease_ttl_s": LEASE_TTL_S,
            "ramp_s": round(ramp_s, 1),
            "window_s": round(wall, 1),
            "hub_cpu_percent_of_one_core": cpu,
            "e2e_from_measurement_s": _delays(steady),
            "partitions_held": _held_by(holders(sessions)),
        }
        if hubs >= 2:
            result["takeover"] = await _takeover(sessions, procs, probe, interval)
        probe.recording = False
        stop.set()
        await task
        result["load_average_at_end"] = os.getloadavg()
        return result
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    p.kill()
        await asyncio.to_thread(stack.down)
        await asyncio.to_thread(pg.stop)


def _held_by(live: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, who in live.items():
        if name.startswith("partition-"):
            out[who] = out.get(who, 0) + 1
    return dict(sorted(out.items()))


async def _settled(sessions: sessionmaker[Session], hubs: int) -> None:
    """Every partition and the webhooks duty held, shared out over every hub."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        live = await asyncio.to_thread(holders, sessions)
        held = _held_by(live)
        if sum(held.values()) == PARTITIONS and len(held) == hubs and "duty:webhooks" in live:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError("the hubs did not share the partitions out within 120 s")


async def _takeover(
    sessions: sessionmaker[Session],
    procs: dict[str, subprocess.Popen[bytes]],
    probe: Probe,
    interval: float,
) -> dict[str, Any]:
    """SIGKILL the hub holding the webhooks duty; how long until all it held is held again."""
    live = await asyncio.to_thread(holders, sessions)
    victim = live["duty:webhooks"]
    lost = sorted(n for n, who in live.items() if who == victim and not n.startswith("hub:"))
    killed_at = time.monotonic()
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait(timeout=30)
    moved_s: float | None = None
    while time.monotonic() - killed_at < 120:
        now_live = await asyncio.to_thread(holders, sessions)
        if all(now_live.get(n, victim) != victim for n in lost):
            moved_s = time.monotonic() - killed_at
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(max(3 * interval, LEASE_TTL_S))  # the moved devices' backlog drains
    return {
        "killed": victim,
        "leases_it_held": len(lost),
        "all_held_again_s": round(moved_s, 2) if moved_s is not None else None,
        "e2e_after_kill_s": _delays(list(probe.delays_measured)),
    }


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'hubs':>4} {'devices':>7} {'CPU % of a core per hub':<28} "
        f"{'e2e p50 s':>9} {'e2e p95 s':>9} {'takeover s':>10} {'p95 after kill s':>16}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        cpu = " ".join(f"{v:g}" for v in r["hub_cpu_percent_of_one_core"].values())
        e2e = r["e2e_from_measurement_s"]
        take = r.get("takeover") or {}
        after = (take.get("e2e_after_kill_s") or {}).get("p95")
        lines.append(
            f"{r['hubs']:>4} {r['devices']:>7} {cpu:<28} {e2e['p50']!s:>9} {e2e['p95']!s:>9} "
            f"{take.get('all_held_again_s', '-')!s:>10} {after if after is not None else '-'!s:>16}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="steady window")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--hubs", default="1,2,3", help="comma-separated hub counts")
    parser.add_argument("--boot-seconds", type=float, default=100.0)
    parser.add_argument("--sim-nice", type=int, default=10)
    args = parser.parse_args()
    results = [
        asyncio.run(
            run_hubs(
                int(n),
                devices=args.devices,
                seconds=args.seconds,
                interval=args.interval,
                boot_s=args.boot_seconds,
                sim_nice=args.sim_nice,
            )
        )
        for n in args.hubs.split(",")
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hubs.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(table(results))
    print(
        "hubs: "
        + "; ".join(
            f"{r['hubs']} hub(s) CPU {sum(r['hub_cpu_percent_of_one_core'].values()):g}% "
            f"e2e p95 {r['e2e_from_measurement_s']['p95']} s"
            + (f" takeover {r['takeover']['all_held_again_s']} s" if r.get("takeover") else "")
            for r in results
        )
    )


if __name__ == "__main__":
    main()
