"""Crews from GeoJSON: what the GIS exports is read, what is wrong is named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.crew_geojson import GeoJsonError, parse

SQUARE = [[17.98, 59.35], [18.03, 59.35], [18.03, 59.372], [17.98, 59.372], [17.98, 59.35]]


def feature(props: dict[str, Any], geometry: Any = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": geometry
        if geometry is not None
        else {"type": "Polygon", "coordinates": [SQUARE]},
    }


def collection(*features: dict[str, Any]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def test_a_crew_is_read_with_its_open_ring_kinds_and_rank() -> None:
    specs = parse(
        collection(
            feature(
                {"id": "c1", "area": "centrum", "name": "Centrum", "kinds": ["lamp_out"], "rank": 5}
            ),
            feature({"id": "c2", "area": "norr"}),
        )
    )
    assert [s.crew_id for s in specs] == ["c1", "c2"]
    assert specs[0].polygon == [[float(x), float(y)] for x, y in SQUARE[:-1]]
    assert (specs[0].kinds, specs[0].rank, specs[0].name) == (("lamp_out",), 5, "Centrum")
    assert (specs[1].kinds, specs[1].rank, specs[1].name) == ((), 100, "c2")


def test_positions_with_altitude_are_read_flat() -> None:
    ring = [[*p, 12.5] for p in SQUARE]
    (spec,) = parse(
        collection(feature({"id": "c1", "area": "a"}, {"type": "Polygon", "coordinates": [ring]}))
    )
    assert spec.polygon[0] == [17.98, 59.35]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"type": "Feature"}), "FeatureCollection"),
        (json.dumps({"type": "FeatureCollection", "features": []}), "non-empty"),
        (collection({"type": "Point"}), 'feature 0: expected an object with "type": "Feature"'),
        (collection(feature({"area": "a"})), "feature 0: property 'id'"),
        (collection(feature({"id": "c1"})), "crew 'c1'): property 'area'"),
        (collection(feature({"id": "c1", "area": "a", "rank": "high"})), "rank must be"),
        (collection(feature({"id": "c1", "area": "a", "kinds": "all"})), "kinds must be"),
        (
            collection(
                feature({"id": "c1", "area": "a"}, {"type": "MultiPolygon", "coordinates": []})
            ),
            "must be a Polygon, not 'MultiPolygon'",
        ),
        (
            collection(
                feature(
                    {"id": "c1", "area": "a"}, {"type": "Polygon", "coordinates": [SQUARE[:-1]]}
                )
            ),
            "must be closed",
        ),
        (
            collection(
                feature(
                    {"id": "c1", "area": "a"}, {"type": "Polygon", "coordinates": [SQUARE, SQUARE]}
                )
            ),
            "holes",
        ),
        (
            collection(
                feature(
                    {"id": "c1", "area": "a"},
                    {
                        "type": "Polygon",
                        "coordinates": [[[200, 59], [18, 59], [18, 60], [200, 59]]],
                    },
                )
            ),
            "not a valid lon/lat",
        ),
        (
            collection(feature({"id": "c1", "area": "a"}), feature({"id": "c1", "area": "b"})),
            "more than once",
        ),
    ],
)
def test_bad_files_are_refused_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(GeoJsonError, match=None) as info:
        parse(text)
    assert message in str(info.value)
