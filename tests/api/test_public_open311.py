"""What Open311 shows to the public and to token holders, what it costs, and its XML.

Against a real SQLite database (PostgreSQL in test_public_surfaces_postgres.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from hub import auth
from hub import tickets as service
from hub.open311 import format as fmt
from hub.open311.services import SERVICES
from tests.api.conftest import Hub

V2 = "/open311/v2"
CAMERA = (59.3610, 18.0020)
SECRET_NOTE = "Pratat med boende Per Svensson, tel 070-1234567, portkod 4711"


def _key(hub: Hub) -> str:
    return auth.bootstrap_token(
        hub.sessions, name="fixmystreet", role="operator", scope="open311", now=hub.clock.now()
    )


def _ticket(hub: Hub, kind: str, lat: float, lon: float, description: str = "") -> int:
    with hub.sessions.begin() as s:
        t = service.new_ticket(
            s,
            kind=kind,
            severity="major",
            now=hub.clock.now(),
            actor="rules",
            source="rule",
            lat=lat,
            lon=lon,
            address="Kameragatan 7" if kind != "lampOut" else "Lampgatan 1",
            description=description,
        )
        return t.id


def test_public_view_holds_no_crew_notes_names_or_camera_positions(hub: Hub) -> None:
    c, crew = hub.client, hub.h(hub.crew)
    lamp = _ticket(hub, "lampOut", 59.3605, 18.0005, "Lampan släckt")
    camera = _ticket(hub, "cameraCovered", *CAMERA, "Kameran vid Kameragatan 7 är täckt")
    displaced = _ticket(hub, "cameraDisplaced", *CAMERA)
    offline = _ticket(hub, "deviceOffline", *CAMERA)
    hub.clock.advance(60)
    assert c.post(f"/api/v1/tickets/{lamp}/acknowledge", headers=crew).status_code == 200
    r = c.post(f"/api/v1/tickets/{lamp}/comments", headers=crew, json={"text": SECRET_NOTE})
    assert (r.status_code, r.json()["public"]) == (201, False)
    hub.clock.advance(60)
    r = c.post(
        f"/api/v1/tickets/{lamp}/resolve", headers=crew, json={"note": SECRET_NOTE + " (klar)"}
    )
    assert r.status_code == 200
    r = c.post(
        f"/api/v1/tickets/{lamp}/comments",
        headers=crew,
        json={"text": "Lampan är bytt. Tack för anmälan!", "public": True},
    )
    assert (r.status_code, r.json()["public"]) == (201, True)

    for form in ("json", "xml"):
        bodies = [
            c.get(f"{V2}/requests.{form}").content,
            c.get(f"{V2}/requests/{lamp}.{form}").content,
            c.get(f"{V2}/requests/{camera}.{form}").content,
            c.get(f"{V2}/requests.{form}?service_request_id={lamp},{camera},{offline}").content,
            c.get(f"{V2}/servicerequestupdates.{form}").content,
        ]
        for body in bodies:
            text = body.decode()
            for secret in ("070-1234567", "Per Svensson", "anna", "crew-centrum", "Kameragatan"):
                assert secret not in text, (secret, text)
            assert str(CAMERA[0]) not in text
    docs = {d["service_request_id"]: d for d in c.get(f"{V2}/requests.json").json()}
    assert set(docs) == {str(lamp), str(camera), str(displaced)}  # no deviceOffline
    assert docs[str(lamp)]["status_notes"] == "Lampan är bytt. Tack för anmälan!"
    assert (docs[str(lamp)]["lat"], docs[str(lamp)]["long"]) == (59.3605, 18.0005)
    for cam in (camera, displaced):
        doc = docs[str(cam)]
        assert (doc["lat"], doc["long"], doc["address"], doc["media_url"]) == (None,) * 4
    assert c.get(f"{V2}/requests/{offline}.json").status_code == 404

    # Token holders see everything they are entitled to.
    key = {"api_key": _key(hub)}
    full = {d["service_request_id"]: d for d in c.get(f"{V2}/requests.json", params=key).json()}
    assert set(full) == {str(lamp), str(camera), str(displaced), str(offline)}
    assert (full[str(camera)]["lat"], full[str(camera)]["address"]) == (CAMERA[0], "Kameragatan 7")
    assert SECRET_NOTE in full[str(lamp)]["status_notes"]
    ups = c.get(f"{V2}/servicerequestupdates.json", params=key).json()
    assert any(SECRET_NOTE in u["description"] for u in ups)
    assert c.get(f"{V2}/requests.json", params={"api_key": "tr_made_up"}).status_code == 403


def test_services_list_exactly_what_a_post_accepts(hub: Hub) -> None:
    key = _key(hub)
    listed = {s["service_code"] for s in hub.client.get(f"{V2}/services.json").json()}
    for svc in SERVICES:
        r = hub.client.post(
            f"{V2}/requests.json",
            data={"api_key": key, "service_code": svc.code, "lat": "59.36", "long": "18.0"},
        )
        assert (r.status_code == 201) == (svc.code in listed), (svc.code, r.text)
    assert "deviceOffline" not in listed


@contextmanager
def _statements(hub: Hub) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = hub.sessions.kw["bind"]

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _seed(hub: Hub, n: int) -> None:
    with hub.sessions.begin() as s:
        for i in range(n):
            t = service.new_ticket(
                s,
                kind=("lampOut", "cameraCovered", "graffiti")[i % 3],
                severity="minor",
                now=hub.clock.now(),
                actor="rules",
                source="rule",
                lat=59.36 + i * 1e-5,
                lon=18.0,
            )
            service.comment(s, ticket_id=t.id, author="anna", text=f"not {i}", now=hub.clock.now())
            service.comment(
                s, ticket_id=t.id, author="anna", text=f"pub {i}", now=hub.clock.now(), public=True
            )
            service.acknowledge(s, ticket_id=t.id, actor="anna", now=hub.clock.now(), note="x")


def _cost(hub: Hub, params: dict[str, str]) -> dict[str, int]:
    out = {}
    for path in ("requests.json", "requests.xml", "servicerequestupdates.json"):
        with _statements(hub) as seen:
            r = hub.client.get(f"{V2}/{path}", params=params)
            assert r.status_code == 200
        out[path] = len(seen)
    return out


def test_open311_lists_cost_the_same_statements_for_10_and_200_tickets(hub: Hub) -> None:
    key = {"api_key": _key(hub)}
    _seed(hub, 10)
    small = (_cost(hub, {}), _cost(hub, key))
    _seed(hub, 190)
    docs = hub.client.get(f"{V2}/requests.json").json()
    assert len(docs) > 100  # the public part of 200 tickets
    assert all(d["status_notes"].startswith("pub ") for d in docs)
    assert len(hub.client.get(f"{V2}/requests.json", params=key).json()) == 200
    large = (_cost(hub, {}), _cost(hub, key))
    assert large == small
    assert max(small[0].values()) <= 3
    assert max(small[1].values()) <= 5  # plus the key's look-up


# Every code point, lone surrogates included (hypothesis leaves them out unless told).
_ANY_TEXT = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.dictionaries(st.sampled_from(fmt.REQUEST_FIELDS), _ANY_TEXT), max_size=4))
def test_xml_is_well_formed_for_any_unicode_in_any_field(rows: list[dict[str, str]]) -> None:
    body = fmt.to_xml("service_requests", "request", rows)
    doc = ET.fromstring(body)
    assert len(doc) == len(rows)
    for el, row in zip(doc, rows, strict=True):
        for child in el:
            # The parser normalises CR to LF; everything else XML can carry arrives intact.
            want = fmt.xml_text(row[child.tag]).replace("\r\n", "\n").replace("\r", "\n")
            assert (child.text or "") == want


def test_stored_control_characters_do_not_break_the_feed(hub: Hub) -> None:
    # PostgreSQL text cannot hold NUL; every other C0 control and U+FFFF can be stored.
    nasty = "".join(chr(i) for i in range(1, 32)) + "\ufffe\uffff<&>]]>"
    tid = _ticket(hub, "graffiti", 59.3605, 18.0005, nasty)
    for params in ({}, {"api_key": _key(hub)}):
        r = hub.client.get(f"{V2}/requests.xml", params=params)
        (req,) = ET.fromstring(r.content)
        assert req.findtext("service_request_id") == str(tid)
        assert req.findtext("description") == fmt.xml_text(nasty)  # shown escaped
