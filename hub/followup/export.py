"""The follow-up figures' ingredients in InfluxDB, for the Grafana "Uppföljning" dashboard.

Grafana reads InfluxDB only, and raw readings last 90 days there, so once an hour of
``asset_hours`` is stored this writes it again, summed per site and asset kind, into the
five-year ``rollup`` retention policy (measurement ``followup``), with one point per
ticket resolved in that hour (``followup_repair``). The fields are seconds and counts, not
shares, so a dashboard sums them over any range and site and divides (``sum(lit)/sum(dark)``),
which gives the same figures as ``trygg report`` for the same days.

Called from the gauges loop after :class:`hub.followup.history.HistoryWriter`; each call
exports at most ``MAX_HOURS`` stored hours after its own mark (``followup.exported_until``),
so a failure redoes the same hours and InfluxDB keeps each point once (same time and tags).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import AssetHour
from hub.db import Counter as CounterRow
from hub.followup.figures import TicketFacts
from hub.followup.history import WATERMARK as HOURS_STORED
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.load import ticket_facts
from hub.followup.store import load_hours
from hub.influx import Influx
from hub.lineproto import point
from trygg.clock import from_ms, to_ms

log = logging.getLogger(__name__)

WATERMARK: Final = "followup.exported_until"
MEASUREMENT: Final = "followup"
REPAIR: Final = "followup_repair"
RP: Final = "rollup"
MAX_HOURS: Final = 24

# ``followup`` fields: (asset_hours field, value) -> field name; seconds unless a count.
_SECONDS: Final = {
    ("lamp", "litDark"): ("lamp_dark_s", "lamp_lit_dark_s"),
    ("lamp", "unlitDark"): ("lamp_dark_s",),
    ("lamp", "unknownDark"): ("lamp_dark_s",),
    ("lamp", "litDay"): ("lamp_lit_day_s",),
    ("bin", "full"): ("bin_full_s",),
    ("camera", "healthy"): ("camera_s", "camera_healthy_s"),
    ("camera", "degraded"): ("camera_s",),
    ("camera", "unknown"): ("camera_s",),
    ("reporting", "heard"): ("asset_s", "heard_s"),
    ("reporting", "silent"): ("asset_s",),
}
SECOND_FIELDS: Final = (
    "asset_s",
    "heard_s",
    "lamp_dark_s",
    "lamp_lit_dark_s",
    "lamp_lit_day_s",
    "bin_full_s",
    "camera_s",
    "camera_healthy_s",
)
FIELDS: Final = (*SECOND_FIELDS, "lamp_day_wh", "fires", "collections")
REPAIR_FIELDS: Final = ("ack_h", "repair_h", "within_sla")


def hour_lines(rows: Iterable[HourRow], hour_ms: int) -> list[str]:
    """One ``followup`` line per (site, kind) of one hour's rows. Pure."""
    sums: dict[tuple[str, str], dict[str, float]] = {}
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        key = (r.site, r.kind)
        acc = sums.setdefault(key, dict.fromkeys(SECOND_FIELDS, 0.0) | {"lamp_day_wh": 0.0})
        n = counts.setdefault(key, {"fires": 0, "collections": 0})
        for name in _SECONDS.get((r.field, r.value), ()):
            acc[name] += r.seconds
        if (r.field, r.value) == ("lamp", "litDay"):
            acc["lamp_day_wh"] += r.amount
        if r.field == "event" and r.value == "fire":
            n["fires"] += r.count
        elif r.field == "event" and r.value == "collection":
            n["collections"] += r.count
    return [
        point(
            MEASUREMENT,
            {"site": site, "kind": kind},
            {**{k: round(v, 3) for k, v in sums[(site, kind)].items()}, **counts[(site, kind)]},
            hour_ms,
        )
        for site, kind in sorted(sums)
    ]


def repair_lines(tickets: Iterable[TicketFacts]) -> list[str]:
    """One ``followup_repair`` line per resolved ticket, at its resolution. Pure."""
    out: list[str] = []
    for t in tickets:
        if t.resolved_ms is None:
            continue
        fields: dict[str, float | int | bool | str] = {
            "repair_h": round((t.resolved_ms - t.created_ms) / 3.6e6, 6)
        }
        if t.acknowledged_ms is not None:
            fields["ack_h"] = round((t.acknowledged_ms - t.created_ms) / 3.6e6, 6)
        if t.sla_due_ms is not None:
            fields["within_sla"] = 1.0 if t.resolved_ms <= t.sla_due_ms else 0.0
        tags = {"kind": t.kind, "site": t.site or "none", "ticket": str(t.id)}
        out.append(point(REPAIR, tags, fields, t.resolved_ms))
    return out


class FollowupExport:
    """Exports stored hours of ``asset_hours`` (and the hour's repairs) to InfluxDB."""

    def __init__(self, *, sessions: sessionmaker[Session], influx: Influx) -> None:
        self.sessions = sessions
        self.influx = influx
        self.lines_written = 0

    def _pending(self) -> tuple[int, int, list[str]]:
        """The hours to export now, ``[start, end)`` (at most MAX_HOURS), and their lines."""
        with self.sessions() as s:
            stored = s.get(CounterRow, HOURS_STORED)
            if stored is None:
                return 0, 0, []
            mark = s.get(CounterRow, WATERMARK)
            if mark is not None:
                start = mark.value
            else:
                first = s.scalar(select(func.min(AssetHour.hour)))
                start = to_ms(first) if first is not None else stored.value
            end = min(stored.value, start + MAX_HOURS * HOUR_MS)
            if end <= start:
                return start, start, []
            rows = load_hours(s, start_ms=start, end_ms=end)
            tickets = ticket_facts(s, start_ms=start, end_ms=end, by="resolved")
        by_hour: dict[int, list[HourRow]] = {}
        for r in rows:
            by_hour.setdefault(r.hour_ms, []).append(r)
        lines = [line for h in sorted(by_hour) for line in hour_lines(by_hour[h], h)]
        return start, end, lines + repair_lines(tickets)

    def _advance(self, end: int) -> None:
        with self.sessions.begin() as s:
            s.merge(CounterRow(name=WATERMARK, value=end))

    async def write(self) -> int:
        """Export the stored hours not yet exported; returns lines written (InfluxError: the
        mark stays, the next call redoes the same hours)."""
        start, end, lines = await asyncio.to_thread(self._pending)
        if end <= start:
            return 0
        if lines:
            await self.influx.write("\n".join(lines).encode(), rp=RP, precision="ms")
        await asyncio.to_thread(self._advance, end)
        self.lines_written += len(lines)
        log.info("exported follow-up figures up to %s (%d lines)", from_ms(end), len(lines))
        return len(lines)
