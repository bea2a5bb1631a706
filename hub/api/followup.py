"""``/api/v1/places`` and ``/api/v1/followup/report``: places with their polygons, and the
follow-up figures of a period (and place) with the previous period beside them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict

from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import Admin, Operator
from hub.api.text import Line
from hub.followup.load import build_report
from hub.followup.periods import parse_period
from hub.places import PlaceError, make_place
from hub.places_store import get_place, list_places, place_assets, remove_place, save_places

router = APIRouter(tags=["follow-up"], responses=errors.AUTHED)

PlaceName = Annotated[str, Path(min_length=1, max_length=63)]


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Line
    geometry: dict[str, Any]


class PlaceOut(BaseModel):
    name: str
    kind: str
    geometry: dict[str, Any]
    assets: list[str]


@router.get("/places", response_model=list[PlaceOut])
def places(db: DbSession, _who: Operator) -> list[PlaceOut]:
    return [
        PlaceOut(
            name=p.name, kind=p.kind, geometry=p.geometry(), assets=sorted(place_assets(db, p))
        )
        for p in list_places(db)
    ]


@router.get("/places/{name}", response_model=PlaceOut, responses=errors.NOT_FOUND)
def place(name: PlaceName, db: DbSession, _who: Operator) -> PlaceOut:
    try:
        p = get_place(db, name)
    except PlaceError as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    return PlaceOut(
        name=p.name, kind=p.kind, geometry=p.geometry(), assets=sorted(place_assets(db, p))
    )


@router.put("/places/{name}", response_model=PlaceOut)
def put_place(name: PlaceName, body: PlaceIn, db: DbSession, ctx: Context, _who: Admin) -> PlaceOut:
    """Create or replace the place (400 names a bad name, kind or position)."""
    try:
        p = make_place(name, body.kind, body.geometry)
    except PlaceError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    save_places(db, [p], now=ctx.clock.now())
    db.commit()
    return PlaceOut(
        name=p.name, kind=p.kind, geometry=p.geometry(), assets=sorted(place_assets(db, p))
    )


@router.delete("/places/{name}", status_code=204, responses=errors.NOT_FOUND)
def delete_place(name: PlaceName, db: DbSession, _who: Admin) -> Response:
    try:
        remove_place(db, name)
    except PlaceError as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    db.commit()
    return Response(status_code=204)


@router.get("/followup/report", responses=errors.NOT_FOUND)
def followup_report(
    db: DbSession,
    _who: Operator,
    period: Annotated[str, Query(min_length=4, max_length=40)],
    place: Annotated[str | None, Query(min_length=1, max_length=63)] = None,
) -> dict[str, Any]:
    """The figures as ``trygg report --format json`` gives them (400: a bad period, 404: no
    such place)."""
    try:
        return build_report(db, parse_period(period), place=place).as_dict()
    except PlaceError as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
