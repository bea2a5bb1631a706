"""The follow-up figures for a period and a place, from stored hours and tickets. Pure.

Every figure comes from :mod:`hub.followup.hours` rows (seconds per state value per hour)
and from ticket facts, so recomputing a past period gives the figures first reported as
long as the rows are kept. Each section is reported with the previous period beside it.

Definitions (also in docs/follow-up.md):

- lamp availability: lit seconds / all lamp seconds while dark at the pole (unknown counts
  as not lit: a silent lamp did not light the street); dark lamp-hours: lamp-hours dark
  and not lit; day-burning: lamp-hours lit by day, and the kWh drawn meanwhile;
- repairs per ticket kind: opened in the period; hours to acknowledge and to resolve
  (median and 90th percentile, nearest rank); share resolved by the SLA due time; reopened;
  graffiti tickets resolved within 24 h of being opened;
- bins: hours at or above the full threshold, fires and collections counted;
- cameras: share of camera-hours healthy; devices and every kind: share of asset-hours
  with a reading within the hold time (``reporting``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from hub.followup.crowds import AlertFacts, Crowds, EventFacts, at_place, crowd_figures
from hub.followup.hours import HourRow
from hub.followup.periods import Period
from hub.followup.ranks import nearest_rank

GRAFFITI_TARGET_S: Final = 24 * 3600
# The camera verdicts a pole judges against its own scene; they reach the hub only as
# tickets, so their time is the tickets' open time.
CAMERA_FAULTS: Final = {
    "cameraCovered": "covered",
    "cameraBlurred": "blurred",
    "cameraDisplaced": "turned_away",
}


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the repair figures need of one ticket (times in UTC ms)."""

    id: int
    kind: str
    asset: str | None
    site: str | None
    created_ms: int
    acknowledged_ms: int | None = None
    resolved_ms: int | None = None
    sla_due_ms: int | None = None
    reopened: int = 0


@dataclass(frozen=True, slots=True)
class Lighting:
    lamps: int
    availability: float | None
    dark_lamp_hours: float
    day_burning_hours: float
    wasted_kwh: float


@dataclass(frozen=True, slots=True)
class Repairs:
    kind: str
    opened: int
    resolved: int
    ack_median_h: float | None
    ack_p90_h: float | None
    repair_median_h: float | None
    repair_p90_h: float | None
    within_sla: float | None
    reopened: int


@dataclass(frozen=True, slots=True)
class Bins:
    bins: int
    hours_full: float
    fires: int
    collections: int


@dataclass(frozen=True, slots=True)
class Figures:
    period: str
    first: str
    last: str
    hours: int
    lighting: Lighting
    repairs: tuple[Repairs, ...]
    graffiti_within_24h: float | None
    bins: Bins
    camera_availability: float | None
    availability: Mapping[str, float | None] = field(default_factory=dict)
    camera_fault_hours: Mapping[str, float] = field(default_factory=dict)
    crowds: Crowds = field(default_factory=Crowds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Report:
    """A period's figures with the previous period's beside them."""

    place: str
    current: Figures
    previous: Figures

    def as_dict(self) -> dict[str, Any]:
        return {
            "place": self.place,
            "current": self.current.as_dict(),
            "previous": self.previous.as_dict(),
        }


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _milli(x: float) -> int:
    # Stored to three decimals: summing whole thousandths is exact in any order, so a
    # period read from hours, days or months gives the very same figures.
    return round(x * 1000)


def _milliseconds(rows: Iterable[HourRow], fld: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        if r.field == fld:
            out[r.value] = out.get(r.value, 0) + _milli(r.seconds)
    return out


def _seconds(rows: Iterable[HourRow], fld: str) -> dict[str, float]:
    return {k: v / 1000.0 for k, v in _milliseconds(rows, fld).items()}


def lighting(rows: Sequence[HourRow]) -> Lighting:
    lamp = [r for r in rows if r.field == "lamp"]
    s = _seconds(lamp, "lamp")
    dark = s.get("litDark", 0.0) + s.get("unlitDark", 0.0) + s.get("unknownDark", 0.0)
    wasted_wh = sum(_milli(r.amount) for r in lamp if r.value == "litDay") / 1000.0
    return Lighting(
        lamps=len({r.asset for r in lamp}),
        availability=_share(s.get("litDark", 0.0), dark),
        dark_lamp_hours=(dark - s.get("litDark", 0.0)) / 3600.0,
        day_burning_hours=s.get("litDay", 0.0) / 3600.0,
        wasted_kwh=wasted_wh / 1000.0,
    )


def bins(rows: Sequence[HourRow]) -> Bins:
    events = [r for r in rows if r.field == "event"]
    return Bins(
        bins=len({r.asset for r in rows if r.field == "bin"}),
        hours_full=_seconds(rows, "bin").get("full", 0.0) / 3600.0,
        fires=sum(r.count for r in events if r.value == "fire"),
        collections=sum(r.count for r in events if r.value == "collection"),
    )


def availability(rows: Sequence[HourRow], fld: str, good: str) -> float | None:
    ms = _milliseconds(rows, fld)
    return _share(ms.get(good, 0), sum(ms.values()))


def repairs(tickets: Sequence[TicketFacts], *, start_ms: int, end_ms: int) -> list[Repairs]:
    """Per kind, the tickets opened in ``[start_ms, end_ms)``."""
    out: list[Repairs] = []
    opened = [t for t in tickets if start_ms <= t.created_ms < end_ms]
    for kind in sorted({t.kind for t in opened}):
        ts = [t for t in opened if t.kind == kind]
        ack = [(t.acknowledged_ms - t.created_ms) / 3.6e6 for t in ts if t.acknowledged_ms]
        done = [t for t in ts if t.resolved_ms is not None]
        fix = [(t.resolved_ms - t.created_ms) / 3.6e6 for t in done if t.resolved_ms]
        due = [t for t in done if t.sla_due_ms is not None]
        in_sla = sum(1 for t in due if (t.resolved_ms or 0) <= (t.sla_due_ms or 0))
        out.append(
            Repairs(
                kind=kind,
                opened=len(ts),
                resolved=len(done),
                ack_median_h=nearest_rank(ack, 0.5),
                ack_p90_h=nearest_rank(ack, 0.9),
                repair_median_h=nearest_rank(fix, 0.5),
                repair_p90_h=nearest_rank(fix, 0.9),
                within_sla=_share(in_sla, len(due)),
                reopened=sum(1 for t in ts if t.reopened > 0),
            )
        )
    return out


def graffiti_within_24h(
    tickets: Sequence[TicketFacts], *, start_ms: int, end_ms: int
) -> float | None:
    """Share of graffiti tickets opened in the range that were resolved within 24 h."""
    ts = [t for t in tickets if "graffiti" in t.kind and start_ms <= t.created_ms < end_ms]
    fast = sum(
        1
        for t in ts
        if t.resolved_ms is not None and t.resolved_ms - t.created_ms <= GRAFFITI_TARGET_S * 1000
    )
    return _share(fast, len(ts))


def camera_fault_hours(
    tickets: Sequence[TicketFacts], *, start_ms: int, end_ms: int
) -> dict[str, float]:
    """Camera-hours covered, blurred and turned away in ``[start_ms, end_ms)``: each such
    ticket's time from opening to resolution (or the range's end) inside the range."""
    out = dict.fromkeys(CAMERA_FAULTS.values(), 0)
    for t in tickets:
        fault = CAMERA_FAULTS.get(t.kind)
        if fault is None:
            continue
        until = end_ms if t.resolved_ms is None else min(t.resolved_ms, end_ms)
        out[fault] += max(0, until - max(t.created_ms, start_ms))
    return {k: ms / 3.6e6 for k, ms in out.items()}


def figures(
    period: Period,
    rows: Sequence[HourRow],
    tickets: Sequence[TicketFacts],
    events: Sequence[EventFacts] = (),
    alerts: Sequence[AlertFacts] = (),
) -> Figures:
    """The figures of ``period`` from the rows, tickets, events and alerts given (those
    outside the period are ignored, so one load may serve a period and its predecessor)."""
    start, end = period.start_ms, period.end_ms
    inside = [r for r in rows if start <= r.hour_ms < end]
    kinds = sorted({r.kind for r in inside})
    return Figures(
        period=period.name,
        first=period.first.isoformat(),
        last=period.last.isoformat(),
        hours=period.hours,
        lighting=lighting(inside),
        repairs=tuple(repairs(tickets, start_ms=start, end_ms=end)),
        graffiti_within_24h=graffiti_within_24h(tickets, start_ms=start, end_ms=end),
        bins=bins(inside),
        camera_availability=availability(inside, "camera", "healthy"),
        availability={
            k: availability([r for r in inside if r.kind == k], "reporting", "heard") for k in kinds
        },
        crowds=crowd_figures(inside, events, alerts, start_ms=start, end_ms=end),
        camera_fault_hours=camera_fault_hours(tickets, start_ms=start, end_ms=end),
    )


def report(
    period: Period,
    rows: Sequence[HourRow],
    tickets: Sequence[TicketFacts],
    *,
    place: str = "Solna",
    assets: frozenset[str] | None = None,
    events: Sequence[EventFacts] = (),
    alerts: Sequence[AlertFacts] = (),
) -> Report:
    """Figures for ``period`` and the one before it, of ``assets`` (and the events and
    alerts of ``place``) only if ``assets`` is given."""
    if assets is not None:
        rows = [r for r in rows if r.asset in assets]
        tickets = [t for t in tickets if t.asset in assets]
        events, alerts = at_place(events, alerts, place=place, assets=assets)
    return Report(
        place,
        figures(period, rows, tickets, events, alerts),
        figures(period.previous(), rows, tickets, events, alerts),
    )
