"""What InfluxDB's answer to a ``/write`` means for the data sent. Pure.

Three outcomes, and only the first lets the hub acknowledge the data as InfluxDB's:

- ``STORED``: 2xx, every point is in.
- ``REFUSED_DATA``: InfluxDB refused points for their content (line protocol it cannot
  parse, a field of another type than the series already has, a point beyond the retention
  policy). 1.x answers 400 ``{"error": "partial write: field type conflict: ... dropped=N"}``
  or ``{"error": "unable to parse '...': invalid field format"}`` and stores the other
  points; 2.x answers the same text as 400 or 422 (``unprocessable entity``); 3.x answers
  400 ``partial write of line protocol occurred``. Sending the same points again cannot
  help, so the refused points become dead letters and the rest is acknowledged.
- ``NOT_STORED``: everything else — the database or retention policy missing (404, or 1.x's
  500 "retention policy not found"), wrong credentials (401/403), a body too large (413),
  rate limits (429), 5xx, an unknown 4xx, timeouts and connection errors. None of that is
  the data's fault, so the data must be kept and written again later.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Final

# Texts InfluxDB 1.x/2.x/3.x put in a 400/422 answer when points themselves are refused.
_CONTENT_ERRORS: Final = (
    "partial write",
    "unable to parse",
    "field type conflict",
    "invalid field format",
    "invalid boolean",
    "invalid number",
    "invalid field",
    "invalid tag",
    "bad timestamp",
    "missing fields",
    "missing tag",
    "points beyond retention policy",
    "line protocol",
)
_SCHEMA_MISSING: Final = ("database not found", "retention policy not found")
_DROPPED: Final = re.compile(r"dropped=(\d+)")
_MESSAGE_MAX: Final = 400


class Verdict(enum.Enum):
    STORED = "stored"
    REFUSED_DATA = "refused_data"
    NOT_STORED = "not_stored"


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    verdict: Verdict
    status: int | None  # None: no HTTP answer at all (timeout, connection error)
    message: str  # InfluxDB's own error text, or the failure's
    schema_missing: bool = False  # re-creating the database / retention policy may help
    too_large: bool = False  # 413: smaller pieces may pass
    dropped: int | None = None  # points InfluxDB says it dropped, when it says so

    @property
    def stored(self) -> bool:
        return self.verdict is Verdict.STORED

    @property
    def refused_data(self) -> bool:
        return self.verdict is Verdict.REFUSED_DATA

    def reason(self) -> str:
        """A sentence for an operator: why InfluxDB does not store what the hub sends."""
        if self.status is None:
            return f"InfluxDB unreachable: {self.message}"
        return f"InfluxDB refuses writes: {self.status} {self.message}"


def message_of(body: bytes) -> str:
    """InfluxDB's error text: the ``error`` (1.x) or ``message`` (2.x/3.x) of a JSON body,
    else the body itself; one line, at most 400 characters."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "message"):
            value = parsed.get(key)
            if isinstance(value, str) and value:
                text = value
                break
    return " ".join(text.split())[:_MESSAGE_MAX]


def classify(status: int, body: bytes) -> WriteAnswer:
    """The meaning of an HTTP answer ``status`` with ``body`` to a ``/write``."""
    if 200 <= status < 300:
        return WriteAnswer(Verdict.STORED, status, "")
    message = message_of(body)
    lowered = message.lower()
    if status in (400, 422) and any(text in lowered for text in _CONTENT_ERRORS):
        found = _DROPPED.search(lowered)
        return WriteAnswer(
            Verdict.REFUSED_DATA,
            status,
            message,
            dropped=int(found.group(1)) if found else None,
        )
    return WriteAnswer(
        Verdict.NOT_STORED,
        status,
        message or _DEFAULT_TEXT.get(status, "no reason given"),
        schema_missing=any(text in lowered for text in _SCHEMA_MISSING),
        too_large=status == 413,
    )


def unreachable(failure: str) -> WriteAnswer:
    """No HTTP answer: a timeout, a refused or lost connection, a garbled response."""
    return WriteAnswer(Verdict.NOT_STORED, None, failure[:_MESSAGE_MAX])


_DEFAULT_TEXT: Final = {
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    413: "request too large",
    429: "too many requests",
}
