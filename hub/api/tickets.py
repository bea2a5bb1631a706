"""``/api/v1/tickets``: the crews' and operators' view of maintenance work.

Crews see and act on their own area's tickets only; operators and admins on all. Every
refusal is a 4xx with a ``detail`` that says why, and changes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import access, photos
from hub import tickets as service
from hub.api import errors, geo, idempotency
from hub.api import ticketops as ops
from hub.api.deps import Context, DbSession
from hub.api.security import CurrentUser, Operator
from hub.api.text import Line, Text, check_filename
from hub.auth import Principal
from hub.db import Ticket, TicketPhoto
from hub.open311.services import BY_CODE

router = APIRouter(tags=["tickets"], responses=errors.AUTHED)
TicketId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Ticket id")]
_NOT_FOUND = errors.NOT_FOUND
# A photo is shown as an image and nothing else, even if a browser opens it directly.
_PHOTO_HEADERS: Final = {
    "Cache-Control": "private, no-store",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Content-Disposition": "inline",
}


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    status: str
    priority: int
    title: str
    description: str
    source: str
    asset_id: str | None
    device_id: str | None
    lat: float | None
    lon: float | None
    address: str | None
    area: str | None
    severity: str
    alarm_count: int
    assignee: str | None
    sla_due: datetime | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    reopen_count: int
    distance_m: float | None = None


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str


class PhotoOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    author: str
    text: str
    public: bool


class TicketDetail(TicketOut):
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="What raised it, e.g. the readings of the alarm"
    )
    history: list[HistoryOut]
    comments: list[CommentOut]
    photos: list[PhotoOut]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text = Field(default="", max_length=2000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: Line = Field(min_length=1, max_length=64)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=2000)
    public: bool = Field(
        default=False,
        description="Publish this note to anyone reading Open311 (never names or phone numbers)",
    )


def _out(t: Ticket, near: geo.Point | None = None) -> TicketOut:
    out = TicketOut.model_validate(t)
    if near is not None:
        out.distance_m = geo.distance_m(near, t.lat, t.lon)
    return out


def _visible(db: Session, who: Principal, ticket_id: int) -> Ticket:
    try:
        t = service.get_ticket(db, ticket_id=ticket_id)
    except service.TicketError as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    if not access.may_see(who, t):
        raise HTTPException(403, detail=f"ticket {ticket_id} is outside your area")
    return t


@router.get("/tickets", response_model=list[TicketOut])
def list_tickets(
    *,
    db: DbSession,
    who: CurrentUser,
    response: Response,
    status: Annotated[
        list[str], Query(description="Status, repeatable; `open` = every open status")
    ] = [],  # noqa: B006 - FastAPI copies defaults
    kind: Annotated[list[str], Query(description="Ticket kind, repeatable")] = [],  # noqa: B006
    priority: Annotated[list[Annotated[int, Field(ge=1, le=5)]], Query()] = [],  # noqa: B006
    area: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    bbox: Annotated[
        str | None, Query(max_length=100, description="minLon,minLat,maxLon,maxLat")
    ] = None,
    near: Annotated[
        str | None, Query(max_length=60, description="lat,lon: sort nearest first")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[TicketOut]:
    """Tickets matching every filter; the total before paging is in ``X-Total-Count``."""
    try:
        statuses = ops.expand_statuses(status)
        box = geo.BBox.parse(bbox) if bbox is not None else None
        point = geo.Point.parse(near) if near is not None else None
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    if not who.at_least("operator") and area is not None and area != who.area:
        raise HTTPException(403, detail=f"crews see only their own area ({who.area})")
    q = access.restrict(
        who,
        ops.query(
            statuses=statuses, kinds=kind, priorities=priority, area=area, bbox=box, near=point
        ),
    )
    response.headers["X-Total-Count"] = str(ops.count(db, q))
    rows = db.scalars(q.limit(limit).offset(offset))
    return [_out(t, point) for t in rows]


@router.get("/tickets/{ticket_id}", response_model=TicketDetail, responses=_NOT_FOUND)
def get_ticket(db: DbSession, who: CurrentUser, ticket_id: TicketId) -> TicketDetail:
    t = _visible(db, who, ticket_id)
    hist = service.history(db, ticket_id=t.id)
    notes = service.comments(db, ticket_id=t.id)
    photos = db.scalars(select(TicketPhoto).where(TicketPhoto.ticket_id == t.id))
    return TicketDetail(
        **_out(t).model_dump(),
        evidence=dict(t.evidence or {}),
        history=[HistoryOut.model_validate(h) for h in hist],
        comments=[CommentOut.model_validate(c) for c in notes],
        photos=[PhotoOut.model_validate(p) for p in photos],
    )


_ACTIONS: Final = {
    "acknowledge": service.acknowledge,
    "start": service.start,
    "resolve": service.resolve,
}


def _refused(exc: service.TicketError) -> HTTPException:
    """The service's refusal as HTTP: 404 unknown, 409 wrong status, 400 bad input."""
    if isinstance(exc, service.TicketNotFoundError):
        return HTTPException(404, detail=str(exc))
    if isinstance(exc, service.TransitionError):
        return HTTPException(409, detail=str(exc))
    return HTTPException(400, detail=str(exc))


def _act(
    db: Session,
    ctx: Context,
    who: Principal,
    ticket_id: int,
    *,
    action: str,
    note: str,
    key: str | None = None,
) -> TicketOut | JSONResponse:
    request = f"POST /tickets/{ticket_id}/{action}"
    if (done := idempotency.replay(db, actor=who.name, key=key, request=request)) is not None:
        return done
    _visible(db, who, ticket_id)
    now = ctx.clock.now()
    try:
        t = _ACTIONS[action](db, ticket_id=ticket_id, actor=who.name, now=now, note=note)
    except service.TicketError as exc:
        raise _refused(exc) from exc
    out = _out(t)
    twin = idempotency.remember(
        db, actor=who.name, key=key, request=request, status_code=200, body=out, now=now
    )
    if twin is not None:
        return twin
    db.commit()
    return out


_CONFLICT = errors.CONFLICT


@router.post("/tickets/{ticket_id}/acknowledge", response_model=TicketOut, responses=_CONFLICT)
def acknowledge(
    *,
    db: DbSession,
    ctx: Context,
    who: CurrentUser,
    ticket_id: TicketId,
    body: NoteIn | None = None,
    key: idempotency.KeyHeader = None,
) -> TicketOut | JSONResponse:
    """``new``/``reopened`` -> ``acknowledged`` (409 from any other status)."""
    note = body.note if body else ""
    return _act(db, ctx, who, ticket_id, action="acknowledge", note=note, key=key)


@router.post("/tickets/{ticket_id}/start", response_model=TicketOut, responses=_CONFLICT)
def start(
    *,
    db: DbSession,
    ctx: Context,
    who: CurrentUser,
    ticket_id: TicketId,
    body: NoteIn | None = None,
    key: idempotency.KeyHeader = None,
) -> TicketOut | JSONResponse:
    """-> ``in_progress``: a crew is working on it."""
    note = body.note if body else ""
    return _act(db, ctx, who, ticket_id, action="start", note=note, key=key)


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketOut, responses=_CONFLICT)
def resolve(
    *,
    db: DbSession,
    ctx: Context,
    who: CurrentUser,
    ticket_id: TicketId,
    body: NoteIn | None = None,
    key: idempotency.KeyHeader = None,
) -> TicketOut | JSONResponse:
    """An open ticket -> ``resolved``, with an optional note of what was done."""
    note = body.note if body else ""
    return _act(db, ctx, who, ticket_id, action="resolve", note=note, key=key)


@router.post("/tickets/{ticket_id}/assign", response_model=TicketOut, responses=_CONFLICT)
def assign(
    *, db: DbSession, ctx: Context, who: Operator, ticket_id: TicketId, body: AssignIn
) -> TicketOut:
    """Operators give an open ticket to a crew or person."""
    _visible(db, who, ticket_id)
    try:
        t = service.assign(
            db, ticket_id=ticket_id, assignee=body.assignee, actor=who.name, now=ctx.clock.now()
        )
    except service.TicketError as exc:
        raise _refused(exc) from exc
    db.commit()
    return _out(t)


@router.post(
    "/tickets/{ticket_id}/comments",
    response_model=CommentOut,
    status_code=201,
    responses=_NOT_FOUND,
)
def add_comment(
    *, db: DbSession, ctx: Context, who: CurrentUser, ticket_id: TicketId, body: CommentIn
) -> CommentOut:
    _visible(db, who, ticket_id)
    try:
        c = service.comment(
            db,
            ticket_id=ticket_id,
            author=who.name,
            text=body.text,
            now=ctx.clock.now(),
            public=body.public,
        )
    except service.TicketError as exc:
        raise _refused(exc) from exc
    db.commit()
    return CommentOut.model_validate(c)


async def _read_photo(ctx: Context, photo: UploadFile) -> tuple[bytes, str]:
    check_filename("photo", photo.filename)
    cfg = ctx.config
    data = await photo.read(cfg.photo_max_bytes + 1)
    if len(data) > cfg.photo_max_bytes:
        raise HTTPException(413, detail=f"photo larger than {cfg.photo_max_bytes} bytes")
    kind = ops.sniff_image(data)
    if kind is None or kind not in cfg.photo_types:
        raise HTTPException(415, detail=f"photo must be one of {', '.join(cfg.photo_types)}")
    try:
        # Decoding is CPU work: off the event loop.
        clean = await asyncio.to_thread(photos.clean, data, kind)
    except photos.PhotoError as exc:
        raise HTTPException(415, detail=str(exc)) from exc
    return clean, kind


@router.post(
    "/tickets",
    response_model=TicketOut,
    status_code=201,
    responses={415: {"model": errors.ErrorOut, "description": "The photo is not an image"}},
)
async def create_ticket(
    *,
    response: Response,
    db: DbSession,
    ctx: Context,
    who: CurrentUser,
    kind: Annotated[Line, Form(max_length=64, description="A service code, e.g. graffiti")],
    lat: Annotated[float, Form(ge=-90, le=90)],
    lon: Annotated[float, Form(ge=-180, le=180)],
    description: Annotated[Text, Form(max_length=2000)] = "",
    address: Annotated[Line | None, Form(max_length=200)] = None,
    priority: Annotated[int | None, Form(ge=1, le=5)] = None,
    asset_id: Annotated[Line | None, Form(min_length=1, max_length=64)] = None,
    photo: Annotated[UploadFile | None, File(description="JPEG, PNG or WebP")] = None,
) -> TicketOut:
    """A ticket reported by hand (e.g. graffiti seen on a round), with an optional photo.

    It goes to the crew whose area holds the position. A report about an asset that already
    has an open ticket of this kind is added to that ticket instead (200, not 201).
    """
    if kind not in BY_CODE:
        raise HTTPException(400, detail=f"unknown kind {kind!r}; see /crew/kinds.json")
    if (why := ctx.config.bounds.refusal(lat, lon)) is not None:
        raise HTTPException(400, detail=why)
    blob = await _read_photo(ctx, photo) if photo is not None and photo.filename else None
    now = ctx.clock.now()
    try:
        t = service.create_ticket(
            db,
            kind=kind,
            reporter=who.name,
            now=now,
            lat=lat,
            lon=lon,
            source="crew",
            description=description,
            address=address,
            asset_id=asset_id,
            priority=priority,
            may_merge=lambda existing: access.may_see(who, existing),
        )
    except service.TicketError as exc:
        raise _refused(exc) from exc
    if t.created_at != now:
        response.status_code = 200
    if blob is not None:
        ops.add_photo(
            db, ticket_id=t.id, data=blob[0], content_type=blob[1], actor=who.name, now=now
        )
    db.commit()
    return _out(t)


@router.post(
    "/tickets/{ticket_id}/photos",
    response_model=PhotoOut,
    status_code=201,
    responses={**errors.CONFLICT, 415: {"model": errors.ErrorOut, "description": "Not an image"}},
)
async def add_photo(
    *,
    db: DbSession,
    ctx: Context,
    who: CurrentUser,
    ticket_id: TicketId,
    photo: Annotated[UploadFile, File()],
    key: idempotency.KeyHeader = None,
) -> PhotoOut | JSONResponse:
    request = f"POST /tickets/{ticket_id}/photos"
    if (done := idempotency.replay(db, actor=who.name, key=key, request=request)) is not None:
        return done
    _visible(db, who, ticket_id)
    data, kind = await _read_photo(ctx, photo)
    now = ctx.clock.now()
    p = ops.add_photo(
        db, ticket_id=ticket_id, data=data, content_type=kind, actor=who.name, now=now
    )
    out = PhotoOut.model_validate(p)
    twin = idempotency.remember(
        db, actor=who.name, key=key, request=request, status_code=201, body=out, now=now
    )
    if twin is not None:
        return twin
    db.commit()
    return out


@router.get(
    "/tickets/{ticket_id}/photos/{photo_id}",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
        **_NOT_FOUND,
    },
)
def get_photo(
    *,
    db: DbSession,
    who: CurrentUser,
    ticket_id: TicketId,
    photo_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    _visible(db, who, ticket_id)
    p = db.get(TicketPhoto, photo_id)
    if p is None or p.ticket_id != ticket_id:
        raise HTTPException(404, detail=f"no photo {photo_id} on ticket {ticket_id}")
    return Response(p.data, media_type=p.content_type, headers=_PHOTO_HEADERS)
