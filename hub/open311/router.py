"""``/open311/v2`` GET routes: services, requests and FixMyStreet's request updates.

Every route answers in JSON or XML by its suffix. Errors use the spec's error document
(``[{"code", "description"}]`` / ``<errors><error>``) with a 4xx status. GET routes are
public and rate-limited; POST (``hub.open311.reports``) needs an Open311 ``api_key``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.api.deps import Context, DbSession
from hub.db import Ticket, TicketHistory
from hub.open311 import format as fmt
from hub.open311 import reports
from hub.open311.common import (
    PREFIX,
    RESPONSES,
    Fmt,
    Open311Error,
    OptionalText,
    check_jurisdiction,
    config,
    reply,
    window,
)
from hub.open311.services import BY_CODE, INTERNAL_KINDS, SERVICES, name

router = APIRouter(prefix=PREFIX, tags=["open311"], responses=RESPONSES)
router.include_router(reports.router)
Lang = Annotated[Literal["sv", "en"], Query(description="Language of service names")]
_MAX_RESULTS = 1000


def _request_doc(db: Session, ctx: Context, t: Ticket) -> dict[str, Any]:
    note = db.scalars(
        select(TicketHistory.note)
        .where(TicketHistory.ticket_id == t.id, TicketHistory.action != "comment")
        .order_by(TicketHistory.id.desc())
        .limit(1)
    ).first()
    media = (t.evidence or {}).get("media_url")
    return {
        "service_request_id": str(t.id),
        "status": fmt.basic_status(t.status),
        "status_notes": note or None,
        "service_name": name(t.kind),
        "service_code": t.kind,
        "description": t.description or t.title,
        "agency_responsible": config(ctx).agency,
        "service_notice": None,
        "requested_datetime": fmt.when(t.created_at),
        "updated_datetime": fmt.when(t.updated_at),
        "expected_datetime": fmt.when(t.sla_due),
        "address": t.address,
        "address_id": None,
        "zipcode": None,
        "lat": t.lat,
        "long": t.lon,
        "media_url": media if isinstance(media, str) else None,
    }


@router.get("/services.{form}", summary="Service list (ticket kinds)")
def services(
    ctx: Context, form: Fmt, lang: Lang = "sv", jurisdiction_id: OptionalText = None
) -> Response:
    check_jurisdiction(ctx, jurisdiction_id)
    docs = [fmt.service_doc(s, lang) for s in SERVICES]
    return reply(form, "services", "service", docs)


def _ids(text: str) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise Open311Error(400, "service_request_id must be comma-separated integers") from None
    if not ids or len(ids) > _MAX_RESULTS or any(not 0 < i < 2**31 for i in ids):
        raise Open311Error(400, "service_request_id must hold 1-1000 positive ids")
    return ids


def _codes(text: str) -> list[str]:
    codes = [c for c in text.split(",") if c]
    unknown = [c for c in codes if c not in BY_CODE]
    if unknown or not codes:
        raise Open311Error(400, f"unknown service_code {','.join(unknown)!r}")
    return codes


def _status_filter(text: str) -> frozenset[str] | None:
    """The ticket statuses an Open311 ``status`` filter selects (None: no filter)."""
    wanted = set(text.split(","))
    if not wanted <= {"open", "closed"}:
        raise Open311Error(400, "status must be open, closed or open,closed")
    if wanted == {"open"}:
        return fmt.OPEN
    if wanted == {"closed"}:
        return frozenset(fmt.EXTENDED) - fmt.OPEN
    return None


@router.get("/requests.{form}", summary="Service requests (tickets) in a window")
def list_requests(
    *,
    db: DbSession,
    ctx: Context,
    form: Fmt,
    service_request_id: OptionalText = None,
    service_code: OptionalText = None,
    start_date: OptionalText = None,
    end_date: OptionalText = None,
    status: OptionalText = None,
    jurisdiction_id: OptionalText = None,
) -> Response:
    check_jurisdiction(ctx, jurisdiction_id)
    q = select(Ticket).where(Ticket.kind.not_in(INTERNAL_KINDS))
    q = q.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if service_request_id is not None:  # the spec: other parameters are then ignored
        q = q.where(Ticket.id.in_(_ids(service_request_id)))
    else:
        a, b = window(ctx, start_date, end_date)
        q = q.where(Ticket.created_at >= a, Ticket.created_at <= b)
        if service_code is not None:
            q = q.where(Ticket.kind.in_(_codes(service_code)))
        chosen = _status_filter(status) if status is not None else None
        if chosen is not None:
            q = q.where(Ticket.status.in_(chosen))
    rows = [_request_doc(db, ctx, t) for t in db.scalars(q.limit(_MAX_RESULTS))]
    return reply(form, "service_requests", "request", rows)


def _ticket(db: Session, request_id: int) -> Ticket:
    t = db.get(Ticket, request_id)
    if t is None or t.kind in INTERNAL_KINDS:
        raise Open311Error(404, f"no service request {request_id}")
    return t


@router.get("/requests/{request_id}.{form}", summary="One service request")
def get_request(
    *,
    db: DbSession,
    ctx: Context,
    form: Fmt,
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    jurisdiction_id: OptionalText = None,
) -> Response:
    check_jurisdiction(ctx, jurisdiction_id)
    doc = _request_doc(db, ctx, _ticket(db, request_id))
    return reply(form, "service_requests", "request", [doc])


@router.get("/servicerequestupdates.{form}", summary="FixMyStreet: status updates in a window")
def updates(
    *,
    db: DbSession,
    ctx: Context,
    form: Fmt,
    start_date: OptionalText = None,
    end_date: OptionalText = None,
    jurisdiction_id: OptionalText = None,
) -> Response:
    check_jurisdiction(ctx, jurisdiction_id)
    a, b = window(ctx, start_date, end_date)
    q = (
        select(TicketHistory)
        .join(Ticket, Ticket.id == TicketHistory.ticket_id)
        .where(Ticket.kind.not_in(INTERNAL_KINDS))
        .where(TicketHistory.at >= a, TicketHistory.at <= b)
        .where(TicketHistory.from_status.is_not(None))
        .where(TicketHistory.from_status != TicketHistory.to_status)
        .order_by(TicketHistory.id)
        .limit(_MAX_RESULTS)
    )
    rows = [
        {
            "update_id": str(h.id),
            "service_request_id": str(h.ticket_id),
            "status": fmt.extended_status(h.to_status or ""),
            "updated_datetime": fmt.when(h.at),
            "description": h.note,
            "media_url": None,
        }
        for h in db.scalars(q)
    ]
    return reply(form, "service_requests_updates", "request_update", rows)
