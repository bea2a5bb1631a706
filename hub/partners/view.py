"""What a partner sees at one of their places: its tickets and its assets' live state.

A ticket is at a place when its asset is inside the place's polygon or, for a ticket without
an asset (a report by hand), when its position is. Only fields a partner may see leave this
module: no descriptions other than their own organisation's, no crew notes, no assignee,
and nothing of a citizen's contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.db import Alarm, Asset, Device, Ticket
from hub.places import Place, bbox
from hub.places_store import place_assets
from hub.tickets import OPEN_STATUSES

RECENT: Final = timedelta(days=14)
SOURCE: Final = "partner"


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    kind: str
    title: str
    status: str
    severity: str
    asset_id: str | None
    lat: float | None
    lon: float | None
    address: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    ours: bool  # reported by the caller's organisation
    description: str  # only when ``ours``


@dataclass(frozen=True, slots=True)
class AssetView:
    id: str
    kind: str
    lat: float
    lon: float
    address: str | None
    online: bool
    last_seen: datetime | None
    alarms: tuple[tuple[str, str], ...]  # (type, severity) of each active alarm


def signature(org: str) -> dict[str, str]:
    """The evidence a partner's report carries, which later says whose it is."""
    return {"partner": org}


def ticket_view(t: Ticket, org: str) -> TicketView:
    """What a partner of ``org`` may see of ``t``."""
    ours = t.source == SOURCE and t.evidence.get("partner") == org
    return TicketView(
        t.id, t.kind, t.title, t.status, t.severity, t.asset_id, t.lat, t.lon, t.address,
        t.created_at, t.updated_at, t.resolved_at, ours, t.description if ours else "",
    )  # fmt: skip


def tickets_at(s: Session, place: Place, *, org: str, now: datetime) -> list[TicketView]:
    """Open tickets at ``place`` and those closed in the last :data:`RECENT`, newest first;
    duplicates left out."""
    assets = place_assets(s, place)
    x0, y0, x1, y1 = bbox(place)
    near = and_(
        Ticket.asset_id.is_(None),
        Ticket.lat.between(y0, y1),
        Ticket.lon.between(x0, x1),
    )
    where = Ticket.asset_id.in_(assets) | near if assets else near
    q = (
        select(Ticket)
        .where(
            where,
            Ticket.duplicate_of.is_(None),
            or_(Ticket.status.in_(OPEN_STATUSES), Ticket.updated_at >= now - RECENT),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    out = []
    for t in s.scalars(q):
        inside = t.asset_id is not None or (
            t.lat is not None and t.lon is not None and place.contains(t.lat, t.lon)
        )
        if inside:
            out.append(ticket_view(t, org))
    return out


def assets_at(s: Session, place: Place) -> list[AssetView]:
    """Every asset inside ``place`` with its device's liveness and its active alarms."""
    ids = place_assets(s, place)
    if not ids:
        return []
    rows = s.execute(
        select(Asset, Device.online, Device.last_seen)
        .join(Device, Device.id == Asset.device_id)
        .where(Asset.id.in_(ids))
        .order_by(Asset.id)
    ).all()
    alarms: dict[str, list[tuple[str, str]]] = {}
    active = select(Alarm.asset_id, Alarm.type, Alarm.severity).where(
        Alarm.asset_id.in_(ids), Alarm.active.is_(True)
    )
    for asset_id, kind, severity in s.execute(active.order_by(Alarm.id)):
        alarms.setdefault(asset_id, []).append((kind, severity))
    return [
        AssetView(
            a.id,
            a.kind,
            a.lat,
            a.lon,
            a.address,
            bool(online),
            last_seen,
            tuple(alarms.get(a.id, ())),
        )
        for a, online, last_seen in rows
    ]
