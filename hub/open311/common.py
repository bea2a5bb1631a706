"""What every Open311 route shares: the format suffix, the error document, the config."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.responses import JSONResponse

from hub.api.deps import Context
from hub.api.errors import ErrorOut
from hub.api.text import ControlTextError
from hub.open311 import format as fmt

PREFIX = "/open311/v2"
_ERRORS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
_XML = {"text/xml": {"schema": {"type": "string"}}}


def _doc_error(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": _ERRORS_SCHEMA}, **_XML},
    }


# For the OpenAPI document: every route answers JSON or XML, errors as the spec's document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "array"}}, **_XML}},
    400: _doc_error("Bad parameters: the description says which"),
    403: _doc_error("Invalid api_key"),
    404: _doc_error("Unknown request, service code or jurisdiction"),
    413: {"model": ErrorOut, "description": "Request body too large"},
    429: {"model": ErrorOut, "description": "Rate limit exceeded; see Retry-After"},
}
Fmt = Annotated[Literal["json", "xml"], Path(description="Response format")]
OptionalText = Annotated[str | None, Query(max_length=200)]


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def reply(
    form: str, root: str, item: str, rows: Sequence[dict[str, Any]], status: int = 200
) -> Response:
    if form == "xml":
        return Response(fmt.to_xml(root, item, rows), status, media_type="text/xml; charset=utf-8")
    return JSONResponse(list(rows), status)


def error(form: str, exc: Open311Error) -> Response:
    return reply(form, "errors", "error", fmt.errors_doc(exc.status, exc.description), exc.status)


def install(app: FastAPI) -> None:
    """Answer :class:`Open311Error` in the spec's error document, in the route's format."""

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Error)
        form = "xml" if request.path_params.get("form") == "xml" else "json"
        return error(form, exc)

    async def control_text(request: Request, exc: Exception) -> Response:
        # Refused text is a bad parameter: Open311's 400 and error document under PREFIX.
        assert isinstance(exc, ControlTextError)
        if not request.url.path.startswith(PREFIX):
            return await request_validation_exception_handler(request, exc)
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:])
        return await handler(request, Open311Error(400, f"{where}: {first['msg']}"))

    app.add_exception_handler(Open311Error, handler)
    app.add_exception_handler(ControlTextError, control_text)


def check_jurisdiction(ctx: Context, jurisdiction_id: str | None) -> None:
    if jurisdiction_id is not None and jurisdiction_id != ctx.config.jurisdiction_id:
        raise Open311Error(404, f"unknown jurisdiction_id {jurisdiction_id!r}")


def parse_date(label: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{label} is not an ISO 8601 datetime") from None
    if dt.tzinfo is None:
        raise Open311Error(400, f"{label} must include a timezone (e.g. +01:00 or Z)")
    return dt


def window(ctx: Context, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """The query window: at most the configured span (90 days), the latest by default."""
    span = timedelta(days=ctx.config.open311_window_days)
    a, b = parse_date("start_date", start), parse_date("end_date", end)
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
