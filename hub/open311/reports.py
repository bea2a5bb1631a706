"""``POST /open311/v2/requests``: a citizen's report becomes a ticket.

The body is form-encoded as the spec says; every field is checked here and a refusal is
the spec's error document with a 4xx status, with nothing stored. Name, e-mail and phone go
to ``hub.open311.contacts``, never onto the ticket.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from hub import auth
from hub import tickets as service
from hub.api.deps import Context, DbSession
from hub.open311 import contacts
from hub.open311.common import RESPONSES, Fmt, Open311Error, check_jurisdiction, reply
from hub.open311.services import BY_CODE
from trygg import text

router = APIRouter(tags=["open311"])  # the parent router adds the prefix and responses
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


_LINE = {"pattern": text.LINE_PATTERN}
_POST_FIELDS: dict[str, dict[str, Any]] = {
    "api_key": {"type": "string", "maxLength": 200, **_LINE},
    "jurisdiction_id": {"type": "string", "maxLength": 200, **_LINE},
    "service_code": {"type": "string", "maxLength": 64, **_LINE},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "long": {"type": "number", "minimum": -180, "maximum": 180},
    "address_string": {"type": "string", "maxLength": 200, **_LINE},
    "email": {"type": "string", "maxLength": 200, **_LINE},
    "device_id": {"type": "string", "maxLength": 100, **_LINE},
    "account_id": {"type": "string", "maxLength": 100, **_LINE},
    "first_name": {"type": "string", "maxLength": 100, **_LINE},
    "last_name": {"type": "string", "maxLength": 100, **_LINE},
    "phone": {"type": "string", "maxLength": 50, **_LINE},
    "description": {"type": "string", "maxLength": 4000, "pattern": text.TEXT_PATTERN},
    "media_url": {"type": "string", "maxLength": 500, **_LINE},
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
    except HTTPException:
        raise  # e.g. 413 from the body limit while the form streams in
    except Exception as exc:  # noqa: BLE001 - any parse failure is the caller's fault
        raise Open311Error(400, f"malformed form body: {exc}") from None
    data = {k: v for k, v in raw.items() if isinstance(v, str)}
    unknown = [k for k in data if k not in _POST_FIELDS and not k.startswith("attribute[")]
    if unknown:
        raise Open311Error(400, f"unknown field {text.escape(unknown[0])!r}")
    for key, value in data.items():
        if (why := text.refusal(key)) is not None:
            raise Open311Error(400, f"field name {text.escape(key)!r}: {why}")
        # Only the description is free text; tab and newline are allowed there alone.
        if (why := text.refusal(value, multiline=key == "description")) is not None:
            raise Open311Error(400, f"{key}: {why}")
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
    responses={201: RESPONSES[200]},
    openapi_extra=_POST_BODY,
)
async def post_request(request: Request, db: DbSession, ctx: Context, form: Fmt) -> Response:
    """Create a ticket from a citizen's report; personal fields go to a separate table."""
    data = await _form(request)
    check_jurisdiction(ctx, _field(data, "jurisdiction_id"))
    now = ctx.clock.now()
    _check_key(db, _field(data, "api_key"), now)
    code = _service(_field(data, "service_code"))
    lat, lon = _coord(data, "lat", 90), _coord(data, "long", 180)
    if (why := ctx.config.bounds.refusal(lat, lon)) is not None:
        raise Open311Error(400, why)
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
    return reply(form, "service_requests", "request", [doc], 201)
