"""``/api/v1/partner``: what a partner organisation's users may do, and nothing more.

They see their organisation's places only, read-only: the place, its open and recent
tickets, its assets' live state and its follow-up figures; and they may report a problem
there, signed with their name and organisation. Every read is written to the audit trail
(who, what, which place). Any other place answers 404, whether it exists or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hub import audit, auth
from hub import tickets as service
from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import current_partner_principal
from hub.api.text import Line, Text
from hub.followup.load import build_report
from hub.followup.periods import parse_period
from hub.open311.services import BY_CODE
from hub.partners import view
from hub.partners.orgs import membership
from hub.places import Place, PlaceError
from hub.places_store import get_place, place_assets

router = APIRouter(prefix="/partner", tags=["partner"], responses=errors.AUTHED)
PlaceName = Annotated[str, Path(min_length=1, max_length=63)]


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner user with their organisation and the places it sees."""

    who: auth.Principal
    org: str
    places: frozenset[str]


def current_partner(
    db: DbSession, who: Annotated[auth.Principal, Depends(current_partner_principal)]
) -> Partner:
    """The calling partner; 403 for a partner user in no organisation."""
    member = membership(db, user_id=who.user_id)
    if member is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="not in a partner organisation")
    return Partner(who, member.org, member.places)


CurrentPartner = Annotated[Partner, Depends(current_partner)]


def _read(db: Session, me: Partner, *, what: str, target: str, now: datetime) -> None:
    """Audit one read in its own commit, so a read leaves its trace even if nothing changes."""
    audit.record(
        db, actor=me.who.name, action="partner.read", target=target, now=now,
        after={"partner": me.org, "what": what},
    )  # fmt: skip
    db.commit()


def _place(db: Session, me: Partner, name: str) -> Place:
    """One of the caller's places; 404 for any other, existing or not."""
    if name not in me.places:
        raise HTTPException(404, detail=f"no place called {name!r} among yours")
    try:
        return get_place(db, name)
    except PlaceError as exc:
        raise HTTPException(404, detail=str(exc)) from exc


class MeOut(BaseModel):
    name: str
    organisation: str
    places: list[str]


class PlaceOut(BaseModel):
    name: str
    kind: str
    geometry: dict[str, Any]


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    title: str
    status: str
    severity: str
    asset_id: str | None
    lat: float | None
    lon: float | None
    address: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    ours: bool = Field(description="Reported by your organisation")
    description: str = Field(description="Only for your organisation's own reports")


class AlarmOut(BaseModel):
    type: str
    severity: str


class AssetOut(BaseModel):
    id: str
    kind: str
    lat: float
    lon: float
    address: str | None
    online: bool
    last_seen: datetime | None
    alarms: list[AlarmOut]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Line = Field(max_length=64, description="A service code a citizen may report")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    description: Text = Field(default="", max_length=2000)
    asset_id: Line | None = Field(default=None, min_length=1, max_length=64)


@router.get("/me", response_model=MeOut)
def me(db: DbSession, ctx: Context, who: CurrentPartner) -> MeOut:
    _read(db, who, what="me", target=f"partner:{who.org}", now=ctx.clock.now())
    return MeOut(name=who.who.name, organisation=who.org, places=sorted(who.places))


@router.delete("/session", status_code=204)
def log_out(db: DbSession, ctx: Context, who: CurrentPartner) -> None:
    """Revoke the token this request was made with."""
    auth.revoke_token(db, token_id=who.who.token_id, now=ctx.clock.now())
    db.commit()


@router.get("/places", response_model=list[PlaceOut])
def places(db: DbSession, ctx: Context, who: CurrentPartner) -> list[PlaceOut]:
    out = [_place(db, who, n) for n in sorted(who.places)]
    _read(db, who, what="places", target=f"partner:{who.org}", now=ctx.clock.now())
    return [PlaceOut(name=p.name, kind=p.kind, geometry=p.geometry()) for p in out]


@router.get("/places/{name}", response_model=PlaceOut, responses=errors.NOT_FOUND)
def place(name: PlaceName, db: DbSession, ctx: Context, who: CurrentPartner) -> PlaceOut:
    p = _place(db, who, name)
    _read(db, who, what="place", target=f"place:{p.name}", now=ctx.clock.now())
    return PlaceOut(name=p.name, kind=p.kind, geometry=p.geometry())


@router.get("/places/{name}/tickets", response_model=list[TicketOut], responses=errors.NOT_FOUND)
def place_tickets(
    name: PlaceName, db: DbSession, ctx: Context, who: CurrentPartner
) -> list[TicketOut]:
    """Open tickets at the place and those closed in the last 14 days, newest first."""
    p = _place(db, who, name)
    now = ctx.clock.now()
    found = view.tickets_at(db, p, org=who.org, now=now)
    _read(db, who, what="tickets", target=f"place:{p.name}", now=now)
    return [TicketOut.model_validate(t) for t in found]


@router.get("/places/{name}/assets", response_model=list[AssetOut], responses=errors.NOT_FOUND)
def assets(name: PlaceName, db: DbSession, ctx: Context, who: CurrentPartner) -> list[AssetOut]:
    """The place's assets: online or not, last heard from, and their active alarms."""
    p = _place(db, who, name)
    found = view.assets_at(db, p)
    _read(db, who, what="assets", target=f"place:{p.name}", now=ctx.clock.now())
    return [
        AssetOut(
            id=a.id,
            kind=a.kind,
            lat=a.lat,
            lon=a.lon,
            address=a.address,
            online=a.online,
            last_seen=a.last_seen,
            alarms=[AlarmOut(type=k, severity=v) for k, v in a.alarms],
        )
        for a in found
    ]


@router.get("/places/{name}/figures", responses=errors.NOT_FOUND)
def place_figures(
    name: PlaceName,
    db: DbSession,
    ctx: Context,
    who: CurrentPartner,
    period: Annotated[str, Query(min_length=4, max_length=40)],
) -> dict[str, Any]:
    """The place's follow-up figures as ``/api/v1/followup/report`` gives them (400: a bad
    period)."""
    p = _place(db, who, name)
    try:
        figures = build_report(db, parse_period(period), place=p.name).as_dict()
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    _read(db, who, what=f"figures {period}", target=f"place:{p.name}", now=ctx.clock.now())
    return figures


@router.post(
    "/places/{name}/reports", response_model=TicketOut, status_code=201,
    responses=errors.NOT_FOUND,
)  # fmt: skip
def report(
    *,
    name: PlaceName,
    body: ReportIn,
    response: Response,
    db: DbSession,
    ctx: Context,
    who: CurrentPartner,
) -> TicketOut:
    """Report a problem at the place, signed by you and your organisation. 400 for a
    position or asset outside the place or an unknown kind. A report about an asset that
    already has an open ticket of this kind joins that ticket (200, not 201)."""
    p = _place(db, who, name)
    svc = BY_CODE.get(body.kind)
    if svc is None or not svc.citizen:
        raise HTTPException(400, detail=f"unknown kind {body.kind!r}; see /crew/kinds.json")
    if (why := ctx.config.bounds.refusal(body.lat, body.lon)) is not None:
        raise HTTPException(400, detail=why)
    if not p.contains(body.lat, body.lon):
        raise HTTPException(400, detail=f"the position is outside {p.name!r}")
    if body.asset_id is not None and body.asset_id not in place_assets(db, p):
        raise HTTPException(400, detail=f"no asset {body.asset_id!r} at {p.name!r}")
    now = ctx.clock.now()
    try:
        t = service.create_ticket(
            db,
            kind=body.kind,
            reporter=f"{who.who.name} ({who.org})",
            now=now,
            lat=body.lat,
            lon=body.lon,
            source=view.SOURCE,
            description=body.description,
            asset_id=body.asset_id,
            evidence=view.signature(who.org),
        )
    except service.TicketError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    if t.created_at != now:
        response.status_code = 200
    audit.record(
        db, actor=who.who.name, action="partner.report", target=f"place:{p.name}", now=now,
        after={"partner": who.org, "ticket": t.id, "kind": body.kind},
    )  # fmt: skip
    db.commit()
    return TicketOut.model_validate(view.ticket_view(t, who.org))
