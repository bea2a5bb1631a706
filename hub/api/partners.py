"""``/api/v1/partners``: partner organisations, their places and users, for admins. The same
operations as ``trygg partners``, audited with the caller's user name. A partner user's
tokens come from ``POST /api/v1/users/{id}/tokens`` like anyone's, or they log in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.admin import AdminError
from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import Admin
from hub.api.text import Line
from hub.partners import orgs
from hub.partners.orgs import Org, PartnerError, PartnerNotFoundError

router = APIRouter(prefix="/partners", tags=["partners"], responses=errors.AUTHED)
OrgName = Annotated[str, Path(min_length=1, max_length=63)]
PlaceName = Annotated[str, Path(min_length=1, max_length=63)]


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Line = Field(description="property, centre, police, security or other")


class OrgOut(BaseModel):
    name: str
    kind: str
    places: list[str]
    users: list[str]


class PartnerUserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: Line | None = Field(default=None, min_length=8, max_length=200)


class PartnerUserOut(BaseModel):
    id: int
    name: str
    organisation: str


def _out(org: Org) -> OrgOut:
    return OrgOut(name=org.name, kind=org.kind, places=list(org.places), users=list(org.users))


def _missing(exc: AdminError) -> HTTPException:
    """404 when the organisation, place or link is not there, else 400."""
    return HTTPException(404 if isinstance(exc, PartnerNotFoundError) else 400, detail=str(exc))


@router.get("", response_model=list[OrgOut])
def list_orgs(db: DbSession, _who: Admin) -> list[OrgOut]:
    return [_out(o) for o in orgs.orgs(db)]


@router.post("/{name}", response_model=OrgOut, status_code=201)
def add_org(name: OrgName, body: OrgIn, db: DbSession, ctx: Context, who: Admin) -> OrgOut:
    """A new organisation (400: a bad or taken name, an unknown kind)."""
    try:
        org = orgs.add_org(db, name=name, kind=body.kind, actor=who.name, now=ctx.clock.now())
    except PartnerError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    db.commit()
    return _out(org)


@router.get("/{name}", response_model=OrgOut, responses=errors.NOT_FOUND)
def get_org(name: OrgName, db: DbSession, _who: Admin) -> OrgOut:
    try:
        return _out(orgs.get_org(db, name))
    except PartnerError as exc:
        raise _missing(exc) from exc


@router.delete("/{name}", status_code=204, responses=errors.NOT_FOUND)
def remove_org(name: OrgName, db: DbSession, ctx: Context, who: Admin) -> Response:
    """Delete the organisation and disable its users."""
    try:
        orgs.remove_org(db, name=name, actor=who.name, now=ctx.clock.now())
    except PartnerError as exc:
        raise _missing(exc) from exc
    db.commit()
    return Response(status_code=204)


@router.put("/{name}/places/{place}", response_model=OrgOut, responses=errors.NOT_FOUND)
def link_place(name: OrgName, place: PlaceName, db: DbSession, ctx: Context, who: Admin) -> OrgOut:
    """Let the organisation see the place."""
    try:
        org = orgs.link_place(db, org=name, place=place, actor=who.name, now=ctx.clock.now())
    except PartnerError as exc:
        raise _missing(exc) from exc
    db.commit()
    return _out(org)


@router.delete("/{name}/places/{place}", response_model=OrgOut, responses=errors.NOT_FOUND)
def unlink_place(
    name: OrgName, place: PlaceName, db: DbSession, ctx: Context, who: Admin
) -> OrgOut:
    try:
        org = orgs.unlink_place(db, org=name, place=place, actor=who.name, now=ctx.clock.now())
    except PartnerError as exc:
        raise _missing(exc) from exc
    db.commit()
    return _out(org)


@router.post(
    "/{name}/users", response_model=PartnerUserOut, status_code=201, responses=errors.NOT_FOUND
)
def add_user(
    name: OrgName, body: PartnerUserIn, db: DbSession, ctx: Context, who: Admin
) -> PartnerUserOut:
    """A new partner user of the organisation (400: the name is taken)."""
    try:
        user = orgs.add_user(
            db, org=name, name=body.name, password=body.password, actor=who.name,
            now=ctx.clock.now(),
        )  # fmt: skip
    except AdminError as exc:
        raise _missing(exc) from exc
    db.commit()
    return PartnerUserOut(id=user.id, name=user.name, organisation=name)
