"""``/open311/v2`` GET routes: services, requests and FixMyStreet's request updates.

Every route answers in JSON or XML by its suffix. Errors use the spec's error document
(``[{"code", "description"}]`` / ``<errors><error>``) with a 4xx status. GET routes are
public and rate-limited; anonymous callers get the public view (``hub.open311.audience``),
callers with an ``api_key`` (Open311 token) or a bearer API token see what ``hub.access``
allows them. POST (``hub.open311.reports``) needs an Open311 ``api_key``.
Each route costs a fixed number of SQL statements, however many rows it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub import access, auth
from hub.api.deps import Context, DbSession
from hub.api.security import bearer
from hub.db import Ticket, TicketComment, TicketHistory
from hub.open311 import audience, reports
from hub.open311 import format as fmt
from hub.open311.common import (
    PREFIX,
    RESPONSES,
    Fmt,
    Open311Error,
    OptionalText,
    check_jurisdiction,
    reply,
    window,
)
from hub.open311.services import BY_CODE, SERVICES, name
from hub.tickets import INTERNAL_KINDS

router = APIRouter(prefix=PREFIX, tags=["open311"], responses=RESPONSES)
router.include_router(reports.router)
Lang = Annotated[Literal["sv", "en"], Query(description="Language of service names")]
_MAX_RESULTS = 1000
_Query = TypeVar("_Query", bound=Select[Any])
ApiKey = Annotated[
    str | None,
    Query(max_length=200, description="An Open311 key: the full view your account allows"),
]


def viewer(
    db: DbSession,
    ctx: Context,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: ApiKey = None,
) -> auth.Principal | None:
    """Who reads: None for the public; 403 (Open311 error) for a key the hub does not honour."""
    now = ctx.clock.now()
    try:
        if api_key:
            return auth.authenticate(db, token=api_key, now=now, scope="open311")
        if creds is not None and creds.credentials:
            return auth.authenticate(db, token=creds.credentials, now=now)
    except auth.AuthError:
        raise Open311Error(403, "invalid api_key") from None
    return None


Viewer = Annotated[auth.Principal | None, Depends(viewer)]


def _latest_notes(db: Session, ids: list[int], who: auth.Principal | None) -> dict[int, str]:
    """Each ticket's status note in one statement: for the public the newest published
    comment, for token holders the newest note of a status change."""
    if not ids:
        return {}
    if who is None:
        newest = (
            select(func.max(TicketComment.id))
            .where(TicketComment.ticket_id.in_(ids), TicketComment.public.is_(True))
            .group_by(TicketComment.ticket_id)
        )
        q = select(TicketComment.ticket_id, TicketComment.text).where(TicketComment.id.in_(newest))
    else:
        newest = (
            select(func.max(TicketHistory.id))
            .where(TicketHistory.ticket_id.in_(ids), TicketHistory.action != "comment")
            .group_by(TicketHistory.ticket_id)
        )
        q = select(TicketHistory.ticket_id, TicketHistory.note).where(TicketHistory.id.in_(newest))
    return {int(tid): str(text) for tid, text in db.execute(q)}


def _request_doc(ctx: Context, t: Ticket, note: str | None, *, public: bool) -> dict[str, Any]:
    hidden = public and audience.hides_place(t.kind)
    media = None if hidden else (t.evidence or {}).get("media_url")
    return {
        "service_request_id": str(t.id),
        "status": fmt.basic_status(t.status),
        "status_notes": note or None,
        "service_name": name(t.kind),
        "service_code": t.kind,
        "description": name(t.kind) if hidden else (t.description or t.title),
        "agency_responsible": ctx.config.agency,
        "service_notice": None,
        "requested_datetime": fmt.when(t.created_at),
        "updated_datetime": fmt.when(t.updated_at),
        "expected_datetime": fmt.when(t.sla_due),
        "address": None if hidden else t.address,
        "address_id": None,
        "zipcode": None,
        "lat": None if hidden else t.lat,
        "long": None if hidden else t.lon,
        "media_url": media if isinstance(media, str) else None,
    }


def _docs(
    db: Session, ctx: Context, tickets: Iterable[Ticket], who: auth.Principal | None
) -> list[dict[str, Any]]:
    rows = list(tickets)
    notes = _latest_notes(db, [t.id for t in rows], who)
    return [_request_doc(ctx, t, notes.get(t.id), public=who is None) for t in rows]


def _visible_to(who: auth.Principal | None, q: _Query) -> _Query:
    """``q`` over tickets narrowed to what ``who`` (None: the public) may read."""
    if who is None:
        return q.where(Ticket.kind.in_(sorted(audience.PUBLIC_KINDS)))
    return access.restrict(who, q.where(Ticket.kind.not_in(INTERNAL_KINDS)))


@router.get("/services.{form}", summary="Service list: what can be reported")
def services(
    ctx: Context, form: Fmt, lang: Lang = "sv", jurisdiction_id: OptionalText = None
) -> Response:
    """The kinds ``POST requests`` accepts; kinds only devices raise are not listed."""
    check_jurisdiction(ctx, jurisdiction_id)
    docs = [fmt.service_doc(s, lang) for s in SERVICES if s.citizen]
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
    who: Viewer,
    form: Fmt,
    service_request_id: OptionalText = None,
    service_code: OptionalText = None,
    start_date: OptionalText = None,
    end_date: OptionalText = None,
    status: OptionalText = None,
    jurisdiction_id: OptionalText = None,
) -> Response:
    check_jurisdiction(ctx, jurisdiction_id)
    q = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc())
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
    rows = _docs(db, ctx, db.scalars(_visible_to(who, q).limit(_MAX_RESULTS)), who)
    return reply(form, "service_requests", "request", rows)


@router.get("/requests/{request_id}.{form}", summary="One service request")
def get_request(
    *,
    db: DbSession,
    ctx: Context,
    who: Viewer,
    form: Fmt,
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    jurisdiction_id: OptionalText = None,
) -> Response:
    check_jurisdiction(ctx, jurisdiction_id)
    t = db.scalars(_visible_to(who, select(Ticket).where(Ticket.id == request_id))).first()
    if t is None:  # the same answer whether it does not exist or is not for this caller
        raise Open311Error(404, f"no service request {request_id}")
    return reply(form, "service_requests", "request", _docs(db, ctx, [t], who))


@router.get("/servicerequestupdates.{form}", summary="FixMyStreet: status updates in a window")
def updates(
    *,
    db: DbSession,
    ctx: Context,
    who: Viewer,
    form: Fmt,
    start_date: OptionalText = None,
    end_date: OptionalText = None,
    jurisdiction_id: OptionalText = None,
) -> Response:
    """Status changes; their notes only for token holders (the public sees the status)."""
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
            "description": h.note if who is not None else "",
            "media_url": None,
        }
        for h in db.scalars(_visible_to(who, q))
    ]
    return reply(form, "service_requests_updates", "request_update", rows)
