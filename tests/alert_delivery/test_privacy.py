"""Every CAP message, JSON webhook and e-mail carries only numbers, level-of-service letters,
enum words, the delivery's own fixed wording and names of places, zones and events.

The check is a whitelist: each run of letters in the rendered text must be one of those
words, so an e-mail address, an image, a box or a free-text note cannot slip through.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from hub.alert_delivery import mail, webhook, wording
from hub.alert_delivery.cap import CapSource, render
from hub.alert_delivery.notice import KEYS, KINDS, SEVERITIES, STATUSES, AlertNotice
from tests.alert_delivery.samples import RAISED, notices

SOURCE = CapSource("trygg.solna.example")
WORD = re.compile(r"[^\W\d_]+")
FIXED = """
Allvarlighetsgrad Severity Evenemang Event Eskaleringsnivå Escalation level Trygg Solna stad
City of Tid Time alert CET CEST pers m per min Solna stads operatörer och polisen operators
and police trygg solna example sv SE en GB Safety Actual Alert Update Cancel Restricted
Monitor AllClear Immediate Expected Past Unknown Observed kind zone escalationLevel xml
version encoding utf urn oasis names tc emergency cap delivery id event occurred at raised
acknowledged escalated resolved ja nej yes no
"""
CAP_TAGS = """
identifier sender sent status msgType scope restriction references incidents info language
category event responseType urgency severity certainty eventCode senderName headline
description parameter valueName value area areaDesc geocode
"""


def _allowed(notice: AlertNotice) -> set[str]:
    words = set(FIXED.split()) | set(CAP_TAGS.split())
    words |= set(KEYS) | set(KINDS) | set(SEVERITIES) | set(STATUSES) | set(notice.figures)
    for table in (wording._EVENT, wording._STATUS, wording._SEVERITY, wording._FIGURE):
        for entry in table.values():
            words |= set(WORD.findall(" ".join(entry)))
    for name in (notice.zone, notice.place, notice.event):
        words |= set(WORD.findall(name or ""))
    words |= {
        "A",
        "B",
        "C",
        "D",
        "E",
        "F",
        "T",
        "None",
        "True",
        "true",
    }  # T: the ISO 8601 time separator
    return words


def _cap_text(raw: bytes) -> Iterator[str]:
    root = ET.fromstring(raw)
    for el in root.iter():
        yield el.tag
        yield el.text or ""
        yield from el.attrib.values()


def _json_text(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _json_text(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_text(v)
    else:
        yield str(value)


def _rendered(notice: AlertNotice) -> dict[str, str]:
    msg = mail.message(notice, sender="trygg@solna.example", to="operator@solna.example")
    return {
        "cap": " ".join(_cap_text(render(notice, SOURCE))),
        "json": " ".join(_json_text(json.loads(webhook.json_body(notice, delivery_id=12)))),
        "mail": f"{msg['Subject']}\n{msg.get_content()}",
    }


@pytest.mark.parametrize("notice", notices(), ids=lambda n: n.key)
def test_only_numbers_enum_words_and_names(notice: AlertNotice) -> None:
    allowed = _allowed(notice)
    for channel, text in _rendered(notice).items():
        assert "@" not in text, channel
        strangers = set(WORD.findall(text)) - allowed
        assert strangers == set(), (channel, strangers)


def test_the_whitelist_catches_what_does_not_belong() -> None:
    notice = AlertNotice.from_json(RAISED)
    text = _rendered(notice)["json"].replace("Strawberry", "anna.svensson")
    assert set(WORD.findall(text)) - _allowed(notice) == {"anna", "svensson"}


@pytest.mark.parametrize("extra", ["image", "frame", "boxes", "face", "email", "phone", "note"])
def test_fields_beyond_the_api_object_never_get_in(extra: str) -> None:
    with pytest.raises(ValueError, match=f"unknown alert keys \\['{extra}'\\]"):
        AlertNotice.from_json({**RAISED, extra: "x"})
