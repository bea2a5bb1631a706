"""The ``places`` table: save, find, list and remove places (``hub/places.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Asset, PlaceRow
from hub.places import Place, PlaceError, assets_in, make_place


def _place(row: PlaceRow) -> Place:
    return make_place(row.name, row.kind, row.geometry)


def save_places(s: Session, places: Iterable[Place], *, now: datetime) -> int:
    """Create or replace each place by name; returns how many."""
    n = 0
    for p in places:
        s.merge(PlaceRow(name=p.name, kind=p.kind, geometry=p.geometry(), updated_at=now))
        n += 1
    return n


def get_place(s: Session, name: str) -> Place:
    """The place called ``name``; PlaceError if there is none."""
    row = s.get(PlaceRow, name)
    if row is None:
        raise PlaceError(f"no place called {name!r}")
    return _place(row)


def list_places(s: Session) -> list[Place]:
    return [_place(r) for r in s.scalars(select(PlaceRow).order_by(PlaceRow.name))]


def remove_place(s: Session, name: str) -> None:
    """Delete the place; PlaceError if there is none."""
    row = s.get(PlaceRow, name)
    if row is None:
        raise PlaceError(f"no place called {name!r}")
    s.delete(row)
    s.flush()


def place_assets(s: Session, place: Place) -> frozenset[str]:
    """The assets now inside the place's polygon."""
    rows = s.execute(select(Asset.id, Asset.lat, Asset.lon))
    return assets_in(place, ((a, float(lat), float(lon)) for a, lat, lon in rows))
