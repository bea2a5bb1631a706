"""Text hygiene at the HTTP boundary: the rule of :mod:`trygg.text`, applied once.

- Body fields (JSON models and form fields) are typed :data:`Line` or :data:`Text`, so the
  schema refuses control characters with the field named (422) and the OpenAPI document
  shows the pattern.
- Query and path parameters of every route are checked by :func:`refuse_control_text`, an
  application-wide dependency, so no route has to remember it.
- Uploaded files' names are checked by :func:`check_filename` where uploads are read.

A refusal raises :class:`ControlTextError`, a :class:`RequestValidationError`: FastAPI's
422 body, unless a part of the app (Open311) answers it in its own format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints

from trygg import text

Line = Annotated[str, StringConstraints(pattern=text.LINE_PATTERN)]
Text = Annotated[str, StringConstraints(pattern=text.TEXT_PATTERN)]
ERROR_TYPE = "control_character"


class ControlTextError(RequestValidationError):
    """Text with a control character, named by ``errors()[i]["loc"]``."""


def _error(loc: tuple[str, ...], value: str, why: str) -> dict[str, Any]:
    return {"type": ERROR_TYPE, "loc": loc, "msg": why, "input": value}


def control_text_errors(
    query: Sequence[tuple[str, str]], path: dict[str, Any]
) -> list[dict[str, Any]]:
    """One error per parameter (name or value) that holds a refused character."""
    errors: list[dict[str, Any]] = []
    for name, value in query:
        why = text.refusal(name)
        if why is not None:
            errors.append(_error(("query", text.escape(name)), name, f"parameter name: {why}"))
        elif (why := text.refusal(value)) is not None:
            errors.append(_error(("query", name), value, why))
    for name, value in path.items():
        if isinstance(value, str) and (why := text.refusal(value)) is not None:
            errors.append(_error(("path", name), value, why))
    return errors


async def refuse_control_text(request: Request) -> None:
    """Application-wide dependency: refuse a request whose query or path parameters hold
    control characters (before any route's own parameters are used)."""
    errors = control_text_errors(request.query_params.multi_items(), request.path_params)
    if errors:
        raise ControlTextError(errors)


def check_filename(field: str, filename: str | None) -> None:
    """Refuse an uploaded file whose name holds control characters."""
    if filename is not None and (why := text.refusal(filename)) is not None:
        raise ControlTextError([_error(("body", field, "filename"), filename, why)])
