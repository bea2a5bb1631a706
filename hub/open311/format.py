"""Open311 GeoReport v2 documents: field lists, statuses, datetimes, JSON and XML bodies.

Pure: takes plain values and returns dicts, strings or bytes. Datetimes are ISO 8601 with
a UTC offset in Stockholm local time (the spec asks for a timezone; local time is what a
Swedish case system shows). XML is only ever generated here, never parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from hub.open311.services import GROUPS_SV, Service
from trygg import text

LOCAL: Final = ZoneInfo("Europe/Stockholm")

REQUEST_FIELDS: Final = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
SERVICE_FIELDS: Final = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)
UPDATE_FIELDS: Final = (
    "update_id",
    "service_request_id",
    "status",
    "updated_datetime",
    "description",
    "media_url",
)
OPEN: Final = frozenset({"new", "acknowledged", "in_progress", "reopened"})
# FixMyStreet's extended statuses (mySociety open311-adapter) for our ticket statuses.
EXTENDED: Final[dict[str, str]] = {
    "new": "open",
    "reopened": "open",
    "acknowledged": "action_scheduled",
    "in_progress": "in_progress",
    "resolved": "fixed",
    "closed": "closed",
    "duplicate": "duplicate",
}


def basic_status(status: str) -> str:
    return "open" if status in OPEN else "closed"


def extended_status(status: str) -> str:
    return EXTENDED.get(status, basic_status(status))


def when(dt: datetime | None) -> str | None:
    """ISO 8601 with offset, e.g. ``2026-12-15T22:00:00+01:00``; None stays None."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(LOCAL).isoformat(timespec="seconds")


def service_doc(svc: Service, lang: str) -> dict[str, Any]:
    return {
        "service_code": svc.code,
        "service_name": svc.sv if lang == "sv" else svc.en,
        "description": f"{svc.sv} / {svc.en}",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(svc.keywords),
        "group": GROUPS_SV.get(svc.group, svc.group) if lang == "sv" else svc.group,
    }


# Characters XML 1.0 cannot carry at all, escaped or not (C0 controls but tab, CR and LF;
# lone surrogates; U+FFFE and U+FFFF). Stored text may hold them, so the writer drops them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids."""
    return _NOT_XML.sub("", text)


def xml_text(value: Any) -> str:
    """``value`` as XML element text: escaped where it holds control characters, and
    without what XML 1.0 cannot carry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    out = "" if value is None else str(value)
    # Text stored before the hub refused control characters is shown escaped; whatever
    # else XML 1.0 cannot carry is dropped, so the document always parses.
    return xml_safe(out if text.is_clean(out, multiline=True) else text.escape(out))


def to_xml(root: str, item: str, rows: Iterable[Mapping[str, Any]]) -> bytes:
    """``<root><item><field>value</field>...</item>...</root>`` with every field present."""
    top = ET.Element(root)
    for row in rows:
        el = ET.SubElement(top, item)
        for key, value in row.items():
            ET.SubElement(el, key).text = xml_text(value)
    body = ET.tostring(top, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode()


def errors_doc(code: int, description: str) -> list[dict[str, Any]]:
    return [{"code": code, "description": description}]
