"""Open311 GeoReport v2 round trips in JSON and XML, checked against the spec's field lists."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from hub import auth
from hub.db import CitizenContact, Ticket
from hub.open311 import contacts
from hub.open311.format import REQUEST_FIELDS, SERVICE_FIELDS, UPDATE_FIELDS
from hub.open311.services import SERVICES
from hub.tickets import INTERNAL_KINDS, TITLES
from tests.api.conftest import Hub, add_lamp, open_ticket

V2 = "/open311/v2"
CITIZEN = {
    "first_name": "Sara",
    "last_name": "Lindqvist",
    "email": "sara.lindqvist@example.se",
    "phone": "+46701234567",
}


def _key(hub: Hub) -> str:
    return auth.bootstrap_token(
        hub.sessions, name="fixmystreet", role="operator", scope="open311", now=hub.clock.now()
    )


def _xml_rows(resp: httpx.Response, root: str, item: str) -> list[dict[str, str]]:
    assert resp.headers["content-type"].startswith("text/xml")
    doc = ET.fromstring(resp.content)
    assert doc.tag == root
    rows = []
    for el in doc:
        assert el.tag == item
        rows.append({child.tag: child.text or "" for child in el})
    return rows


def _aware(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    assert dt.tzinfo is not None, text
    return dt


def _counts(hub: Hub) -> tuple[int, int]:
    with hub.sessions() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Ticket)) or 0),
            int(s.scalar(select(func.count()).select_from(CitizenContact)) or 0),
        )


def _post(hub: Hub, fmt: str, **form: str) -> httpx.Response:
    return hub.client.post(f"{V2}/requests.{fmt}", data=form)


def test_services_in_json_and_xml_list_what_citizens_may_report(hub: Hub) -> None:
    js = hub.client.get(f"{V2}/services.json").json()
    assert {s["service_code"] for s in js} == {s.code for s in SERVICES if s.citizen}
    assert {s["service_code"] for s in js} < set(TITLES)
    assert not INTERNAL_KINDS & {s["service_code"] for s in js}
    for svc in js:
        assert tuple(svc) == SERVICE_FIELDS
        assert svc["metadata"] is False
        assert svc["type"] == "realtime"
    assert next(s for s in js if s["service_code"] == "graffiti")["service_name"] == "Klotter"
    en = hub.client.get(f"{V2}/services.json?lang=en").json()
    assert next(s for s in en if s["service_code"] == "graffiti")["service_name"] == "Graffiti"
    rows = _xml_rows(hub.client.get(f"{V2}/services.xml"), "services", "service")
    assert [r["service_code"] for r in rows] == [s["service_code"] for s in js]
    assert all(tuple(r) == SERVICE_FIELDS for r in rows)
    assert rows[0]["metadata"] == "false"


def test_post_then_get_round_trips_without_personal_data(hub: Hub) -> None:
    key = _key(hub)
    add_lamp(hub.sessions, device="c0", site="centrum", lat=59.3601, lon=18.0001)
    form = {
        "api_key": key,
        "service_code": "graffiti",
        "lat": "59.3602",
        "long": "18.0003",
        "address_string": "Solnavägen 3",
        "description": "Klotter på busskuren",
        "media_url": "https://example.se/bild.jpg",
        **CITIZEN,
    }
    r = _post(hub, "json", **form)
    assert r.status_code == 201, r.text
    (created,) = r.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    rid = created["service_request_id"]
    r = _post(hub, "xml", **{**form, "description": "Mer klotter"})
    assert r.status_code == 201
    (created_xml,) = _xml_rows(r, "service_requests", "request")
    assert int(created_xml["service_request_id"]) == int(rid) + 1

    one = hub.client.get(f"{V2}/requests/{rid}.json")
    (doc,) = one.json()
    assert tuple(doc) == REQUEST_FIELDS
    assert doc["service_request_id"] == rid
    assert (doc["status"], doc["service_code"], doc["service_name"]) == (
        "open",
        "graffiti",
        "Klotter",
    )
    assert (doc["lat"], doc["long"]) == (59.3602, 18.0003)
    assert doc["address"] == "Solnavägen 3"
    assert doc["media_url"] == "https://example.se/bild.jpg"
    assert doc["agency_responsible"] == "Solna stad"
    requested = _aware(doc["requested_datetime"])
    assert requested == hub.clock.now()
    assert doc["requested_datetime"].endswith("+01:00")  # Stockholm in December
    assert _aware(doc["expected_datetime"]) > requested
    (xml_doc,) = _xml_rows(
        hub.client.get(f"{V2}/requests/{rid}.xml"), "service_requests", "request"
    )
    assert tuple(xml_doc) == REQUEST_FIELDS
    assert xml_doc["service_request_id"] == rid
    assert xml_doc["requested_datetime"] == doc["requested_datetime"]

    listing = [
        hub.client.get(f"{V2}/requests.json"),
        hub.client.get(f"{V2}/requests.xml"),
        hub.client.get(f"{V2}/requests.json?service_request_id={rid},{int(rid) + 1}"),
        one,
    ]
    for resp in listing:
        assert resp.status_code == 200
        for value in CITIZEN.values():
            assert value not in resp.text
    assert len(listing[0].json()) == 2
    with hub.sessions() as s:
        contact = s.scalars(
            select(CitizenContact).where(CitizenContact.ticket_id == int(rid))
        ).one()
        assert (contact.email, contact.phone, contact.last_name) == (
            CITIZEN["email"],
            CITIZEN["phone"],
            CITIZEN["last_name"],
        )
        ticket = s.get(Ticket, int(rid))
        assert ticket is not None
        assert ticket.source == "citizen"
        assert ticket.area == "centrum"  # the crew whose polygon holds the report
        for value in CITIZEN.values():
            assert value not in repr(ticket.evidence) + ticket.description


def test_malformed_posts_are_refused_with_open311_errors_and_change_nothing(hub: Hub) -> None:
    key = _key(hub)
    api_token = hub.operator
    good = {"api_key": key, "service_code": "graffiti", "lat": "59.36", "long": "18.0"}
    cases: list[tuple[dict[str, str], int, str]] = [
        ({k: v for k, v in good.items() if k != "api_key"}, 400, "api_key is required"),
        ({**good, "api_key": "wrong"}, 403, "invalid api_key"),
        ({**good, "api_key": api_token}, 403, "invalid api_key"),
        ({**good, "service_code": "unicorn"}, 404, "not open for reports"),
        ({**good, "service_code": "deviceOffline"}, 404, "not open for reports"),
        ({k: v for k, v in good.items() if k != "service_code"}, 400, "service_code is required"),
        ({k: v for k, v in good.items() if k != "lat"}, 400, "lat and long are required"),
        ({**good, "lat": "north"}, 400, "lat must be a number"),
        ({**good, "long": "181"}, 400, "long is out of range"),
        ({**good, "lat": "nan"}, 400, "lat is out of range"),
        ({**good, "email": "not-an-address"}, 400, "email is not a valid address"),
        ({**good, "media_url": "javascript:alert(1)"}, 400, "media_url must be an http(s) URL"),
        ({**good, "colour": "red"}, 400, "unknown field 'colour'"),
        ({**good, "description": "x" * 4001}, 400, "description is longer than 4000"),
        ({**good, "jurisdiction_id": "stockholm.se"}, 404, "unknown jurisdiction_id"),
    ]
    before = _counts(hub)
    for form, code, message in cases:
        r = _post(hub, "json", **form)
        assert r.status_code == code, (form, r.text)
        (err,) = r.json()
        assert err["code"] == code
        assert message in err["description"], (form, err)
        rx = _post(hub, "xml", **form)
        assert rx.status_code == code
        (xerr,) = _xml_rows(rx, "errors", "error")
        assert xerr["code"] == str(code)
        assert message in xerr["description"]
    r = hub.client.post(f"{V2}/requests.json", json=good)
    assert r.status_code == 400
    assert "x-www-form-urlencoded" in r.json()[0]["description"]
    r = hub.client.post(
        f"{V2}/requests.json",
        content=b"api_key=" + b"a" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b"service_code=graffiti&lat=59.36&long=18&description="
        for _ in range(20):
            yield b"a" * 8192

    r = hub.client.post(
        f"{V2}/requests.json",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert _counts(hub) == before


def test_query_window_filters_and_bad_parameters(hub: Hub) -> None:
    key = _key(hub)
    now = hub.clock.now()
    hub.clock.set(now - timedelta(days=100))
    assert (
        _post(hub, "json", api_key=key, service_code="binFull", lat="59.36", long="18").status_code
        == 201
    )
    hub.clock.set(now)
    r = _post(hub, "json", api_key=key, service_code="graffiti", lat="59.36", long="18")
    recent = r.json()[0]["service_request_id"]
    got = hub.client.get(f"{V2}/requests.json").json()
    assert [d["service_request_id"] for d in got] == [recent]  # the default is the last 90 days
    old_start = (now - timedelta(days=120)).isoformat()
    old_end = (now - timedelta(days=40)).isoformat()
    old = hub.client.get(
        f"{V2}/requests.json", params={"start_date": old_start, "end_date": old_end}
    )
    assert [d["service_code"] for d in old.json()] == ["binFull"]
    assert hub.client.get(f"{V2}/requests.json?service_code=binFull").json() == []
    assert len(hub.client.get(f"{V2}/requests.json?status=open").json()) == 1
    assert hub.client.get(f"{V2}/requests.json?status=closed").json() == []
    bad: list[tuple[dict[str, Any], str]] = [
        (
            {"start_date": (now - timedelta(days=91)).isoformat(), "end_date": now.isoformat()},
            "over 90 days",
        ),
        ({"start_date": "2026-12-01T10:00:00"}, "must include a timezone"),
        ({"end_date": "yesterday"}, "not an ISO 8601 datetime"),
        (
            {"start_date": now.isoformat(), "end_date": (now - timedelta(days=1)).isoformat()},
            "before start_date",
        ),
        ({"status": "pending"}, "status must be open, closed"),
        ({"service_code": "unicorn"}, "unknown service_code"),
        ({"service_request_id": "1,x"}, "comma-separated integers"),
    ]
    for params, message in bad:
        r = hub.client.get(f"{V2}/requests.json", params=params)
        assert r.status_code == 400, params
        assert message in r.json()[0]["description"], params
    r = hub.client.get(f"{V2}/requests/424242.xml")
    assert r.status_code == 404
    assert _xml_rows(r, "errors", "error")[0]["description"] == "no service request 424242"
    assert hub.client.get(f"{V2}/requests.yaml").status_code == 422


def test_updates_carry_fixmystreet_extended_statuses(hub: Hub) -> None:
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    tid = open_ticket(hub.sessions, hub.clock, asset)
    h = hub.h(hub.crew)
    hub.clock.advance(60)
    hub.client.post(f"/api/v1/tickets/{tid}/acknowledge", headers=h)
    hub.clock.advance(600)
    hub.client.post(f"/api/v1/tickets/{tid}/resolve", headers=h, json={"note": "Lampan bytt"})
    js = hub.client.get(f"{V2}/servicerequestupdates.json").json()
    assert [(u["service_request_id"], u["status"]) for u in js] == [
        (str(tid), "action_scheduled"),
        (str(tid), "fixed"),
    ]
    assert all(tuple(u) == UPDATE_FIELDS for u in js)
    assert [u["description"] for u in js] == ["", ""]  # crew notes are not for the public
    keyed = hub.client.get(f"{V2}/servicerequestupdates.json", params={"api_key": _key(hub)})
    assert keyed.json()[1]["description"] == "Lampan bytt"
    assert _aware(js[1]["updated_datetime"]) - _aware(js[0]["updated_datetime"]) == timedelta(
        minutes=10
    )
    xml = _xml_rows(
        hub.client.get(f"{V2}/servicerequestupdates.xml"),
        "service_requests_updates",
        "request_update",
    )
    assert [u["status"] for u in xml] == ["action_scheduled", "fixed"]
    (doc,) = hub.client.get(f"{V2}/requests/{tid}.json").json()
    assert (doc["status"], doc["status_notes"]) == ("closed", None)
    (doc,) = hub.client.get(f"{V2}/requests/{tid}.json", params={"api_key": _key(hub)}).json()
    assert (doc["status"], doc["status_notes"]) == ("closed", "Lampan bytt")


def test_personal_data_is_purged_after_retention(hub: Hub) -> None:
    key = _key(hub)
    ids = []
    for _ in range(2):
        r = _post(
            hub, "json", api_key=key, service_code="graffiti", lat="59.36", long="18", **CITIZEN
        )
        ids.append(int(r.json()[0]["service_request_id"]))
    hub.client.post(f"/api/v1/tickets/{ids[0]}/resolve", headers=hub.h(hub.operator))
    retention = timedelta(days=30)
    with hub.sessions.begin() as s:
        assert (
            contacts.purge(
                s, now=hub.clock.now() + retention - timedelta(minutes=1), retention=retention
            )
            == 0
        )
    with hub.sessions.begin() as s:
        assert contacts.purge(s, now=hub.clock.now() + retention, retention=retention) == 1
    with hub.sessions() as s:
        left = s.scalars(select(CitizenContact.ticket_id)).all()
        assert left == [ids[1]]  # the open ticket keeps its contact
        assert s.get(Ticket, ids[0]) is not None  # the ticket itself stays
