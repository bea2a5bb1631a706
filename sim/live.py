"""The demo's live progress view (rich) and its closing score table.

On a terminal the view redraws twice a second; otherwise (CI logs, pipes) it prints one
plain line every ten seconds, so a scripted run's log stays readable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sim import hubview, score
from sim.run import RunState
from sim.scenario import Scenario
from sim.world import STOCKHOLM
from trygg.aio import wait_event

OPEN = frozenset({"new", "acknowledged", "in_progress", "reopened"})


class Progress:
    """Samples the run once a second and renders what it saw."""

    def __init__(self, state: RunState, scenario: Scenario) -> None:
        self.state = state
        self.scenario = scenario
        self.readings_per_s = 0.0
        self._last: tuple[float, int] | None = None
        self.online = 0
        self.open_tickets = 0
        self.detected = 0
        self.false = 0

    async def sample(self) -> None:
        st = self.state
        loop = asyncio.get_running_loop()
        now_real, readings = loop.time(), st.hub.ingest.counters.readings
        if self._last is not None and now_real > self._last[0]:
            self.readings_per_s = (readings - self._last[1]) / (now_real - self._last[0])
        self._last = (now_real, readings)
        tickets = await asyncio.to_thread(hubview.tickets, st.hub.sessions)
        self.online = await asyncio.to_thread(
            hubview.devices_online,
            st.hub.sessions,
            now=st.clock.now(),
            within_s=2 * (st.fleet.rates.heartbeat_s if st.fleet else 300.0),
        )
        self.open_tickets = sum(1 for t in tickets if t.status in OPEN)
        due = [i for i in self.scenario.injections if i.at <= st.clock.now()]
        outcomes, false = score.match(
            due, tickets, hub_noticed=st.noticed, end=min(st.clock.now(), self.scenario.end)
        )
        self.detected = sum(1 for o in outcomes if o.detected_at is not None)
        self.false = len(false)

    def render(self) -> Table:
        st, sc = self.state, self.scenario
        now = st.clock.now()
        total = (sc.end - sc.start).total_seconds()
        done = min(1.0, max(0.0, (now - sc.start).total_seconds() / total))
        t = Table(title=f"Trygg city simulation: {sc.spec.name}", show_header=False, expand=False)
        t.add_column(style="bold cyan")
        t.add_column()
        t.add_row(
            "simulated time",
            f"{now.astimezone(STOCKHOLM):%a %d %b %H:%M} Stockholm  ({now:%H:%M} UTC)  "
            f"x{st.clock.scale():g}  {done:5.1%}",
        )
        t.add_row("readings/s", f"{self.readings_per_s:,.0f}")
        broker = st.sysmon.connected
        t.add_row(
            "devices online",
            f"{self.online} / {len(sc.city.devices)} (heard by the hub)   "
            f"broker clients: {'-' if broker is None else broker}",
        )
        t.add_row("tickets open", str(self.open_tickets))
        t.add_row(
            "faults",
            f"injected {st.applied_count()} / {len(sc.injections)}   detected {self.detected}"
            f"   false tickets {self.false}",
        )
        return t

    def line(self) -> str:
        now = self.state.clock.now()
        return (
            f"{now:%Y-%m-%d %H:%M} UTC  readings/s {self.readings_per_s:,.0f}  online "
            f"{self.online}/{len(self.scenario.city.devices)}  tickets open {self.open_tickets}"
            f"  faults injected {self.state.applied_count()} detected {self.detected}"
        )


async def live_view(
    state: RunState,
    stop: asyncio.Event,
    *,
    scenario: Scenario,
    console: Console,
    header: Sequence[str] = (),
) -> None:
    """Show progress until ``stop``; ``header`` lines (URLs, hints) stay above the table."""
    progress = Progress(state, scenario)
    head = Text("\n".join(header))
    if not console.is_terminal:
        for line in header:
            console.print(line)
        tick = 0
        while not stop.is_set():
            await progress.sample()
            if tick % 10 == 0:
                console.print(progress.line())
            tick += 1
            await wait_event(stop, 1.0)
        return
    with Live(Group(head, progress.render()), console=console, refresh_per_second=4) as live:
        while not stop.is_set():
            await progress.sample()
            live.update(Group(head, progress.render()))
            await wait_event(stop, 0.5)


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def score_table(doc: dict[str, Any]) -> Table:
    """The per-fault-kind score of a run's report (see sim.score.report)."""
    t = Table(title=f"Score: scenario {doc['scenario']} (seed {doc['seed']}, x{doc['speed']:g})")
    for name in (
        "fault",
        "expected",
        "injected",
        "became a ticket",
        "missed",
        "false tickets",
        "cleared",
        "resolved",
        "median delay (sim)",
    ):
        t.add_column(name, justify="left" if name in ("fault", "expected") else "right")
    for r in doc["rows"]:
        t.add_row(
            r["fault"],
            r["expect"],
            str(r["injected"]),
            str(r["detected"]),
            Text(str(r["missed"]), style="red" if r["missed"] else "green"),
            Text(str(r["false_tickets"]), style="red" if r["false_tickets"] else "green"),
            str(r["cleared"]),
            str(r["resolved"]),
            _delay(r["median_delay_s"]),
        )
    tot = doc["totals"]
    t.add_row(
        "total",
        "",
        str(tot["injected"]),
        str(tot["detected"]),
        str(tot["missed"]),
        str(tot["false_tickets"]),
        str(tot["cleared"]),
        str(tot["resolved"]),
        "",
        style="bold",
    )
    return t


def crowd_table(doc: dict[str, Any]) -> Table | Text:
    """The crowd-alert section of a run's report (see sim.crowd_score)."""
    crowd = doc.get("crowd_alerts") or {}
    if not crowd.get("available"):
        return Text(f"crowd alerts: not scored ({crowd.get('note', 'no alerts section')})")
    t = Table(title="Crowd alerts")
    names = ("injected surges", "alerts raised", "detected", "missed", "situations", "false")
    for name in (*names, "median delay (sim)", "max delay (sim)"):
        t.add_column(name, justify="right")
    t.add_row(
        str(crowd["injected"]),
        str(crowd["raised"]),
        str(crowd["detected"]),
        Text(str(crowd["missed"]), style="red" if crowd["missed"] else "green"),
        str(crowd["situations"]),
        Text(str(crowd["false_alerts"]), style="red" if crowd["false_alerts"] else "green"),
        _delay(crowd["median_delay_s"]),
        _delay(crowd["max_delay_s"]),
    )
    return t
