"""Ticket queries the API needs beyond ``hub.tickets`` (issue 6's service module).

Filters by bounding box and ordering by distance from a point, counting for pagination,
and crew photos. Crew actions (acknowledge, assign, comment, create...) go through
``hub.tickets`` itself; errors are its ``TicketError`` family so callers handle one type.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub.db import Ticket, TicketPhoto
from hub.tickets import OPEN_STATUSES, STATUSES

EARTH_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """``minLon,minLat,maxLon,maxLat`` (GeoJSON order); ValueError says what is wrong."""
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError("bbox needs four numbers: minLon,minLat,maxLon,maxLat")
        try:
            a, b, c, d = (float(p) for p in parts)
        except ValueError:
            raise ValueError("bbox values must be numbers") from None
        if not all(math.isfinite(v) for v in (a, b, c, d)):
            raise ValueError("bbox values must be finite")
        if not (-180 <= a <= c <= 180 and -90 <= b <= d <= 90):
            raise ValueError("bbox must satisfy -180<=minLon<=maxLon<=180, -90<=minLat<=maxLat<=90")
        return cls(a, b, c, d)


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float

    @classmethod
    def parse(cls, text: str) -> Point:
        """``lat,lon``; ValueError says what is wrong."""
        parts = text.split(",")
        if len(parts) != 2:
            raise ValueError("near needs two numbers: lat,lon")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            raise ValueError("near values must be numbers") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("near must be a valid lat,lon")
        return cls(lat, lon)


def distance_m(a: Point, lat: float | None, lon: float | None) -> float | None:
    """Great-circle distance in metres (haversine), None for tickets without a position."""
    if lat is None or lon is None:
        return None
    p1, p2 = math.radians(a.lat), math.radians(lat)
    dp, dl = p2 - p1, math.radians(lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


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
