"""``/api/v1/places`` and ``/api/v1/followup/report``: places with their polygons, and the
follow-up figures of a period (and place) with the previous period beside them."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict

from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import Admin, Operator
from hub.api.text import Line
from hub.followup.load import build_report
from hub.followup.pdf import to_pdf
from hub.followup.periods import parse_period
from hub.followup.render import render
from hub.followup.xlsx import to_xlsx
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


MEDIA: Final = {
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get(
    "/followup/report",
    response_model=None,
    responses={
        **errors.NOT_FOUND,
        200: {
            "content": {
                "application/json": {"schema": {"type": "object"}},
                **{m.split(";")[0]: {} for m in MEDIA.values()},
            }
        },
    },
)
def followup_report(
    db: DbSession,
    _who: Operator,
    period: Annotated[str, Query(min_length=4, max_length=40)],
    place: Annotated[str | None, Query(min_length=1, max_length=63)] = None,
    format: Literal["json", "csv", "html", "pdf", "xlsx"] = "json",
    lang: Literal["sv", "en"] = "sv",
) -> dict[str, Any] | Response:
    """The report as ``trygg report --format FORMAT`` gives it (400: a bad period, 404: no
    such place)."""
    try:
        r = build_report(db, parse_period(period), place=place)
    except PlaceError as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    if format == "json":
        return r.as_dict()
    if format == "pdf":
        body: bytes | str = to_pdf(r, lang)
    elif format == "xlsx":
        body = to_xlsx(r, lang)
    else:
        body = render(r, format, lang)
    name = f"followup-{r.current.period}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=MEDIA[format], headers=headers)
