"""``/api/v1/admin``: the device registry, crews and the audit trail, for admins; and
``/api/v1/devices/unregistered`` for operators. The same operations as ``trygg admin``,
audited with the caller's user name; registry changes reach a running hub live.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from hub import admin, audit, crew_geojson, registry
from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import Admin, Operator
from hub.crews import list_crews
from hub.db import Device, UnregisteredDevice
from trygg.contract import DEVICE_ID_PATTERN, NAME_PATTERN

T = TypeVar("T")
router = APIRouter(tags=["administration"], responses=errors.AUTHED)
DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="Device id")]
Site = Annotated[str, Field(pattern=NAME_PATTERN)]


class UnregisteredOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    first_seen: datetime
    last_seen: datetime
    count: int = Field(description="Messages heard from it (dropped ones too, when blocked)")
    blocked: bool
    claims: dict[str, Any] = Field(
        description="What its last birth said it is: device_class, site, firmware, assets"
    )


class RegisteredOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    site: str
    device_class: str
    retired: bool


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=DEVICE_ID_PATTERN)
    site: Site
    device_class: Site = "pole"


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: Site


class CrewOut(BaseModel):
    id: str
    name: str
    area: str
    rank: int
    kinds: list[str]
    polygon: list[list[float]]


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _refused(exc: ValueError) -> HTTPException:
    text = str(exc)
    return HTTPException(404 if text.startswith("no ") else 400, detail=text)


@router.get("/devices/unregistered", response_model=list[UnregisteredOut])
def list_unregistered(
    db: DbSession,
    _who: Operator,
    blocked: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[UnregisteredOut]:
    """Devices the hub heard from but does not know, the most recently heard first."""
    rows = registry.unregistered(db, blocked=blocked)[:limit]
    return [UnregisteredOut.model_validate(r) for r in rows]


@router.post("/admin/devices", response_model=RegisteredOut, status_code=201)
def register_device(db: DbSession, ctx: Context, who: Admin, body: RegisterIn) -> RegisteredOut:
    """Register a device (or re-register a retired one); a running hub takes it live."""
    try:
        dev = registry.register(
            db, device_id=body.id, site=body.site, device_class=body.device_class,
            actor=who.name, now=ctx.clock.now(),
        )  # fmt: skip
    except registry.RegistryError as exc:
        raise _refused(exc) from exc
    db.commit()
    return RegisteredOut.model_validate(dev)


def _change(db: DbSession, action: Callable[[], T]) -> T:
    try:
        out = action()
    except registry.RegistryError as exc:
        raise _refused(exc) from exc
    db.commit()
    return out


@router.post(
    "/admin/devices/{device_id}/retire", response_model=RegisteredOut, responses=errors.NOT_FOUND
)
def retire_device(db: DbSession, ctx: Context, who: Admin, device_id: DeviceId) -> Device:
    return _change(
        db, lambda: registry.retire(db, device_id=device_id, actor=who.name, now=ctx.clock.now())
    )


@router.post(
    "/admin/devices/{device_id}/move", response_model=RegisteredOut, responses=errors.NOT_FOUND
)
def move_device(
    db: DbSession, ctx: Context, who: Admin, device_id: DeviceId, body: MoveIn
) -> Device:
    return _change(
        db,
        lambda: registry.move(
            db, device_id=device_id, site=body.site, actor=who.name, now=ctx.clock.now()
        ),
    )


@router.post("/admin/devices/{device_id}/block", response_model=UnregisteredOut)
def block_device(
    db: DbSession, ctx: Context, who: Admin, device_id: DeviceId
) -> UnregisteredDevice:
    """Drop (and count) the device's messages from now on."""
    return _change(
        db, lambda: registry.block(db, device_id=device_id, actor=who.name, now=ctx.clock.now())
    )


@router.post("/admin/devices/{device_id}/unblock", response_model=UnregisteredOut)
def unblock_device(
    db: DbSession, ctx: Context, who: Admin, device_id: DeviceId
) -> UnregisteredDevice:
    return _change(
        db,
        lambda: registry.unblock(db, device_id=device_id, actor=who.name, now=ctx.clock.now()),
    )


@router.get("/admin/crews", response_model=list[CrewOut])
def get_crews(db: DbSession, _who: Admin) -> list[CrewOut]:
    return [
        CrewOut(
            id=c.id,
            name=c.name,
            area=c.area,
            rank=c.rank,
            kinds=c.kinds.get("kinds", []),
            polygon=c.polygon.get("coordinates", []),
        )
        for c in list_crews(db)
    ]


@router.post("/admin/crews", response_model=ImportOut)
def import_crews(
    db: DbSession,
    ctx: Context,
    who: Admin,
    body: Annotated[dict[str, Any], Body(description="A GeoJSON FeatureCollection of crews")],
) -> ImportOut:
    """Create or update crews from GeoJSON (the same file ``trygg admin crews import`` takes)."""
    try:
        specs = crew_geojson.parse(json.dumps(body))
        done = admin.import_crews(db, specs, actor=who.name, now=ctx.clock.now())
    except (crew_geojson.GeoJsonError, admin.AdminError) as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    db.commit()
    return ImportOut(created=done.created, updated=done.updated, unchanged=done.unchanged)


@router.get("/admin/audit", response_model=list[AuditOut])
def get_audit(
    db: DbSession,
    _who: Admin,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The audit trail, newest first."""
    return [
        AuditOut.model_validate(e)
        for e in audit.entries(db, limit=limit, action=action, target=target)
    ]
