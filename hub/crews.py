"""Crews and the areas they cover: a ticket inside a crew's polygon is assigned to it.

Polygons are lists of ``[lon, lat]`` pairs (GeoJSON order), at least three corners, not
closed (the last corner joins the first). Where areas overlap, the crew with the lowest
``rank`` wins, and a crew may limit itself to some ticket kinds (``kinds``, empty = all).
Point-in-polygon is the pure even-odd ray test; at city scale lon/lat can be treated as
plane coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Crew

MAX_CORNERS = 1000


class CrewError(ValueError):
    """A crew or polygon that cannot be stored; nothing was changed."""


def contains(polygon: Sequence[Sequence[float]], *, lat: float, lon: float) -> bool:
    """True if (lat, lon) lies inside ``polygon`` ([lon, lat] corners), even-odd rule."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i][0], polygon[i][1]
        x2, y2 = polygon[(i + 1) % n][0], polygon[(i + 1) % n][1]
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def validate_polygon(points: object) -> list[list[float]]:
    """The polygon as ``[[lon, lat], ...]``; CrewError says what is wrong with it."""
    if not isinstance(points, list | tuple) or not 3 <= len(points) <= MAX_CORNERS:
        raise CrewError(f"a polygon needs 3..{MAX_CORNERS} [lon, lat] corners")
    out: list[list[float]] = []
    for i, p in enumerate(points):
        if not isinstance(p, list | tuple) or len(p) != 2:
            raise CrewError(f"corner {i} must be [lon, lat]")
        lon, lat = p
        if isinstance(lon, bool) or isinstance(lat, bool):
            raise CrewError(f"corner {i} must be numbers")
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            raise CrewError(f"corner {i} must be numbers")
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise CrewError(f"corner {i} must be finite")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise CrewError(f"corner {i} is not a valid lon/lat")
        out.append([float(lon), float(lat)])
    return out


def upsert_crew(
    s: Session,
    *,
    crew_id: str,
    name: str,
    area: str,
    polygon: object,
    kinds: Sequence[str] = (),
    rank: int = 100,
) -> Crew:
    """Create or replace a crew; CrewError (nothing changed) for an invalid polygon or id."""
    if not crew_id or len(crew_id) > 64 or not area or len(area) > 64:
        raise CrewError("crew id and area must be 1..64 characters")
    corners = validate_polygon(polygon)
    crew = s.get(Crew, crew_id) or Crew(id=crew_id)
    crew.name, crew.area, crew.rank, crew.active = name[:100], area, rank, True
    crew.polygon = {"coordinates": corners}
    crew.kinds = {"kinds": sorted(set(kinds))}
    s.add(crew)
    s.flush()
    return crew


def list_crews(s: Session) -> list[Crew]:
    return list(s.scalars(select(Crew).where(Crew.active.is_(True)).order_by(Crew.rank, Crew.id)))


def crew_for(s: Session, *, lat: float | None, lon: float | None, kind: str) -> Crew | None:
    """The crew whose area covers the point and takes this kind of ticket (lowest rank)."""
    if lat is None or lon is None:
        return None
    for crew in list_crews(s):
        kinds = crew.kinds.get("kinds") or []
        if kinds and kind not in kinds:
            continue
        if contains(crew.polygon.get("coordinates", []), lat=lat, lon=lon):
            return crew
    return None
