"""Places with polygons (hub/places.py) and their table (hub/places_store.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.db import Asset, open_database
from hub.devices import register
from hub.places import PlaceError, make_place, places_from_feature_collection
from hub.places_store import get_place, list_places, place_assets, remove_place, save_places

SQUARE: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [[18.0, 59.36], [18.01, 59.36], [18.01, 59.37], [18.0, 59.37], [18.0, 59.36]],
        [[18.004, 59.364], [18.006, 59.364], [18.006, 59.366], [18.004, 59.366], [18.004, 59.364]],
    ],
}


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (59.361, 18.001, True),
        (59.365, 18.005, False),  # in the hole
        (59.371, 18.005, False),
        (59.365, 17.999, False),
    ],
)
def test_contains_honours_holes(lat: float, lon: float, inside: bool) -> None:
    assert make_place("Torget", "square", SQUARE).contains(lat, lon) is inside


def test_multipolygon_and_geometry_round_trip() -> None:
    outer = SQUARE["coordinates"][0]
    multi = {"type": "MultiPolygon", "coordinates": [[outer], [[[x + 1, y] for x, y in outer]]]}
    p = make_place("Två", "district", multi)
    assert p.contains(59.365, 19.005)
    assert make_place("Två", "district", p.geometry()) == p


@pytest.mark.parametrize(
    ("name", "kind", "geometry", "message"),
    [
        ("", "square", SQUARE, "place name"),
        ("Torget", "mall", SQUARE, "place kind"),
        ("Torget", "square", {"type": "Point", "coordinates": [18, 59]}, "Polygon"),
        (
            "Torget",
            "square",
            {"type": "Polygon", "coordinates": [[[18, 59], [19, 59], [18, 59]]]},
            "four",
        ),
        (
            "Torget",
            "square",
            {"type": "Polygon", "coordinates": [[[18, 59], [19, 59], [19, 60], [18, 60]]]},
            "end where",
        ),
        (
            "Torget",
            "square",
            {"type": "Polygon", "coordinates": [[[18, 99], [19, 59], [19, 60], [18, 99]]]},
            "WGS 84",
        ),
        (
            "Torget",
            "square",
            {"type": "Polygon", "coordinates": [[["a", 1], [19, 59], [19, 60], ["a", 1]]]},
            "position",
        ),
    ],
)
def test_bad_places_are_refused(
    name: str, kind: str, geometry: dict[str, Any], message: str
) -> None:
    with pytest.raises(PlaceError, match=message):
        make_place(name, kind, geometry)


def test_a_feature_collection_with_one_bad_feature_gives_nothing() -> None:
    good = {"type": "Feature", "properties": {"name": "A", "kind": "arena"}, "geometry": SQUARE}
    bad = {"type": "Feature", "properties": {"name": "B"}, "geometry": {"type": "Point"}}
    doc = {"type": "FeatureCollection", "features": [good]}
    assert [p.kind for p in places_from_feature_collection(doc)] == ["arena"]
    with pytest.raises(PlaceError, match="feature 1"):
        places_from_feature_collection({"type": "FeatureCollection", "features": [good, bad]})
    with pytest.raises(PlaceError, match="same name"):
        places_from_feature_collection({"type": "FeatureCollection", "features": [good, good]})


def test_places_are_stored_found_and_removed(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    register(sessions, [("pole-1", "centrum")])
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with sessions.begin() as s:
        s.add(Asset(id="in", device_id="pole-1", kind="bin", lat=59.361, lon=18.001))
        s.add(Asset(id="out", device_id="pole-1", kind="bin", lat=59.38, lon=18.001))
        save_places(s, [make_place("Torget", "square", SQUARE)], now=now)
    with sessions() as s:
        p = get_place(s, "Torget")
        assert place_assets(s, p) == frozenset({"in"})
        assert [x.name for x in list_places(s)] == ["Torget"]
    with sessions.begin() as s:
        remove_place(s, "Torget")
        with pytest.raises(PlaceError, match="no place"):
            remove_place(s, "Torget")
    with sessions() as s:
        assert list_places(s) == []
    sessions.kw["bind"].dispose()
