"""The follow-up's event and crowd figures for a period: events held, minutes at level of
service E and F per crowd zone, alerts raised per kind and how fast they were acknowledged.
Pure: facts in, figures out.

Definitions (also in docs/follow-up.md):

- events held: events with a phase overlapping the period (first phase start to last phase
  end), with their place and expected attendance;
- minutes at E and F: the stored ``levelOfService`` seconds of each zone at letter E and at
  letter F, in minutes;
- alerts per kind: raised in the period; minutes from raised to acknowledged (median and
  90th percentile, nearest rank) of those acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from hub.followup.hours import HourRow
from hub.followup.periods import STOCKHOLM
from hub.followup.ranks import nearest_rank

CROWDED: Final = ("E", "F")


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the report needs of one event (times in UTC ms)."""

    name: str
    place: str
    zones: tuple[str, ...]
    start_ms: int
    end_ms: int
    expected_attendance: int


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What the report needs of one alert (times in UTC ms)."""

    id: int
    kind: str
    zone: str
    place: str | None
    raised_ms: int
    acknowledged_ms: int | None = None


@dataclass(frozen=True, slots=True)
class EventHeld:
    """An event held, its times in Stockholm's local time with the offset."""

    name: str
    place: str
    start: str
    end: str
    expected_attendance: int


@dataclass(frozen=True, slots=True)
class ZoneService:
    zone: str
    minutes_e: float
    minutes_f: float


@dataclass(frozen=True, slots=True)
class AlertFigures:
    kind: str
    raised: int
    acknowledged: int
    ack_median_min: float | None
    ack_p90_min: float | None


@dataclass(frozen=True, slots=True)
class Crowds:
    events: tuple[EventHeld, ...] = ()
    zones: tuple[ZoneService, ...] = ()
    alerts: tuple[AlertFigures, ...] = field(default_factory=tuple)


def _local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=STOCKHOLM).isoformat(timespec="minutes")


def events_held(events: Sequence[EventFacts], *, start_ms: int, end_ms: int) -> list[EventHeld]:
    """Events whose time overlaps ``[start_ms, end_ms)``, in order of start."""
    held = [e for e in events if e.start_ms < end_ms and e.end_ms > start_ms]
    return [
        EventHeld(e.name, e.place, _local(e.start_ms), _local(e.end_ms), e.expected_attendance)
        for e in sorted(held, key=lambda e: (e.start_ms, e.name))
    ]


def zone_service(rows: Sequence[HourRow]) -> list[ZoneService]:
    """Per zone with any ``levelOfService`` row, the minutes at E and at F."""
    ms: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.field == "levelOfService":
            acc = ms.setdefault(r.asset, dict.fromkeys(CROWDED, 0))
            if r.value in CROWDED:
                # Whole milliseconds, as the other figures, so any grain gives the same sum.
                acc[r.value] += round(r.seconds * 1000)
    return [
        ZoneService(zone, ms[zone]["E"] / 60_000.0, ms[zone]["F"] / 60_000.0) for zone in sorted(ms)
    ]


def alert_figures(
    alerts: Sequence[AlertFacts], *, start_ms: int, end_ms: int
) -> list[AlertFigures]:
    """Per kind, the alerts raised in ``[start_ms, end_ms)``."""
    raised = [a for a in alerts if start_ms <= a.raised_ms < end_ms]
    out: list[AlertFigures] = []
    for kind in sorted({a.kind for a in raised}):
        these = [a for a in raised if a.kind == kind]
        ack = [
            (a.acknowledged_ms - a.raised_ms) / 60_000.0
            for a in these
            if a.acknowledged_ms is not None
        ]
        out.append(
            AlertFigures(
                kind=kind,
                raised=len(these),
                acknowledged=len(ack),
                ack_median_min=nearest_rank(ack, 0.5),
                ack_p90_min=nearest_rank(ack, 0.9),
            )
        )
    return out


def crowd_figures(
    rows: Sequence[HourRow],
    events: Sequence[EventFacts],
    alerts: Sequence[AlertFacts],
    *,
    start_ms: int,
    end_ms: int,
) -> Crowds:
    """The period's crowd figures (``rows`` already the period's own)."""
    return Crowds(
        events=tuple(events_held(events, start_ms=start_ms, end_ms=end_ms)),
        zones=tuple(zone_service(rows)),
        alerts=tuple(alert_figures(alerts, start_ms=start_ms, end_ms=end_ms)),
    )


def at_place(
    events: Sequence[EventFacts],
    alerts: Sequence[AlertFacts],
    *,
    place: str,
    assets: frozenset[str],
) -> tuple[list[EventFacts], list[AlertFacts]]:
    """The events and alerts of one place: named after it, or in one of its zones."""
    return (
        [e for e in events if e.place == place or assets.intersection(e.zones)],
        [a for a in alerts if a.place == place or a.zone in assets],
    )
