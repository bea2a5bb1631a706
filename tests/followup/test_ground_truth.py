"""Ground truth: a simulated March 2026 through the hub's real pipeline, each follow-up
figure held against the simulator's own account (sim/truth.py).

The month (``scenarios/followup-march.yaml``: ten poles, faults with known repair times,
a lamp out across the spring DST night) is sampled in virtual time with the simulator's own
drivers (sim/sampling.py), written to a real InfluxDB with past timestamps exactly as the
ingest writes them, rolled up hour by hour by the hub's own ``HistoryWriter`` into
``asset_hours`` on SQLite and PostgreSQL, with the crew's tickets in the hub's ticket store
at their simulated times, and reported by ``build_report``. The account is computed from
the fault schedule, the sun and the world's litter model, never from readings.

Tolerances, and why: a silent pole's last reading is held for the hold time (5 minutes for
lamps, 12.5 for bins sampled every 5 minutes), so each outage edge may move a lamp's or a
pole's figure by that much; a bin's level is read every 5 minutes with 1 cm of noise, so
the truth of "full" and of a collection is a range (sim.truth.Span) widened by one reading
per edge; tickets are stored to the second.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dashboards.boards_followup import followup
from dashboards.render import ALL, TimeRange, interpolate
from hub import tickets
from hub.contract_mirror import Reading
from hub.db import Asset, AssetHour, open_database
from hub.db import Counter as CounterRow
from hub.devices import register
from hub.followup.export import RP, FollowupExport
from hub.followup.figures import Figures
from hub.followup.history import WATERMARK, HistoryWriter
from hub.followup.hours import HOUR_MS
from hub.followup.load import build_report
from hub.followup.periods import parse_period, utc
from hub.influx import Influx
from hub.lineproto import reading_lines
from sim.sampling import samples
from sim.scenario import Scenario, load
from sim.truth import Truth, Visit, account, crew_log
from trygg.stack import LocalStack

pytestmark = pytest.mark.integration

SCENARIO: Final = Path(__file__).parents[2] / "scenarios" / "followup-march.yaml"
MARCH: Final = parse_period("2026-03")
SETTLE_S: Final = 300.0
BATCH: Final = 50_000
# The severity each ticket kind's rule raises it with (hub/rules), which sets its SLA.
SEVERITY: Final = {
    "lampOut": "major",
    "powerDrop": "minor",
    "dayBurning": "minor",
    "binFull": "minor",
    "binFire": "critical",
    "cameraCovered": "major",
    "cameraBlurred": "minor",
    "deviceOffline": "major",
}
SLA_H: Final = {s: tickets.SLA[p].total_seconds() / 3600 for s, p in tickets.PRIORITY.items()}
LAMP_HOLD_S: Final = 300.0
BIN_READ_S: Final = 300.0


async def _fill(url: str, db: str, scenario: Scenario) -> int:
    """Every reading of the scenario into ``db``, as the ingest writes it; returns lines."""
    influx = Influx(url=url, db=db)
    site = {d.id: d.site for d in scenario.city.devices}
    pending: dict[str, list[Reading]] = {}
    count = written = 0

    async def flush() -> int:
        lines = [
            line
            for dev, rs in pending.items()
            for line in reading_lines(device=dev, site=site[dev], readings=rs)
        ]
        pending.clear()
        await influx.write("\n".join(lines).encode(), precision="ms")
        return len(lines)

    try:
        await influx.execute(f'CREATE DATABASE "{db}"')
        for taken in samples(scenario):
            rs = pending.setdefault(taken.device, [])
            for name, v in taken.values.items():
                rs.append(
                    Reading(
                        asset=taken.asset,
                        kind=taken.kind,
                        sensor=taken.sensor,
                        field=name,
                        t=taken.t_ms,
                        v=v,
                    )
                )
            count += len(taken.values)
            if count >= BATCH:
                written += await flush()
                count = 0
        written += await flush()
    finally:
        await influx.aclose()
    return written


async def _drop(url: str, db: str) -> None:
    influx = Influx(url=url, db=db)
    try:
        await influx.execute(f'DROP DATABASE "{db}"')
    finally:
        await influx.aclose()


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load(SCENARIO)


@pytest.fixture(scope="module")
def march_influx(stack: LocalStack, scenario: Scenario) -> Iterator[str]:
    """An InfluxDB database holding the whole simulated month, shared by both SQL runs."""
    db = f"gt_{uuid.uuid4().hex[:8]}"
    assert asyncio.run(_fill(stack.influx_url, db, scenario)) > 1_000_000
    yield db
    asyncio.run(_drop(stack.influx_url, db))


def _setup(sessions: sessionmaker[Session], scenario: Scenario, visits: list[Visit]) -> None:
    """The city's poles and assets (crowd zones are no follow-up figure), and the crew's
    tickets opened, acknowledged and resolved at their simulated times."""
    register(sessions, [(d.id, d.site) for d in scenario.city.devices])
    with sessions.begin() as s:
        for dev, a in scenario.city.assets():
            if a.kind.value in ("streetlight", "bin", "camera"):
                s.add(
                    Asset(
                        id=a.id,
                        device_id=dev.id,
                        kind=a.kind.value,
                        lat=a.lat,
                        lon=a.lon,
                        cabinet=a.cabinet,
                        address=a.address,
                        properties=dict(a.properties),
                    )
                )
    first = scenario.city.devices[0].assets[0]
    with sessions.begin() as s:
        for v in visits:
            t = tickets.new_ticket(
                s,
                kind=v.kind,
                severity=v.severity,  # type: ignore[arg-type]
                now=v.opened,
                actor="sim",
                source="sim",
                lat=first.lat,
                lon=first.lon,
                asset_id=v.asset,
            )
            tickets.acknowledge(s, ticket_id=t.id, actor="crew", now=v.acknowledged)
            if v.resolved is not None:
                tickets.resolve(s, ticket_id=t.id, actor="crew", now=v.resolved)


def _check(fig: Figures, truth: Truth, scenario: Scenario) -> None:
    offline = [i for i in scenario.injections if i.fault == "device_offline"]
    silent_edges = sum(len(i.assets) for i in offline) * 2
    assert fig.hours == truth.hours == 743

    light = fig.lighting
    assert light.lamps == truth.lamps
    dark_unlit_h = (truth.lamp_dark_s - truth.lamp_lit_dark_s) / 3600
    hold_h = silent_edges * LAMP_HOLD_S / 3600
    assert light.dark_lamp_hours == pytest.approx(dark_unlit_h, abs=hold_h)
    assert light.availability == pytest.approx(
        truth.lamp_availability, abs=hold_h * 3600 / truth.lamp_dark_s
    )
    assert light.day_burning_hours == pytest.approx(truth.lamp_lit_day_s / 3600, abs=2 / 60)
    assert light.wasted_kwh == pytest.approx(truth.wasted_kwh, rel=0.02)

    assert fig.bins.bins == truth.bins
    assert truth.bin_full_s.holds(
        fig.bins.hours_full * 3600, slack=truth.bin_full_edges * BIN_READ_S
    )
    assert fig.bins.fires == truth.fires
    assert truth.collections.holds(fig.bins.collections)

    assert fig.camera_availability == pytest.approx(truth.camera_healthy, abs=1e-3)
    for kind, share in truth.reporting.items():
        assets = sum(1 for _, a in scenario.city.assets() if a.kind.value == kind)
        slack = silent_edges * LAMP_HOLD_S / (assets * truth.hours * 3600)
        assert fig.availability[kind] == pytest.approx(share, abs=slack + 1e-6), kind

    got = {r.kind: r for r in fig.repairs}
    assert set(got) == {r.kind for r in truth.repairs}
    for want in truth.repairs:
        r = got[want.kind]
        assert (r.opened, r.resolved, r.within_sla) == (want.opened, want.resolved, want.within_sla)
        for name in ("ack_median_h", "ack_p90_h", "repair_median_h", "repair_p90_h"):
            assert getattr(r, name) == pytest.approx(getattr(want, name), abs=1e-3), name


async def _board(influx: Influx) -> dict[str, list[dict[str, Any]]]:
    """Every Uppföljning panel's query over March, all sites, as Grafana would run it:
    panel title -> the series InfluxDB returned."""
    tr = TimeRange(utc(MARCH.start_ms), utc(MARCH.end_ms - 1))
    out: dict[str, list[dict[str, Any]]] = {}
    for panel in followup().panels():
        (q,) = panel.queries
        text = interpolate(q.text, time_range=tr, variables={"site": ALL})
        (result,) = await influx.query(text)
        out[panel.title] = result.get("series", [])
    return out


def _one(series: list[dict[str, Any]]) -> float:
    (only,) = series
    (row,) = only["values"]
    return float(row[1])


def _check_board(board: dict[str, list[dict[str, Any]]], fig: Figures, truth: Truth) -> None:
    """The board shows the report's figures (its sums are the report's sums, so equal to
    rounding), and so holds against the truth as the report does."""
    light = fig.lighting
    assert _one(board["Lamp availability"]) == pytest.approx(light.availability, abs=1e-6)
    assert _one(board["Dark lamp-hours"]) == pytest.approx(light.dark_lamp_hours, abs=1e-3)
    assert _one(board["Day-burning hours"]) == pytest.approx(light.day_burning_hours, abs=1e-3)
    assert _one(board["Day-burning energy"]) == pytest.approx(light.wasted_kwh, abs=1e-3)
    assert _one(board["Bin hours full"]) == pytest.approx(fig.bins.hours_full, abs=1e-3)
    assert _one(board["Bin fires"]) == fig.bins.fires == truth.fires
    assert _one(board["Collections"]) == fig.bins.collections
    assert _one(board["Camera availability"]) == pytest.approx(fig.camera_availability, abs=1e-6)
    per_kind = {
        sr["tags"]["kind"]: float(sr["values"][0][1]) for sr in board["Reporting per asset kind"]
    }
    assert per_kind == pytest.approx(dict(fig.availability), abs=1e-6)
    # Stockholm calendar days: 31 of them, one of 23 hours, each with a share per site.
    for sr in board["Lamp availability per day"]:
        assert len(sr["values"]) == 31
    sites = {d.site for d in load(SCENARIO).city.devices if d.role == "lamp_pole"}
    assert {sr["tags"]["site"] for sr in board["Lamp availability per site"]} == sites
    rows = {
        sr["tags"]["kind"]: dict(zip(sr["columns"], sr["values"][0], strict=True))
        for sr in board["Repairs per ticket kind"]
    }
    assert set(rows) == {r.kind for r in truth.repairs}
    for want in truth.repairs:
        got = rows[want.kind]
        assert got["resolved"] == want.resolved
        assert got["ack median h"] == pytest.approx(want.ack_median_h, abs=1e-3)
        assert got["ack p90 h"] == pytest.approx(want.ack_p90_h, abs=1e-3)
        assert got["repair median h"] == pytest.approx(want.repair_median_h, abs=1e-3)
        assert got["repair p90 h"] == pytest.approx(want.repair_p90_h, abs=1e-3)
        assert got["within SLA"] == pytest.approx(want.within_sla)


async def test_a_simulated_march_gives_the_simulators_own_figures(
    stack: LocalStack, march_influx: str, scenario: Scenario, sql_url: str, unique: str
) -> None:
    sessions = open_database(sql_url)
    visits = crew_log(scenario, severity=SEVERITY)
    _setup(sessions, scenario, visits)
    with sessions.begin() as s:
        s.merge(CounterRow(name=WATERMARK, value=MARCH.start_ms))
    influx = Influx(url=stack.influx_url, db=march_influx)
    figures = Influx(url=stack.influx_url, db=f"fu_{unique}")
    writer = HistoryWriter(sessions=sessions, influx=influx, settle_s=SETTLE_S)
    export = FollowupExport(sessions=sessions, influx=figures)
    try:
        await figures.execute(f'CREATE DATABASE "{figures.db}"')
        await figures.execute(
            f'CREATE RETENTION POLICY "{RP}" ON "{figures.db}" DURATION 1825d REPLICATION 1'
        )
        for h in range(1, MARCH.hours + 1):
            assert await writer.write(MARCH.start_ms + h * HOUR_MS + int(SETTLE_S * 1000)) > 0
        while await export.write():
            pass
        board = await _board(figures)
    finally:
        await figures.execute(f'DROP DATABASE "{figures.db}"')
        await figures.aclose()
        await influx.aclose()
    with sessions() as s:
        hours = s.scalar(select(func.count(func.distinct(AssetHour.hour))))
        report = build_report(s, MARCH)
    sessions.kw["bind"].dispose()
    assert hours == MARCH.hours  # every local hour of March, 743 with the DST change

    truth = account(scenario, visits, start=utc(MARCH.start_ms), end=utc(MARCH.end_ms), sla_h=SLA_H)
    _check(report.current, truth, scenario)
    _check_board(board, report.current, truth)
    # The lamp out across the DST night took four real hours, not the wall clock's five.
    dst = next(v for v in visits if v.opened.day == 28)
    assert dst.resolved is not None
    assert dst.resolved - dst.opened == timedelta(hours=3, minutes=55)
    lamp_out = next(r for r in report.current.repairs if r.kind == "lampOut")
    assert lamp_out.repair_median_h == pytest.approx(3 + 55 / 60, abs=1e-3)
