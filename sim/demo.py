"""``trygg demo`` and ``trygg sim``: a whole simulated city on the local stack, scored.

``demo`` plays the default scenario with the live view and ends with the score table (also
written as JSON). ``sim`` runs any scenario at any size and speed, with the fleet spread
over worker processes when it is large; with ``--mqtt-port`` it runs only the fleet against
a broker and hub that are already running (the scale benchmark does that).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from sim.fleet import LinkSettings, Rates
from sim.live import crowd_table, live_view, score_table
from sim.run import DEMO_PASSWORD, DEMO_USER, RunConfig, RunState, run_city
from sim.scenario import Scenario, ScenarioError, load
from sim.workers import WorkerPool
from trygg.aio import wait_event
from trygg.clock import ScaledClock
from trygg.stack import StackError

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = PROJECT / "scenarios" / "default.yaml"
# Agents per worker process, bounded by the file-descriptor limit: about 4 per agent (MQTT
# socket, outbox database, WAL and shared-memory files); bench/fleet.py measures the load.
AGENTS_PER_PROCESS = 1000


@dataclass(frozen=True, slots=True)
class Options:
    scenario: Path
    state_dir: Path
    devices: int | None = None
    seed: int | None = None
    speed: float | None = None
    duration_s: float | None = None  # fit the whole scenario into this many real seconds
    api_port: int = 8080
    processes: int | None = None
    interval_s: float | None = None
    json_path: Path | None = None
    live: bool = True


def _scenario(opts: Options, console: Console) -> Scenario | None:
    try:
        sc = load(opts.scenario, devices=opts.devices, seed=opts.seed, speed=opts.speed)
    except ScenarioError as exc:
        console.print(f"[red]scenario: {exc}[/red]")
        return None
    if opts.duration_s is not None and opts.speed is None:
        # the whole scenario, compressed into the requested real time
        speed = sc.spec.duration / opts.duration_s
        sc = load(opts.scenario, devices=opts.devices, seed=opts.seed, speed=speed)
    return sc


def processes_for(devices: int, requested: int | None) -> int:
    return requested or max(1, math.ceil(devices / AGENTS_PER_PROCESS))


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # logs and pipes: the score table must not wrap
    return console


def run_demo(opts: Options) -> int:
    """Run the city on the local stack; prints the score table and writes it as JSON."""
    console = _console()
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger().setLevel(logging.WARNING)  # the live view is the output
    scenario = _scenario(opts, console)
    if scenario is None:
        return 2
    json_path = opts.json_path or opts.state_dir / "score.json"
    rates = Rates.uniform(opts.interval_s) if opts.interval_s else Rates()
    cfg = RunConfig(
        scenario=scenario,
        scenario_path=opts.scenario,
        state_dir=opts.state_dir,
        api_port=opts.api_port,
        processes=processes_for(len(scenario.city.devices), opts.processes),
        rates=rates,
        json_path=json_path,
    )
    api = f"http://127.0.0.1:{opts.api_port}"
    header = [
        f"Trygg: {len(scenario.city.devices)} poles in Solna, scenario '{scenario.spec.name}',"
        f" {len(scenario.injections)} faults, x{scenario.spec.speed:g}"
        f" ({scenario.spec.duration / scenario.spec.speed:.0f} s real)",
        f"API       {api}/api/v1/tickets   (OpenAPI: {api}/docs; bearer token in"
        f" {opts.state_dir}/api-token.txt)",
        f"Crew page {api}/crew/   (log in as {DEMO_USER} / {DEMO_PASSWORD})",
        "Grafana   docker compose up -d   then http://localhost:3000 (dashboards provisioned;"
        " InfluxDB from this run: see state/demo/stack)",
        "Ctrl-C stops early and still scores what was injected.",
    ]

    async def view(state: RunState, stop: asyncio.Event) -> None:
        if opts.live:
            await live_view(state, stop, scenario=scenario, console=console, header=header)

    try:
        doc = asyncio.run(run_city(cfg, view=view))
    except StackError as exc:
        console.print(f"[red]trygg demo: {exc}[/red]")
        return 1
    console.print(score_table(doc))
    console.print(crowd_table(doc))
    if doc.get("advisory_tickets"):
        console.print(f"advisory tickets (forecasts, not scored): {doc['advisory_tickets']}")
    console.print(f"score written to {json_path}")
    return 0


async def _fleet_only(opts: Options, scenario: Scenario, port: int, console: Console) -> None:
    origin = time.monotonic()
    clock = ScaledClock(scenario.start, scenario.spec.speed, origin=origin)
    pool = WorkerPool(
        scenario_path=opts.scenario,
        spec=scenario.spec,
        processes=processes_for(len(scenario.city.devices), opts.processes),
        clock=clock,
        clock_start=scenario.start,
        origin=origin,
        link=LinkSettings(port=port),
        state_dir=opts.state_dir / "agents",
        rates=Rates.uniform(opts.interval_s) if opts.interval_s else Rates(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def report() -> None:
        deadline = None if opts.duration_s is None else loop.time() + opts.duration_s
        while not stop.is_set():
            await wait_event(stop, 5.0)
            t = pool.total()
            # one JSON line, never wrapped or marked up: scripts read it
            console.out(
                json.dumps({"sim_time": clock.now().isoformat(), **vars(t)}), highlight=False
            )
            if clock.now() >= scenario.end or (deadline is not None and loop.time() > deadline):
                stop.set()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(pool.run(stop))
        tg.create_task(report())


def run_sim(opts: Options, *, mqtt_port: int | None) -> int:
    """``trygg sim``: with a broker port, only the fleet; otherwise a whole scored run."""
    console = _console()
    if mqtt_port is None:
        return run_demo(opts)
    scenario = _scenario(dataclasses.replace(opts, duration_s=None), console)
    if scenario is None:
        return 2
    asyncio.run(_fleet_only(opts, scenario, mqtt_port, console))
    return 0
