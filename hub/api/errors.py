"""How refusals look in the OpenAPI document: one ``{"detail": "..."}`` body for every 4xx.

422 is FastAPI's own (the request does not match the schema); 400 is ours (it matches the
schema but the service refuses it, e.g. an unknown kind or asset).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel


class ErrorOut(BaseModel):
    detail: str


def _r(text: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": text}


AUTHED: Final[dict[int | str, dict[str, Any]]] = {
    400: _r("Refused: the message says why"),
    401: _r("Missing, unknown, expired or revoked token"),
    403: _r("Your role or area does not allow this"),
    413: _r("Request body too large"),
    429: _r("Rate limit exceeded; see Retry-After"),
}
PUBLIC: Final[dict[int | str, dict[str, Any]]] = {
    k: v for k, v in AUTHED.items() if k in (400, 401, 413, 429)
}
NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {404: _r("No such object")}
CONFLICT: Final[dict[int | str, dict[str, Any]]] = {
    **NOT_FOUND,
    409: _r("The ticket's status does not allow this"),
}
