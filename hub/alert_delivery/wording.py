"""The words an alert is delivered with, in Swedish first and in English.

One owner for the text of CAP messages and e-mails, so both say the same thing. Only enum
words, numbers and the notice's names go in; figures are formatted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hub.alert_delivery.notice import AlertNotice, Figure

LANGUAGES: Final = ("sv-SE", "en-GB")

_EVENT: Final[dict[str, tuple[str, str]]] = {
    "crowdLevel": ("Kritisk trängsel", "Critical crowding"),
    "crowdRising": ("Snabbt ökande trängsel", "Crowd density rising fast"),
    "crowdOverCapacity": ("Fler personer än zonen rymmer", "Zone over capacity"),
    "zoneBlind": ("Zon utan bevakning under evenemang", "Zone unobserved during an event"),
    "binFire": ("Brand i papperskorg", "Bin fire"),
}
_STATUS: Final[dict[str, tuple[str, str]]] = {
    "raised": ("Larm", "Alert"),
    "acknowledged": ("Kvitterat", "Acknowledged"),
    "escalated": ("Eskalerat", "Escalated"),
    "resolved": ("Avslutat", "Resolved"),
}
_SEVERITY: Final[dict[str, tuple[str, str]]] = {
    "Extreme": ("extrem", "extreme"),
    "Severe": ("allvarlig", "severe"),
    "Moderate": ("måttlig", "moderate"),
    "Minor": ("mindre", "minor"),
}
# (Swedish label, English label, unit); figures not listed are shown by their name.
_FIGURE: Final[dict[str, tuple[str, str, str]]] = {
    "peopleDensity": ("täthet", "density", "pers/m²"),
    "peopleCount": ("antal personer", "people", ""),
    "occupancy": ("beläggning", "occupancy", "%"),
    "levelOfService": ("servicenivå", "level of service", ""),
    "levelOfServiceQueue": ("servicenivå kö", "level of service (queue)", ""),
    "capacity": ("kapacitet", "capacity", "pers"),
    "risePerMin": ("ökning", "rise", "pers/m² per min"),
    "congested": ("trängsel", "congested", ""),
}


@dataclass(frozen=True, slots=True)
class Text:
    """An alert's words in one language."""

    language: str
    event: str
    headline: str
    description: str
    area: str
    sender_name: str


def event_name(kind: str, language: str) -> str:
    return _EVENT[kind][_index(language)]


def area_name(notice: AlertNotice) -> str:
    """The zone, with its place in front when it has one."""
    return notice.zone if notice.place is None else f"{notice.place}, {notice.zone}"


def figure_line(name: str, value: Figure, language: str) -> str:
    i = _index(language)
    label, unit = (_FIGURE[name][i], _FIGURE[name][2]) if name in _FIGURE else (name, "")
    if isinstance(value, bool):
        shown = ("ja" if value else "nej") if i == 0 else ("yes" if value else "no")
    elif name == "occupancy" and isinstance(value, int | float):
        shown = _number(value * 100, language, digits=0)
    elif isinstance(value, int | float):
        shown = _number(value, language, digits=2)
    else:
        shown = value
    return f"{label}: {shown}{' ' + unit if unit else ''}"


def text(notice: AlertNotice, language: str) -> Text:
    """The notice's event name, headline, description and area in ``language``."""
    i = _index(language)
    event = _EVENT[notice.kind][i]
    status = _STATUS[notice.status][i]
    area = area_name(notice)
    headline = f"{status}: {event} – {area}"
    severity = _SEVERITY[notice.severity][i]
    lines = [
        (f"Allvarlighetsgrad: {severity}." if i == 0 else f"Severity: {severity}."),
        *(figure_line(k, v, language) for k, v in notice.figures.items()),
    ]
    if notice.event is not None:
        lines.append(f"Evenemang: {notice.event}" if i == 0 else f"Event: {notice.event}")
    if notice.escalation_level > 0:
        lines.append(
            f"Eskaleringsnivå: {notice.escalation_level}"
            if i == 0
            else f"Escalation level: {notice.escalation_level}"
        )
    sender = "Trygg, Solna stad" if i == 0 else "Trygg, City of Solna"
    return Text(language, event, headline, "\n".join(lines), area, sender)


def _index(language: str) -> int:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {list(LANGUAGES)}, got {language!r}")
    return LANGUAGES.index(language)


def _number(value: float, language: str, *, digits: int) -> str:
    shown = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return shown.replace(".", ",") if language == "sv-SE" else shown
