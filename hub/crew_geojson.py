"""Crews and their areas from a GeoJSON file the city's GIS exports. Pure.

A ``FeatureCollection`` of ``Polygon`` features, one per crew, with properties ``id`` and
``area`` (required), ``name``, ``kinds`` (ticket kinds the crew takes; empty = all) and
``rank`` (lower wins where areas overlap). Only the outer ring is used; holes and
``MultiPolygon`` are refused rather than silently dropped. Every error names the feature.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.crews import CrewError, validate_polygon

MAX_FEATURES = 1000


class GeoJsonError(ValueError):
    """The file cannot be imported; the message names the feature and what is wrong."""


@dataclass(frozen=True, slots=True)
class CrewSpec:
    crew_id: str
    name: str
    area: str
    polygon: list[list[float]]
    kinds: tuple[str, ...]
    rank: int


def parse(text: str) -> list[CrewSpec]:
    """Every crew of a GeoJSON text; GeoJsonError for the first thing wrong in it."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeoJsonError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise GeoJsonError('expected a GeoJSON object with "type": "FeatureCollection"')
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise GeoJsonError('"features" must be a non-empty list')
    if len(features) > MAX_FEATURES:
        raise GeoJsonError(f"{len(features)} features > {MAX_FEATURES} allowed")
    specs = [_feature(i, f) for i, f in enumerate(features)]
    seen: set[str] = set()
    for spec in specs:
        if spec.crew_id in seen:
            raise GeoJsonError(f"crew id {spec.crew_id!r} appears more than once")
        seen.add(spec.crew_id)
    return specs


def _feature(i: int, feature: object) -> CrewSpec:
    where = f"feature {i}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise GeoJsonError(f'{where}: expected an object with "type": "Feature"')
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise GeoJsonError(f"{where}: properties must be an object")
    crew_id = _text(props, "id", where)
    where = f"feature {i} (crew {crew_id!r})"
    area = _text(props, "area", where)
    name = props.get("name", crew_id)
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise GeoJsonError(f"{where}: name must be text of 1..100 characters")
    kinds = props.get("kinds", [])
    if not isinstance(kinds, list) or not all(isinstance(k, str) and k for k in kinds):
        raise GeoJsonError(f"{where}: kinds must be a list of ticket kinds")
    rank = props.get("rank", 100)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= 1_000_000:
        raise GeoJsonError(f"{where}: rank must be a whole number 0..1000000")
    return CrewSpec(
        crew_id=crew_id,
        name=name,
        area=area,
        polygon=_ring(feature.get("geometry"), where),
        kinds=tuple(sorted(set(kinds))),
        rank=rank,
    )


def _text(props: Mapping[str, Any], key: str, where: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise GeoJsonError(f"{where}: property {key!r} must be text of 1..64 characters")
    return value


def _ring(geometry: object, where: str) -> list[list[float]]:
    if not isinstance(geometry, dict):
        raise GeoJsonError(f"{where}: geometry missing")
    kind = geometry.get("type")
    if kind != "Polygon":
        raise GeoJsonError(f"{where}: geometry must be a Polygon, not {kind!r}")
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise GeoJsonError(f"{where}: a Polygon needs coordinates [[[lon, lat], ...]]")
    if len(rings) > 1:
        raise GeoJsonError(f"{where}: polygons with holes are not supported")
    ring = rings[0]
    if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
        raise GeoJsonError(
            f"{where}: the ring must be closed (first corner repeated last), 4+ positions"
        )
    # GeoJSON positions may carry an altitude: the area is flat.
    corners = [p[:2] if isinstance(p, list) and len(p) == 3 else p for p in ring[:-1]]
    try:
        return validate_polygon(corners)
    except CrewError as exc:
        raise GeoJsonError(f"{where}: {exc}") from exc
