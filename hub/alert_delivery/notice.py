"""The alert as delivery sees it: the alerts API's object, validated, and nothing else.

:meth:`AlertNotice.from_json` refuses unknown or missing keys, free text that could hold an
e-mail address or markup, and figures that are not numbers or level-of-service letters, so
a rendered CAP message, webhook or e-mail cannot carry anything but numbers and names of
places, zones and events.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

KINDS: Final = ("crowdLevel", "crowdRising", "crowdOverCapacity", "zoneBlind", "binFire")
SEVERITIES: Final = ("Extreme", "Severe", "Moderate", "Minor")
STATUSES: Final = ("raised", "acknowledged", "escalated", "resolved")
LEVELS_OF_SERVICE: Final = frozenset("ABCDEF")
KEYS: Final = frozenset(
    {
        "id",
        "kind",
        "severity",
        "status",
        "zone",
        "place",
        "event",
        "figures",
        "raisedAt",
        "acknowledgedAt",
        "escalatedAt",
        "resolvedAt",
        "escalationLevel",
    }
)
# A name of a zone, place or event as operators write it: no "@" (so no e-mail address),
# no markup brackets, no control characters; renderers escape the rest.
_EDGE = r"[^\s@<>\x00-\x1f\x7f-\x9f]"
_NAME = re.compile(rf"^{_EDGE}(?:[^@<>\x00-\x1f\x7f-\x9f]{{0,118}}{_EDGE})?$")
_FIGURE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
MAX_FIGURES: Final = 16


class NoticeError(ValueError):
    """An alert record that is not a valid AlertNotice; the message names the key."""


Figure = bool | float | int | str


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One state of one alert, as ``GET /api/v1/alerts`` returns it (times in UTC)."""

    id: int
    kind: str
    severity: str
    status: str
    zone: str
    place: str | None
    event: str | None
    figures: MappingProxyType[str, Figure]
    raised_at: datetime
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    escalation_level: int

    @classmethod
    def from_json(cls, data: object) -> AlertNotice:
        """The notice in ``data`` (the API's JSON object); NoticeError says what is wrong."""
        if not isinstance(data, dict):
            raise NoticeError(f"an alert must be a JSON object, got {type(data).__name__}")
        extra = sorted(str(k) for k in set(data) - KEYS)
        if extra:
            raise NoticeError(f"unknown alert keys {extra}")
        missing = sorted(KEYS - set(data))
        if missing:
            raise NoticeError(f"missing alert keys {missing}")
        return cls(
            id=_count(data, "id", least=1),
            kind=_word(data, "kind", KINDS),
            severity=_word(data, "severity", SEVERITIES),
            status=_word(data, "status", STATUSES),
            zone=_name(data, "zone"),
            place=_optional_name(data, "place"),
            event=_optional_name(data, "event"),
            figures=_figures(data["figures"]),
            raised_at=_time(data, "raisedAt"),
            acknowledged_at=_optional_time(data, "acknowledgedAt"),
            escalated_at=_optional_time(data, "escalatedAt"),
            resolved_at=_optional_time(data, "resolvedAt"),
            escalation_level=_count(data, "escalationLevel", least=0),
        )

    def to_json(self) -> dict[str, Any]:
        """The API's JSON object again (times as ISO 8601 in UTC)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "zone": self.zone,
            "place": self.place,
            "event": self.event,
            "figures": dict(self.figures),
            "raisedAt": iso(self.raised_at),
            "acknowledgedAt": iso(self.acknowledged_at),
            "escalatedAt": iso(self.escalated_at),
            "resolvedAt": iso(self.resolved_at),
            "escalationLevel": self.escalation_level,
        }

    @property
    def changed_at(self) -> datetime:
        """When the alert entered its current status."""
        by_status = {
            "raised": self.raised_at,
            "acknowledged": self.acknowledged_at,
            "escalated": self.escalated_at,
            "resolved": self.resolved_at,
        }
        return by_status[self.status] or self.raised_at

    @property
    def key(self) -> str:
        """Names this state of this alert: the same for a notice delivered twice."""
        return f"{self.id}-{self.status}-{self.escalation_level}"


def _count(data: dict[str, Any], key: str, *, least: int) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value < 2**31:
        raise NoticeError(f"{key} must be an integer from {least}, got {value!r}")
    return value


def _word(data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = data[key]
    if value not in allowed:
        raise NoticeError(f"{key} must be one of {list(allowed)}, got {value!r}")
    return str(value)


def _name(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not _NAME.match(value):
        raise NoticeError(
            f"{key} must be a name of 1-120 characters without @, <, >, control "
            f"characters or surrounding spaces, got {value!r}"
        )
    return value


def _optional_name(data: dict[str, Any], key: str) -> str | None:
    return None if data[key] is None else _name(data, key)


def _time(data: dict[str, Any], key: str) -> datetime:
    value = data[key]
    try:
        t = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise NoticeError(f"{key} must be an ISO 8601 time with an offset, got {value!r}")
    return t.astimezone(UTC)


def _optional_time(data: dict[str, Any], key: str) -> datetime | None:
    return None if data[key] is None else _time(data, key)


def _figures(value: object) -> MappingProxyType[str, Figure]:
    if not isinstance(value, dict) or len(value) > MAX_FIGURES:
        raise NoticeError(f"figures must be an object of at most {MAX_FIGURES} entries")
    out: dict[str, Figure] = {}
    for key, v in value.items():
        if not isinstance(key, str) or not _FIGURE_KEY.match(key):
            raise NoticeError(f"figure name {key!r} must be a word of letters, digits and _")
        number = isinstance(v, int | float) and (isinstance(v, bool) or math.isfinite(v))
        if not (number or (isinstance(v, str) and v in LEVELS_OF_SERVICE)):
            raise NoticeError(
                f"figure {key} must be a number, true/false or a letter A-F, got {v!r}"
            )
        out[key] = v
    return MappingProxyType(out)
