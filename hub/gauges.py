"""Tickets into InfluxDB: one event per ticket change, and gauges once a minute.

Operators' dashboards read only InfluxDB, so the hub puts the ticket picture there too.
Events are exported from ``ticket_history`` (every change writes a row there, whoever made
it: rules, API, crews) past a watermark kept in the ``counters`` table, so an event is
written at least once even across a crash, and a re-write lands on the very same point
(same time and tags), which InfluxDB stores once. The time of an event is its history
time in microseconds plus the row id modulo 1000, so two changes in one millisecond stay
two points. Gauges: open tickets by kind, priority and area; SLA breaches by kind; devices
online/offline; bins forecast full; asset state and the sun per site; and with them, lamps'
day-burning time and energy since the last write (``hub/dayburn.py``), and each finished
hour of every asset's states into SQL for the follow-up figures (``hub/followup``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.dayburn import DayBurnWriter
from hub.db import (
    Alarm,
    Asset,
    Device,
    Release,
    Rollout,
    RolloutDevice,
    RolloutStage,
    Ticket,
    TicketHistory,
)
from hub.db import Counter as CounterRow
from hub.followup.export import FollowupExport
from hub.followup.history import HistoryWriter
from hub.influx import Influx, InfluxError
from hub.lineproto import point
from hub.rollout.plan import OPEN_STATUSES as ROLLOUT_OPEN
from hub.tickets import OPEN_STATUSES
from trygg.clock import Clock, from_ms, to_ms
from trygg.sun import sun_elevation

log = logging.getLogger(__name__)

WATERMARK: Final = "gauges.history_exported"
BATCH: Final = 5000
# Finished hours of asset history stored per gauges tick: a day, so a hub back from an
# outage (or a demo running many simulated hours per minute) catches up within minutes.
HISTORY_HOURS_PER_TICK: Final = 24


@dataclass(frozen=True, slots=True)
class Snapshot:
    open_by: dict[tuple[str, int, str], int]  # (kind, priority, area) -> open tickets
    breached_by: dict[str, int]  # kind -> open tickets past their SLA due time
    devices_total: int
    devices_offline: int
    bins_forecast_full: int
    # (asset, kind, site, device, lat, lon, state ok|alarm|offline) for the operators' map
    assets: tuple[tuple[str, str, str, str, float, float, str], ...] = ()
    # (rollout id, version, stage, device state, devices) of every open rollout
    rollouts: tuple[tuple[int, str, str, str, int], ...] = ()


def gauge_lines(snap: Snapshot, t_ms: int) -> list[str]:
    """Line protocol for one snapshot (ms precision). Pure."""
    lines = [
        point(
            "tickets_open",
            {"kind": kind, "priority": str(prio), "area": area},
            {"count": n},
            t_ms,
        )
        for (kind, prio, area), n in sorted(snap.open_by.items())
    ]
    lines.append(point("tickets_open_total", {}, {"count": sum(snap.open_by.values())}, t_ms))
    lines += [
        point("tickets_sla_breached", {"kind": kind}, {"count": n}, t_ms)
        for kind, n in sorted(snap.breached_by.items())
    ]
    lines.append(
        point("tickets_sla_breached_total", {}, {"count": sum(snap.breached_by.values())}, t_ms)
    )
    online = snap.devices_total - snap.devices_offline
    lines.append(
        point(
            "devices",
            {},
            {"online": online, "offline": snap.devices_offline, "total": snap.devices_total},
            t_ms,
        )
    )
    lines.append(point("bins_forecast_full", {}, {"count": snap.bins_forecast_full}, t_ms))
    sites: dict[str, list[tuple[float, float]]] = {}
    for asset, kind, site, device, lat, lon, state in snap.assets:
        tags = {"asset": asset, "kind": kind, "site": site, "device": device}
        lines.append(point("asset_state", tags, {"lat": lat, "lon": lon, "state": state}, t_ms))
        sites.setdefault(site, []).append((lat, lon))
    for site, places in sorted(sites.items()):
        lat = sum(p[0] for p in places) / len(places)
        lon = sum(p[1] for p in places) / len(places)
        elevation = round(sun_elevation(lat, lon, from_ms(t_ms)), 3)
        lines.append(
            point("sun", {"site": site}, {"elevation": elevation, "daylight": elevation > 0}, t_ms)
        )
    lines += [
        point(
            "rollout_devices",
            {"rollout": str(rollout), "version": version, "stage": stage, "state": state},
            {"count": n},
            t_ms,
        )
        for rollout, version, stage, state, n in snap.rollouts
    ]
    return lines


def event_line(h: TicketHistory, t: Ticket) -> str:
    """One ticket change as a point (microsecond precision). Pure."""
    t_us = to_ms(h.at) * 1000 + h.id % 1000
    return point(
        "ticket_event",
        {
            "kind": t.kind,
            "action": h.action,
            "status": h.to_status or "",
            "priority": str(t.priority),
            "area": t.area or "none",
        },
        {
            "ticket": t.id,
            "history": h.id,
            "asset": t.asset_id or "",
            "actor": h.actor,
            "from": h.from_status or "",
            "title": t.title,
        },
        t_us,
    )


def snapshot(s: Session, now: datetime) -> Snapshot:
    open_q = (
        select(Ticket.kind, Ticket.priority, Ticket.area, func.count())
        .where(Ticket.status.in_(sorted(OPEN_STATUSES)))
        .group_by(Ticket.kind, Ticket.priority, Ticket.area)
    )
    open_by: dict[tuple[str, int, str], int] = {}
    for kind, prio, area, n in s.execute(open_q):
        key = (kind, int(prio), area or "none")
        open_by[key] = open_by.get(key, 0) + int(n)
    breach_q = (
        select(Ticket.kind, func.count())
        .where(Ticket.status.in_(sorted(OPEN_STATUSES)), Ticket.sla_due < now)
        .group_by(Ticket.kind)
    )
    breached = {k: int(n) for k, n in s.execute(breach_q)}

    def active(alarm_type: str) -> int:
        q = select(func.count()).where(Alarm.type == alarm_type, Alarm.active.is_(True))
        return int(s.scalar(q.select_from(Alarm)) or 0)

    total = int(s.scalar(select(func.count()).select_from(Device)) or 0)
    alarmed = set(s.scalars(select(Alarm.asset_id).where(Alarm.active.is_(True))))
    offline = set(
        s.scalars(
            select(Alarm.asset_id).where(Alarm.active.is_(True), Alarm.type == "deviceOffline")
        )
    )
    rows = s.execute(
        select(Asset.id, Asset.kind, Device.site, Asset.device_id, Asset.lat, Asset.lon).join(
            Device, Device.id == Asset.device_id
        )
    )
    assets = tuple(
        (
            a,
            kind,
            site or "none",
            dev,
            float(lat),
            float(lon),
            "offline" if dev in offline else "alarm" if a in alarmed else "ok",
        )
        for a, kind, site, dev, lat, lon in rows
    )
    return Snapshot(
        open_by,
        breached,
        total,
        active("deviceOffline"),
        active("binForecastFull"),
        assets,
        rollout_counts(s),
    )


def rollout_counts(s: Session) -> tuple[tuple[int, str, str, str, int], ...]:
    """Devices per state in each stage of every open rollout (the fleet dashboard)."""
    q = (
        select(Rollout.id, Release.version, RolloutStage.name, RolloutDevice.state, func.count())
        .join(Release, Release.id == Rollout.release_id)
        .join(RolloutDevice, RolloutDevice.rollout_id == Rollout.id)
        .join(
            RolloutStage,
            (RolloutStage.rollout_id == Rollout.id)
            & (RolloutStage.position == RolloutDevice.stage),
        )
        .where(Rollout.status.in_(sorted(ROLLOUT_OPEN)))
        .group_by(Rollout.id, Release.version, RolloutStage.name, RolloutDevice.state)
        .order_by(Rollout.id, RolloutStage.name, RolloutDevice.state)
    )
    return tuple((int(i), v, st, state, int(n)) for i, v, st, state, n in s.execute(q))


class Gauges:
    """Exports ticket events and gauges; :meth:`run` loops until ``stop``."""

    def __init__(self, *, sessions: sessionmaker[Session], influx: Influx, clock: Clock) -> None:
        self.sessions = sessions
        self.influx = influx
        self.clock = clock
        self.events_written = 0
        self.gauges_written = 0
        self.dayburn = DayBurnWriter(sessions=sessions, influx=influx)
        self.history = HistoryWriter(sessions=sessions, influx=influx)
        self.followup = FollowupExport(sessions=sessions, influx=influx)

    def _pending(self) -> tuple[int, list[str]]:
        with self.sessions() as s:
            row = s.get(CounterRow, WATERMARK)
            mark = row.value if row else 0
            q = (
                select(TicketHistory, Ticket)
                .join(Ticket, Ticket.id == TicketHistory.ticket_id)
                .where(TicketHistory.id > mark)
                .order_by(TicketHistory.id)
                .limit(BATCH)
            )
            rows = s.execute(q).all()
        if not rows:
            return mark, []
        return rows[-1][0].id, [event_line(h, t) for h, t in rows]

    def _advance(self, mark: int) -> None:
        with self.sessions.begin() as s:
            s.merge(CounterRow(name=WATERMARK, value=mark))

    async def export_events(self) -> int:
        """Write ticket changes not yet in InfluxDB; returns how many (InfluxError on failure:
        nothing is marked written, the next call retries the same rows)."""
        total = 0
        while True:
            mark, lines = await asyncio.to_thread(self._pending)
            if not lines:
                return total
            await self.influx.write("\n".join(lines).encode(), precision="u")
            await asyncio.to_thread(self._advance, mark)
            total += len(lines)
            self.events_written += len(lines)
            if len(lines) < BATCH:
                return total

    async def write_gauges(self) -> int:
        now = self.clock.now()

        def snap() -> Snapshot:
            with self.sessions() as s:
                return snapshot(s, now)

        lines = gauge_lines(await asyncio.to_thread(snap), to_ms(now))
        await self.influx.write("\n".join(lines).encode(), precision="ms")
        self.gauges_written += 1
        burnt = await self.dayburn.write(to_ms(now))
        stored = 0
        for _ in range(HISTORY_HOURS_PER_TICK):
            hours = self.history.hours_written
            stored += await self.history.write(to_ms(now))
            if self.history.hours_written == hours:
                break
        return len(lines) + burnt + stored + await self.followup.write()

    async def run(self, stop: asyncio.Event, *, events_s: float, gauges_s: float) -> None:
        """Events every ``events_s``, gauges every ``gauges_s`` (wall seconds)."""
        loop = asyncio.get_running_loop()
        next_gauges = loop.time()
        while not stop.is_set():
            try:
                await self.export_events()
                if loop.time() >= next_gauges:
                    next_gauges = loop.time() + gauges_s
                    await self.write_gauges()
            except (InfluxError, SQLAlchemyError) as exc:
                log.warning("ticket export to InfluxDB failed, will retry: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=events_s)
