"""An AlertNotice as an OASIS Common Alerting Protocol 1.2 ``<alert>`` message.

Pure: builds the XML with :mod:`xml.etree.ElementTree` (which escapes text) from the notice
alone, so the same notice always gives the same bytes and a retried webhook sends the same
message. Each state of an alert is its own CAP message: ``raised`` is an ``Alert``,
``acknowledged`` and ``escalated`` are ``Update``\\s and ``resolved`` a ``Cancel``, the last
three referencing the first. Times are given in Europe/Stockholm with their offset (CAP
forbids ``Z``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from hub.alert_delivery.notice import AlertNotice
from hub.alert_delivery.wording import LANGUAGES, text

NAMESPACE: Final = "urn:oasis:names:tc:emergency:cap:1.2"
MEDIA_TYPE: Final = "application/cap+xml"
LOCAL: Final = ZoneInfo("Europe/Stockholm")
MSG_TYPES: Final = {
    "raised": "Alert",
    "acknowledged": "Update",
    "escalated": "Update",
    "resolved": "Cancel",
}
URGENCY: Final = {"Extreme": "Immediate", "Severe": "Immediate", "Moderate": "Expected"}
# CAP's identifier and sender may not hold spaces, commas, "<" or "&".
_TOKEN = re.compile(r"^[A-Za-z0-9._:/@-]{1,200}$")


@dataclass(frozen=True, slots=True)
class CapSource:
    """Who sends the messages: ``sender`` is a domain-style id, e.g. ``trygg.solna.se``."""

    sender: str
    restriction: str = "Solna stads operatörer och polisen / City of Solna operators and police"

    def __post_init__(self) -> None:
        if not _TOKEN.match(self.sender) or "@" in self.sender:
            raise ValueError(
                f"CAP sender {self.sender!r} must be a domain-style id without spaces, commas or @"
            )


def cap_time(t: datetime) -> str:
    """``t`` as CAP wants it: seconds, in Stockholm time, with a numeric offset."""
    if t.tzinfo is None:
        raise ValueError("a CAP time needs an offset")
    return t.astimezone(LOCAL).replace(microsecond=0).isoformat()


def identifier(source: CapSource, notice: AlertNotice) -> str:
    """The message id of this state of this alert (stable, unique per state)."""
    return f"{source.sender}.alert.{notice.key}"


def render(notice: AlertNotice, source: CapSource) -> bytes:
    """The CAP 1.2 message (UTF-8 XML with a declaration) for ``notice``."""
    ET.register_namespace("", NAMESPACE)
    alert = ET.Element(_q("alert"))
    _sub(alert, "identifier", identifier(source, notice))
    _sub(alert, "sender", source.sender)
    _sub(alert, "sent", cap_time(notice.changed_at))
    _sub(alert, "status", "Actual")
    _sub(alert, "msgType", MSG_TYPES[notice.status])
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", source.restriction)
    if notice.status != "raised":
        first = f"{source.sender}.alert.{notice.id}-raised-0"
        _sub(alert, "references", f"{source.sender},{first},{cap_time(notice.raised_at)}")
    _sub(alert, "incidents", f"{source.sender}.alert.{notice.id}")
    for language in LANGUAGES:
        _info(alert, notice, language)
    ET.indent(alert)
    xml: bytes = ET.tostring(alert, encoding="utf-8", xml_declaration=True)
    return xml


def _info(alert: ET.Element, notice: AlertNotice, language: str) -> None:
    words = text(notice, language)
    info = _sub(alert, "info")
    _sub(info, "language", language)
    _sub(info, "category", "Safety")
    _sub(info, "event", words.event)
    if notice.status == "resolved":
        _sub(info, "responseType", "AllClear")
    else:
        _sub(info, "responseType", "Monitor")
    resolved = notice.status == "resolved"
    _sub(info, "urgency", "Past" if resolved else URGENCY.get(notice.severity, "Unknown"))
    _sub(info, "severity", notice.severity)
    _sub(info, "certainty", "Observed")
    _sub(info, "eventCode", None, valueName="trygg:kind", value=notice.kind)
    _sub(info, "senderName", words.sender_name)
    _sub(info, "headline", words.headline)
    _sub(info, "description", words.description)
    for name, value in notice.figures.items():
        _sub(info, "parameter", None, valueName=name, value=str(value))
    _sub(info, "parameter", None, valueName="escalationLevel", value=str(notice.escalation_level))
    area = _sub(info, "area")
    _sub(area, "areaDesc", words.area)
    _sub(area, "geocode", None, valueName="trygg:zone", value=notice.zone)


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _sub(parent: ET.Element, tag: str, body: str | None = None, **pairs: str) -> ET.Element:
    """A child element, with text ``body`` or with ``valueName``/``value`` children."""
    el = ET.SubElement(parent, _q(tag))
    if body is not None:
        el.text = body
    for key in ("valueName", "value"):
        if key in pairs:
            ET.SubElement(el, _q(key)).text = pairs[key]
    return el
