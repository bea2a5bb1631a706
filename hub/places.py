"""Places: a named square, station, district or arena with a polygon (GeoJSON). Pure.

A place holds the assets whose position lies inside its polygon; it is what the follow-up
figures and partners' views are cut by. Polygons come as GeoJSON ``Polygon`` or
``MultiPolygon`` geometries in WGS 84 (longitude, latitude), holes allowed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

KINDS: Final = ("square", "station", "district", "arena")
NAME = re.compile(r"^[\w][\w .\-]{0,62}$")

Ring = tuple[tuple[float, float], ...]  # (lon, lat) corners, closed
Polygon = tuple[Ring, ...]  # outer ring, then holes


class PlaceError(ValueError):
    """A place or its geometry is not acceptable; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: str
    polygons: tuple[Polygon, ...]

    def contains(self, lat: float, lon: float) -> bool:
        """True when (lat, lon) is inside an outer ring and in none of its holes."""
        return any(
            _in_ring(p[0], lon, lat) and not any(_in_ring(h, lon, lat) for h in p[1:])
            for p in self.polygons
        )

    def geometry(self) -> dict[str, Any]:
        """The polygon back as a GeoJSON geometry."""
        coords = [[[list(c) for c in ring] for ring in p] for p in self.polygons]
        if len(coords) == 1:
            return {"type": "Polygon", "coordinates": coords[0]}
        return {"type": "MultiPolygon", "coordinates": coords}


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    """Even-odd ray casting; points on the boundary count as inside or not, arbitrarily."""
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _ring(raw: Any, where: str) -> Ring:
    if not isinstance(raw, list) or len(raw) < 4:
        raise PlaceError(f"{where}: a ring needs at least four [lon, lat] positions")
    out: list[tuple[float, float]] = []
    for i, pos in enumerate(raw):
        ok = isinstance(pos, list) and len(pos) >= 2
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
        if not ok:
            raise PlaceError(f"{where}[{i}]: not a [lon, lat] position: {pos!r}")
        lon, lat = float(pos[0]), float(pos[1])
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise PlaceError(f"{where}[{i}]: outside WGS 84: {pos!r}")
        out.append((lon, lat))
    if out[0] != out[-1]:
        raise PlaceError(f"{where}: a ring must end where it starts")
    return tuple(out)


def polygons_from_geojson(geometry: Mapping[str, Any]) -> tuple[Polygon, ...]:
    """The polygons of a GeoJSON ``Polygon``/``MultiPolygon``; PlaceError otherwise."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        groups = [coords]
    elif kind == "MultiPolygon" and isinstance(coords, list):
        groups = coords
    else:
        raise PlaceError(f"geometry must be a Polygon or MultiPolygon, not {kind!r}")
    out: list[Polygon] = []
    for i, rings in enumerate(groups):
        if not isinstance(rings, list) or not rings:
            raise PlaceError(f"polygon {i}: no rings")
        out.append(tuple(_ring(r, f"polygon {i} ring {j}") for j, r in enumerate(rings)))
    return tuple(out)


def make_place(name: str, kind: str, geometry: Mapping[str, Any]) -> Place:
    """A validated place; PlaceError names the bad name, kind or position."""
    if not NAME.match(name):
        raise PlaceError(f"place name {name!r}: letters, digits, space, '.', '-', up to 63")
    if kind not in KINDS:
        raise PlaceError(f"place kind {kind!r}: one of {', '.join(KINDS)}")
    return Place(name, kind, polygons_from_geojson(geometry))


def places_from_feature_collection(
    doc: Mapping[str, Any], *, default_kind: str = "square"
) -> list[Place]:
    """Places from a GeoJSON FeatureCollection whose features carry ``properties.name`` (and
    optionally ``properties.kind``); PlaceError names the first bad feature, and none is
    returned then."""
    if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise PlaceError("not a GeoJSON FeatureCollection")
    out: list[Place] = []
    for i, feat in enumerate(doc["features"]):
        props = feat.get("properties") or {} if isinstance(feat, dict) else {}
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(geom, dict):
            raise PlaceError(f"feature {i}: no geometry")
        try:
            out.append(
                make_place(str(props.get("name", "")), str(props.get("kind", default_kind)), geom)
            )
        except PlaceError as exc:
            raise PlaceError(f"feature {i}: {exc}") from exc
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise PlaceError("two features have the same name")
    return out


def assets_in(place: Place, assets: Iterable[tuple[str, float, float]]) -> frozenset[str]:
    """The ids of ``(asset, lat, lon)`` inside the place."""
    return frozenset(a for a, lat, lon in assets if place.contains(lat, lon))


def bbox(place: Place) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of the outer rings."""
    pts: Sequence[tuple[float, float]] = [c for p in place.polygons for c in p[0]]
    return (
        min(x for x, _ in pts),
        min(y for _, y in pts),
        max(x for x, _ in pts),
        max(y for _, y in pts),
    )
