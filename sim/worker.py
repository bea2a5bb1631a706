"""Entry point of one fleet worker process: ``python -m sim.worker '<json arguments>'``.

Runs its slice of the city (see sim/workers.py) until SIGTERM or the scenario's end, and
prints a JSON line of counters every two seconds on stdout.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import resource
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sim.fleet import Fleet, LinkSettings, Rates
from sim.scenario import load
from sim.timeline import sleep_until
from trygg.aio import wait_event
from trygg.clock import ScaledClock

REPORT_S = 2.0
GC_GEN0 = 50_000  # young collections every 50,000 net allocations instead of 700
# agents boot 10 ms apart; the scale benchmark spreads 10,000 boots wider (births and
# online states are the hub's heaviest messages: a boot storm holds its SQL rows locked)
STAGGER_S = float(os.environ.get("TRYGG_SIM_STAGGER_S", "0.01"))


def _stats(fleet: Fleet, ready: bool) -> dict[str, Any]:
    agents = fleet.agents
    return {
        "agents": len(agents),
        "readings": sum(a.stats.readings for a in agents),
        "published": sum(a.stats.published for a in agents),
        "acked": sum(a.stats.acked for a in agents),
        "connects": sum(a.stats.connects for a in agents),
        "applied": sum(1 for x in fleet.applied if x.active),
        "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "ready": ready,
    }


async def main(args: dict[str, Any]) -> None:
    scenario = load(
        Path(args["scenario"]), devices=args["devices"], seed=args["seed"], speed=args["speed"]
    )
    clock = ScaledClock(
        datetime.fromisoformat(args["clock_start"]), args["speed"], origin=args["origin"]
    )
    fleet = Fleet(
        scenario=scenario,
        devices=scenario.city.devices[args["lo"] : args["hi"]],
        clock=clock,
        link=LinkSettings(host=args["host"], port=args["port"]),
        state_dir=Path(args["state_dir"]),
        rates=Rates(**args["rates"]),
        stagger_s=STAGGER_S,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Not loop.add_signal_handler: that relies on the loop's self-pipe, which thread
    # wake-ups (call_soon_threadsafe) can fill under load, and a SIGTERM written to a full
    # pipe is lost and the worker never stops. A Python-level handler runs anyway; the
    # callback it queues runs on the loop's next iteration.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _sig, _frame: loop.call_soon_threadsafe(stop.set))

    async def report() -> None:
        while not stop.is_set():
            print(json.dumps(_stats(fleet, True)), flush=True)
            await wait_event(stop, REPORT_S)

    async def settle_gc() -> None:
        # Once every agent has booted, its long-lived objects (configs, sessions, outboxes,
        # drivers) are frozen out of the collector's scans: a full collection otherwise
        # walks all of them, a steady cost with thousands of agents. Cycles frozen here are
        # kept, once (a bounded amount).
        if not await wait_event(stop, len(fleet.poles) * STAGGER_S + 5.0):
            gc.freeze()

    async def end() -> None:
        await sleep_until(clock, scenario.end, stop)
        stop.set()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(fleet.run(stop), name="fleet")
        tg.create_task(report(), name="report")
        tg.create_task(settle_gc(), name="gc")
        tg.create_task(end(), name="end")
    print(json.dumps(_stats(fleet, False)), flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    gc.set_threshold(GC_GEN0, *gc.get_threshold()[1:])
    asyncio.run(main(json.loads(sys.argv[1])))
