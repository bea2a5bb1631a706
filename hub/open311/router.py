"""``/open311/v2``: GeoReport v2 services and requests, and FixMyStreet's request updates.

Every route answers in JSON or XML by its suffix. Errors use the spec's error document
(``[{"code", "description"}]`` / ``<errors><error>``) with a 4xx status. GET routes are
public and rate-limited; POST needs an Open311 ``api_key``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import auth
from hub import tickets as service
from hub.api.config import ApiConfig
from hub.api.deps import Context, DbSession
from hub.db import Ticket, TicketHistory
from hub.open311 import contacts
from hub.open311 import format as fmt
from hub.open311.services import BY_CODE, SERVICES, name

router = APIRouter(prefix="/open311/v2", tags=["open311"])
Fmt = Annotated[Literal["json", "xml"], Path(description="Response format")]
Lang = Annotated[Literal["sv", "en"], Query(description="Language of service names")]
_Q = Annotated[str | None, Query(max_length=200)]
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
_MAX_RESULTS = 1000


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _reply(
    form: str, root: str, item: str, rows: Sequence[dict[str, Any]], status: int = 200
) -> Response:
    if form == "xml":
        return Response(fmt.to_xml(root, item, rows), status, media_type="text/xml; charset=utf-8")
    return JSONResponse(list(rows), status)


def _error(form: str, exc: Open311Error) -> Response:
    return _reply(form, "errors", "error", fmt.errors_doc(exc.status, exc.description), exc.status)


def install(app: FastAPI) -> None:
    """Answer :class:`Open311Error` in the spec's error document, in the route's format."""

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Error)
        form = "xml" if request.path_params.get("form") == "xml" else "json"
        return _error(form, exc)

    app.add_exception_handler(Open311Error, handler)


def _cfg(ctx: Context) -> ApiConfig:
    cfg: ApiConfig = ctx.extra["api_config"]
    return cfg


def _jurisdiction(ctx: Context, jurisdiction_id: str | None) -> None:
    if jurisdiction_id is not None and jurisdiction_id != _cfg(ctx).jurisdiction_id:
        raise Open311Error(404, f"unknown jurisdiction_id {jurisdiction_id!r}")


def _date(label: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{label} is not an ISO 8601 datetime") from None
    if dt.tzinfo is None:
        raise Open311Error(400, f"{label} must include a timezone (e.g. +01:00 or Z)")
    return dt


def _window(ctx: Context, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """The query window: at most the configured span (90 days), the latest by default."""
    span = timedelta(days=_cfg(ctx).open311_window_days)
    a, b = _date("start_date", start), _date("end_date", end)
    if a is None and b is None:
        b = ctx.clock.now()
    if a is None:
        assert b is not None
        a = b - span
    if b is None:
        b = a + span
    if b < a:
        raise Open311Error(400, "end_date is before start_date")
    if b - a > span:
        raise Open311Error(400, f"the window from start_date to end_date is over {span.days} days")
    return a, b


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
        "agency_responsible": _cfg(ctx).agency,
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
def services(ctx: Context, form: Fmt, lang: Lang = "sv", jurisdiction_id: _Q = None) -> Response:
    _jurisdiction(ctx, jurisdiction_id)
    docs = [fmt.service_doc(s, lang) for s in SERVICES]
    return _reply(form, "services", "service", docs)


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
    service_request_id: _Q = None,
    service_code: _Q = None,
    start_date: _Q = None,
    end_date: _Q = None,
    status: _Q = None,
    jurisdiction_id: _Q = None,
) -> Response:
    _jurisdiction(ctx, jurisdiction_id)
    q = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if service_request_id is not None:  # the spec: other parameters are then ignored
        q = q.where(Ticket.id.in_(_ids(service_request_id)))
    else:
        a, b = _window(ctx, start_date, end_date)
        q = q.where(Ticket.created_at >= a, Ticket.created_at <= b)
        if service_code is not None:
            q = q.where(Ticket.kind.in_(_codes(service_code)))
        chosen = _status_filter(status) if status is not None else None
        if chosen is not None:
            q = q.where(Ticket.status.in_(chosen))
    rows = [_request_doc(db, ctx, t) for t in db.scalars(q.limit(_MAX_RESULTS))]
    return _reply(form, "service_requests", "request", rows)


def _ticket(db: Session, request_id: int) -> Ticket:
    t = db.get(Ticket, request_id)
    if t is None:
        raise Open311Error(404, f"no service request {request_id}")
    return t


@router.get("/requests/{request_id}.{form}", summary="One service request")
def get_request(
    *,
    db: DbSession,
    ctx: Context,
    form: Fmt,
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    jurisdiction_id: _Q = None,
) -> Response:
    _jurisdiction(ctx, jurisdiction_id)
    doc = _request_doc(db, ctx, _ticket(db, request_id))
    return _reply(form, "service_requests", "request", [doc])


@router.get("/servicerequestupdates.{form}", summary="FixMyStreet: status updates in a window")
def updates(
    *,
    db: DbSession,
    ctx: Context,
    form: Fmt,
    start_date: _Q = None,
    end_date: _Q = None,
    jurisdiction_id: _Q = None,
) -> Response:
    _jurisdiction(ctx, jurisdiction_id)
    a, b = _window(ctx, start_date, end_date)
    q = (
        select(TicketHistory)
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
    return _reply(form, "service_requests_updates", "request_update", rows)


_POST_FIELDS: dict[str, dict[str, Any]] = {
    "api_key": {"type": "string", "maxLength": 200},
    "jurisdiction_id": {"type": "string", "maxLength": 200},
    "service_code": {"type": "string", "maxLength": 64},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "long": {"type": "number", "minimum": -180, "maximum": 180},
    "address_string": {"type": "string", "maxLength": 200},
    "email": {"type": "string", "maxLength": 200},
    "device_id": {"type": "string", "maxLength": 100},
    "account_id": {"type": "string", "maxLength": 100},
    "first_name": {"type": "string", "maxLength": 100},
    "last_name": {"type": "string", "maxLength": 100},
    "phone": {"type": "string", "maxLength": 50},
    "description": {"type": "string", "maxLength": 4000},
    "media_url": {"type": "string", "maxLength": 500},
}
_POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code", "lat", "long"],
                    "properties": _POST_FIELDS,
                }
            }
        },
    }
}


def _field(form: dict[str, str], key: str) -> str | None:
    value = form.get(key)
    if value is None or not value.strip():
        return None
    limit = int(_POST_FIELDS[key].get("maxLength", 200))
    if len(value) > limit:
        raise Open311Error(400, f"{key} is longer than {limit} characters")
    return value.strip()


def _coord(form: dict[str, str], key: str, bound: float) -> float:
    text = _field(form, key)
    if text is None:
        raise Open311Error(400, "lat and long are required (this endpoint has no geocoder)")
    try:
        value = float(text)
    except ValueError:
        raise Open311Error(400, f"{key} must be a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise Open311Error(400, f"{key} is out of range")
    return value


async def _form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        raise Open311Error(400, "send the request as application/x-www-form-urlencoded")
    try:
        raw = await request.form(max_files=0, max_fields=100)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the caller's fault
        raise Open311Error(400, f"malformed form body: {exc}") from None
    data = {k: v for k, v in raw.items() if isinstance(v, str)}
    unknown = [k for k in data if k not in _POST_FIELDS and not k.startswith("attribute[")]
    if unknown:
        raise Open311Error(400, f"unknown field {unknown[0]!r}")
    return data


def _check_key(db: Session, key: str | None, now: datetime) -> None:
    if key is None:
        raise Open311Error(400, "api_key is required")
    try:
        auth.authenticate(db, token=key, now=now, scope="open311")
    except auth.AuthError:
        raise Open311Error(403, "invalid api_key") from None


def _service(code: str | None) -> str:
    if code is None:
        raise Open311Error(400, "service_code is required")
    svc = BY_CODE.get(code)
    if svc is None or not svc.citizen:
        raise Open311Error(404, f"service_code {code!r} is not open for reports")
    return code


def _email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise Open311Error(400, "email is not a valid address")
    return value


def _media(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    return value


@router.post(
    "/requests.{form}",
    summary="Report a problem (citizen request)",
    status_code=201,
    openapi_extra=_POST_BODY,
)
async def post_request(request: Request, db: DbSession, ctx: Context, form: Fmt) -> Response:
    """Create a ticket from a citizen's report; personal fields go to a separate table."""
    data = await _form(request)
    _jurisdiction(ctx, _field(data, "jurisdiction_id"))
    now = ctx.clock.now()
    _check_key(db, _field(data, "api_key"), now)
    code = _service(_field(data, "service_code"))
    lat, lon = _coord(data, "lat", 90), _coord(data, "long", 180)
    email = _email(_field(data, "email"))
    media = _media(_field(data, "media_url"))
    ticket = service.create_ticket(
        db,
        kind=code,
        reporter="open311",
        now=now,
        lat=lat,
        lon=lon,
        source="citizen",
        description=_field(data, "description") or "",
        address=_field(data, "address_string"),
        severity="critical" if code == "binFire" else "minor",
        evidence={"media_url": media} if media else None,
    )
    contacts.store(
        db,
        ticket_id=ticket.id,
        now=now,
        first_name=_field(data, "first_name"),
        last_name=_field(data, "last_name"),
        email=email,
        phone=_field(data, "phone"),
        account_id=_field(data, "account_id"),
        device_id=_field(data, "device_id"),
    )
    db.commit()
    doc = {"service_request_id": str(ticket.id), "service_notice": None, "account_id": None}
    return _reply(form, "service_requests", "request", [doc], 201)
