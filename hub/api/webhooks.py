"""``/api/v1/webhooks``: admins subscribe receivers to signed ticket and alert events."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from hub import webhooks
from hub.api import errors
from hub.api.config import ApiConfig
from hub.api.deps import Config, Context, DbSession
from hub.api.security import Admin
from hub.api.text import Line
from hub.db import WebhookDelivery, WebhookSubscription
from hub.webhook_transport import Resolver, TargetRefused, resolve_checked, system_resolve

router = APIRouter(tags=["webhooks"], responses=errors.AUTHED)
EventType = Literal[
    "ticket.opened",
    "ticket.reopened",
    "ticket.escalated",
    "ticket.resolved",
    "alert.raised",
    "alert.acknowledged",
    "alert.escalated",
    "alert.resolved",
]
Format = Literal["json", "cap"]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl
    events: list[EventType] = Field(default_factory=list, description="Empty = all")
    secret: Line | None = Field(default=None, min_length=16, max_length=200)
    format: Format = Field(
        default="json",
        description="How alert events are sent: JSON, or CAP 1.2 XML (alert events only)",
    )

    @model_validator(mode="after")
    def _cap_takes_alerts(self) -> SubscriptionIn:
        if self.format == "cap" and any(not e.startswith("alert.") for e in self.events):
            raise ValueError("a CAP subscription takes alert events only")
        return self


class SubscriptionOut(BaseModel):
    id: int
    url: str
    events: list[str]
    format: str
    active: bool
    created_at: datetime


class NewSubscription(SubscriptionOut):
    secret: str = Field(description="HMAC key; shown once")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    event: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str


def _out(sub: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        url=sub.url,
        events=list(sub.events.get("types", [])),
        format=str(sub.events.get("format", "json")),
        active=sub.active,
        created_at=sub.created_at,
    )


def target_resolver() -> Resolver:
    """The resolver a new receiver's host name is checked with (a seam for tests)."""
    return system_resolve


TargetResolver = Annotated[Resolver, Depends(target_resolver)]


def _check_target(url: str, config: ApiConfig, resolve: Resolver) -> None:
    """HTTP 400 unless every address of ``url``'s host is allowed (deliveries check again)."""
    try:
        resolve_checked(httpx.URL(url), policy=config.webhook_policy, resolve=resolve)
    except TargetRefused as exc:
        raise HTTPException(
            400,
            detail="webhook URL refused: its address is loopback, private, link-local or "
            "otherwise not public, and not in TRYGG_API_WEBHOOK_ALLOW",
        ) from exc
    except httpx.TransportError as exc:
        raise HTTPException(400, detail="webhook URL refused: its host does not resolve") from exc


@router.post("/webhooks", response_model=NewSubscription, status_code=201)
def add(
    *,
    db: DbSession,
    ctx: Context,
    config: Config,
    who: Admin,
    body: SubscriptionIn,
    resolve: TargetResolver,
) -> NewSubscription:
    _check_target(str(body.url), config, resolve)
    secret = body.secret or secrets.token_urlsafe(32)
    sub = webhooks.subscribe(
        db,
        url=str(body.url),
        secret=secret,
        events=list(body.events),
        now=ctx.clock.now(),
        format=body.format,
    )
    db.commit()
    return NewSubscription(**_out(sub).model_dump(), secret=secret)


@router.get("/webhooks", response_model=list[SubscriptionOut])
def list_all(db: DbSession, who: Admin) -> list[SubscriptionOut]:
    return [
        _out(s) for s in db.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    ]


@router.delete("/webhooks/{sub_id}", status_code=204, responses=errors.NOT_FOUND)
def deactivate(db: DbSession, who: Admin, sub_id: Id) -> None:
    sub = db.get(WebhookSubscription, sub_id)
    if sub is None:
        raise HTTPException(404, detail=f"no webhook subscription {sub_id}")
    sub.active = False
    db.commit()


@router.get(
    "/webhooks/{sub_id}/deliveries", response_model=list[DeliveryOut], responses=errors.NOT_FOUND
)
def deliveries(db: DbSession, who: Admin, sub_id: Id) -> list[DeliveryOut]:
    if db.get(WebhookSubscription, sub_id) is None:
        raise HTTPException(404, detail=f"no webhook subscription {sub_id}")
    rows = db.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == sub_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(200)
    )
    return [DeliveryOut.model_validate(r) for r in rows]
