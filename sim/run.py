"""One whole city run: local stack, the hub, the fleet, the scenario's faults, and the score.

The hub runs in this process on the same :class:`~trygg.clock.ScaledClock` as the fleet, so
rules see simulated nights; the fleet runs here too, or in worker processes (sim/workers.py)
that share the clock's start and origin. When the scenario's simulated end is reached (or
the real-time budget runs out) everything stops cleanly and the score is computed from the
hub's tickets against the simulator's ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.app import Hub
from hub.auth import bootstrap_token
from hub.devices import register
from hub.settings import HubSettings
from sim import crowd_score, hubview, score
from sim.alerts_client import AlertsApiError, fetch_alerts
from sim.fleet import Fleet, LinkSettings, Rates
from sim.infra import StackInfra, watch
from sim.scenario import Scenario
from sim.sysmon import SysMonitor
from sim.timeline import sleep_until
from sim.workers import WorkerPool
from trygg.clock import ScaledClock
from trygg.stack import LocalStack, StackPorts, free_port

log = logging.getLogger(__name__)

# A local demo login (operator) for the crew page and the API; never used in production.
DEMO_USER = "demo"
DEMO_PASSWORD = "trygg-demo"  # noqa: S105 - demo-only, printed on screen


@dataclass(frozen=True, slots=True)
class RunConfig:
    scenario: Scenario
    scenario_path: Path
    state_dir: Path
    api_port: int = 8080
    processes: int = 1
    rates: Rates = field(default_factory=Rates)
    real_seconds: float | None = None  # stop early after this many real seconds
    json_path: Path | None = None


@dataclass
class RunState:
    """What the live view reads while the run goes on."""

    clock: ScaledClock
    hub: Hub
    stack: LocalStack
    fleet: Fleet | None
    pool: WorkerPool | None
    sysmon: SysMonitor
    noticed: dict[int, datetime] = field(default_factory=dict)
    recovered: dict[int, datetime] = field(default_factory=dict)
    infra: StackInfra | None = None
    # the hub's alerts read through its API just before the run stops (None: no API)
    alerts: list[dict[str, Any]] | None = None
    alerts_error: str | None = None

    def applied_count(self) -> int:
        n = 0
        if self.fleet is not None:
            n += sum(1 for a in self.fleet.applied if a.active)
        if self.pool is not None:
            n += self.pool.applied
        if self.infra is not None:
            n += sum(1 for _i, active, _t in self.infra.applied if active)
        return n


def hub_settings(cfg: RunConfig, stack: LocalStack) -> HubSettings:
    """Hub settings for a simulated city: ticks and grace scaled to the fast clock.

    Only fields the hub defines are set, so the simulator keeps working as settings evolve.
    """
    speed = cfg.scenario.spec.speed
    wanted: dict[str, Any] = {
        "mqtt_port": stack.ports.mqtt,
        "influx_url": stack.influx_url,
        "influx_db": "trygg",
        "database_url": f"sqlite:///{cfg.state_dir / 'hub.sqlite'}",
        "api_port": cfg.api_port,
        "client_id": "trygg-hub-sim",
        "spool_dir": cfg.state_dir / "spool",
        "batch_max_delay_s": 0.1,
        # rule ticks are real seconds: tick often enough that a simulated minute is seen
        "tick_s": max(0.2, min(5.0, 30.0 / speed)),
    }
    return HubSettings(**{k: v for k, v in wanted.items() if k in HubSettings.model_fields})


async def run_city(
    cfg: RunConfig, *, view: Callable[[RunState, asyncio.Event], Any] | None = None
) -> dict[str, Any]:
    """Run the scenario end to end and return the score report (also written as JSON).

    Every run starts from a clean city: the previous run's hub database, outboxes and
    stack data under ``state_dir`` are removed first.
    """
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    for name in ("agents", "stack", "spool"):
        shutil.rmtree(cfg.state_dir / name, ignore_errors=True)
    for db in cfg.state_dir.glob("hub.sqlite*"):
        db.unlink()
    stack = LocalStack(
        state_dir=cfg.state_dir / "stack",
        ports=StackPorts(mqtt=free_port(), influx=free_port(), influx_rpc=free_port()),
    )
    await asyncio.to_thread(stack.up)
    try:
        return await _run(cfg, stack, view)
    finally:
        await asyncio.to_thread(stack.down)


async def _run(
    cfg: RunConfig, stack: LocalStack, view: Callable[[RunState, asyncio.Event], Any] | None
) -> dict[str, Any]:
    scenario = cfg.scenario
    spec = scenario.spec
    origin = time.monotonic()
    clock = ScaledClock(scenario.start, spec.speed, origin=origin)
    hub = Hub.build(hub_settings(cfg, stack), clock)
    register(hub.sessions, [(d.id, d.site) for d in scenario.city.devices])
    token = bootstrap_token(
        hub.sessions, name=DEMO_USER, role="operator", now=clock.now(), password=DEMO_PASSWORD
    )
    (cfg.state_dir / "api-token.txt").write_text(token + "\n")
    link = LinkSettings(port=stack.ports.mqtt)
    fleet = pool = None
    if cfg.processes <= 1:
        fleet = Fleet(
            scenario=scenario,
            devices=scenario.city.devices,
            clock=clock,
            link=link,
            state_dir=cfg.state_dir / "agents",
            rates=cfg.rates,
        )
    else:
        pool = WorkerPool(
            scenario_path=cfg.scenario_path,
            spec=spec,
            processes=cfg.processes,
            clock=clock,
            clock_start=scenario.start,
            origin=origin,
            link=link,
            state_dir=cfg.state_dir / "agents",
            rates=cfg.rates,
        )
    sysmon = SysMonitor(port=stack.ports.mqtt)
    infra = StackInfra(stack, clock)
    state = RunState(clock, hub, stack, fleet, pool, sysmon, infra=infra)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    signals = {
        "broker_outage": lambda: hubview.broker_signal(hub),
        "influx_outage": hubview.influx_signal(hub),
    }
    injections = list(scenario.injections)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(hub.run(stop), name="hub")
            tg.create_task(sysmon.run(stop), name="sysmon")
            if fleet is not None:
                tg.create_task(fleet.run(stop), name="fleet")
            if pool is not None:
                tg.create_task(pool.run(stop), name="workers")
            tg.create_task(infra.run(injections, stop), name="infra")
            tg.create_task(
                watch(
                    injections,
                    signals,
                    flowing=lambda: int(hub.ingest.counters.readings),
                    clock=clock,
                    stop=stop,
                    noticed=state.noticed,
                    recovered=state.recovered,
                ),
                name="watch",
            )
            tg.create_task(_end(cfg, clock, stop, state, token), name="end")
            if view is not None:
                tg.create_task(view(state, stop), name="view")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await infra.restore()
    tickets = hubview.tickets(hub.sessions)
    outcomes, false = score.match(
        injections,
        tickets,
        hub_noticed=state.noticed,
        hub_recovered=state.recovered,
        end=min(clock.now(), scenario.end),
    )
    ran_until = clock.now()
    if ran_until < scenario.end:
        # stopped early: faults not injected yet are not part of the score
        outcomes = [o for o in outcomes if o.injection.at <= ran_until]
    counters = hub.ingest.counters
    if state.alerts_error is not None:
        crowd: dict[str, Any] = {"available": False, "note": state.alerts_error}
    else:
        try:
            views = None if state.alerts is None else crowd_score.alert_views(state.alerts)
            crowd = crowd_score.crowd_alerts(
                [i for i in injections if i.at <= ran_until],
                views,
                truth=crowd_score.zone_truth(scenario.city, scenario.world),
            )
        except ValueError as exc:
            crowd = {"available": False, "note": f"alerts API answer not understood: {exc}"}
    infra_notes = {
        str(i.index): {
            "fault": i.fault,
            "hub_noticed_outage_at": state.noticed[i.index].isoformat()
            if i.index in state.noticed
            else None,
            "data_flowing_again_at": state.recovered[i.index].isoformat()
            if i.index in state.recovered
            else None,
        }
        for i in injections
        if i.kind.target == "infra"
    }
    doc = score.report(
        scenario=spec.name,
        seed=spec.seed,
        speed=spec.speed,
        outcomes=outcomes,
        false=false,
        extra={
            "devices": len(scenario.city.devices),
            "advisory_tickets": score.advisory(tickets),
            "infra": infra_notes,
            "crowd_alerts": crowd,
            "agent_crashes": sum(p.crashes for p in fleet.poles.values()) if fleet else None,
            "simulated_from": scenario.start.isoformat(),
            "simulated_until": min(ran_until, scenario.end).isoformat(),
            "hub": {
                "readings": counters.readings,
                "events": counters.events,
                "duplicates": counters.duplicates,
                "dead_letters": sum(counters.dead.values()),
            },
        },
    )
    if cfg.json_path is not None:
        cfg.json_path.parent.mkdir(parents=True, exist_ok=True)
        cfg.json_path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


async def _end(
    cfg: RunConfig, clock: ScaledClock, stop: asyncio.Event, state: RunState, token: str
) -> None:
    """Stop at the scenario's simulated end, or after ``real_seconds``, whichever is first;
    the hub's alerts are read through its API while it still serves."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sleep_until(clock, cfg.scenario.end, stop), cfg.real_seconds)
    log.info("run over at simulated %s", clock.now())
    try:
        state.alerts = await fetch_alerts(f"http://127.0.0.1:{cfg.api_port}", token)
    except AlertsApiError as exc:
        log.warning("crowd alerts not scored: %s", exc)
        state.alerts_error = str(exc)
    stop.set()
