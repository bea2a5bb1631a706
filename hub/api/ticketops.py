"""Ticket queries the API needs beyond ``hub.tickets`` (the ticket service module).

Filters by bounding box and ordering by distance from a point, counting for pagination,
and crew photos. Crew actions (acknowledge, assign, comment, create...) go through
``hub.tickets`` itself; errors are its ``TicketError`` family so callers handle one type.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub.api.geo import BBox, Point
from hub.db import Ticket, TicketPhoto
from hub.tickets import OPEN_STATUSES, STATUSES


def expand_statuses(values: list[str]) -> list[str]:
    """Status filter values, with ``open`` meaning every open status; ValueError if unknown."""
    out: list[str] = []
    for v in values:
        if v == "open":
            out.extend(sorted(OPEN_STATUSES))
        elif v in STATUSES:
            out.append(v)
        else:
            raise ValueError(f"unknown status {v!r}; expected open or one of {', '.join(STATUSES)}")
    return out


def query(
    *,
    statuses: list[str],
    kinds: list[str],
    priorities: list[int],
    area: str | None,
    bbox: BBox | None,
    near: Point | None,
) -> Select[Ticket]:
    """The filtered, ordered SELECT (nearest first when ``near`` is given)."""
    q = select(Ticket)
    if statuses:
        q = q.where(Ticket.status.in_(statuses))
    if kinds:
        q = q.where(Ticket.kind.in_(kinds))
    if priorities:
        q = q.where(Ticket.priority.in_(priorities))
    if area is not None:
        q = q.where(Ticket.area == area)
    if bbox is not None:
        q = q.where(
            Ticket.lat.between(bbox.min_lat, bbox.max_lat),
            Ticket.lon.between(bbox.min_lon, bbox.max_lon),
        )
    if near is not None:
        # Equirectangular squared distance: plain arithmetic on SQLite and PostgreSQL, and
        # the same order as great-circle distance at city scale. No position sorts last.
        k = math.cos(math.radians(near.lat))
        dlat = Ticket.lat - near.lat
        dlon = (Ticket.lon - near.lon) * k
        q = q.order_by(Ticket.lat.is_(None), dlat * dlat + dlon * dlon, Ticket.id)
    else:
        q = q.order_by(Ticket.priority, Ticket.created_at, Ticket.id)
    return q


def count(s: Session, q: Select[Ticket]) -> int:
    return int(s.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0)


def add_photo(
    s: Session, *, ticket_id: int, data: bytes, content_type: str, actor: str, now: datetime
) -> TicketPhoto:
    photo = TicketPhoto(
        ticket_id=ticket_id,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        uploaded_by=actor,
        created_at=now,
    )
    s.add(photo)
    s.flush()
    return photo


def sniff_image(data: bytes) -> str | None:
    """The image type from its magic bytes (the client's Content-Type is not trusted)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
