"""An alert and what a rule asks of one: frozen values, numbers and place names only. Pure.

The field names of :class:`Alert` are the API's (``camelCase`` on the wire, see
:func:`Alert.to_json`); an alert carries counts, densities and letters, never an image,
a box or a citizen's contact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

Kind = Literal["crowdLevel", "crowdRising", "crowdOverCapacity", "zoneBlind", "binFire"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor"]
Status = Literal["raised", "acknowledged", "escalated", "resolved"]
KINDS: Final[tuple[Kind, ...]] = (
    "crowdLevel",
    "crowdRising",
    "crowdOverCapacity",
    "zoneBlind",
    "binFire",
)
SEVERITIES: Final[tuple[Severity, ...]] = ("Minor", "Moderate", "Severe", "Extreme")
OPEN: Final[frozenset[Status]] = frozenset({"raised", "acknowledged", "escalated"})
Figure = float | int | str


def worse(a: Severity, b: Severity) -> Severity:
    """The more severe of two CAP severities."""
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


@dataclass(frozen=True, slots=True)
class AlertRaise:
    """A rule's condition holds: open an alert for (zone, kind), or raise its severity."""

    zone: str
    kind: Kind
    severity: Severity
    figures: dict[str, Figure] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertClear:
    """A rule's condition has gone: the zone's open alert of this kind resolves."""

    zone: str
    kind: Kind


AlertAction = AlertRaise | AlertClear


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: Kind
    severity: Severity
    status: Status
    zone: str
    place: str | None
    event: str | None
    figures: dict[str, Figure]
    raised_at: datetime
    acknowledged_at: datetime | None = None
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    escalation_level: int = 0

    @property
    def open(self) -> bool:
        return self.status in OPEN

    def to_json(self) -> dict[str, Any]:
        """The API's and the delivery's object (see docs/alerts.md)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "zone": self.zone,
            "place": self.place,
            "event": self.event,
            "figures": dict(self.figures),
            "raisedAt": _iso(self.raised_at),
            "acknowledgedAt": _iso(self.acknowledged_at),
            "escalatedAt": _iso(self.escalated_at),
            "resolvedAt": _iso(self.resolved_at),
            "escalationLevel": self.escalation_level,
        }
