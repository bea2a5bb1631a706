"""The partner API on SQLite and PostgreSQL: each partner sees its own places and nothing
else, every staff endpoint refuses a partner's token, every read leaves an audit row, and a
partner's report is signed with its organisation and refused outside its places."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from hub import audit, auth
from hub.api import create_app
from hub.db import Ticket, TicketHistory
from tests.api.conftest import Hub
from tests.api.partner_world import World, build

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(sql_url: str) -> str:
    return sql_url


@pytest.fixture
def world(hub: Hub) -> World:
    return build(hub.sessions, hub.clock)


def _tickets(hub: Hub) -> int:
    with hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Ticket)) or 0)


def test_each_partner_sees_its_own_place_and_nothing_else(hub: Hub, world: World) -> None:
    c = hub.client
    for token, mine, other, ticket, not_mine, lamp in (
        (world.centre, "Torget", "Stationen", world.torget_ticket, world.station_ticket,
         world.torget_lamp),
        (world.police, "Stationen", "Torget", world.station_ticket, world.torget_ticket,
         world.station_lamp),
    ):  # fmt: skip
        h = hub.h(token)
        assert c.get("/api/v1/partner/me", headers=h).json()["places"] == [mine]
        assert [p["name"] for p in c.get("/api/v1/partner/places", headers=h).json()] == [mine]
        assert c.get(f"/api/v1/partner/places/{mine}", headers=h).status_code == 200
        tickets = c.get(f"/api/v1/partner/places/{mine}/tickets", headers=h).json()
        assert [t["id"] for t in tickets] == [ticket]
        assert not_mine not in [t["id"] for t in tickets]
        assets = c.get(f"/api/v1/partner/places/{mine}/assets", headers=h).json()
        assert [(a["id"], [x["type"] for x in a["alarms"]]) for a in assets] == [
            (lamp, ["lampOut"])
        ]
        for path in ("", "/tickets", "/assets", "/figures?period=2026-03"):
            # Another partner's place and a place nobody has answer alike.
            assert c.get(f"/api/v1/partner/places/{other}{path}", headers=h).status_code == 404
            assert c.get(f"/api/v1/partner/places/Nowhere{path}", headers=h).status_code == 404


def test_every_staff_endpoint_refuses_a_partner(hub: Hub, world: World) -> None:
    paths = create_app(sessions=hub.sessions, clock=hub.clock).openapi()["paths"]
    routes = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, ops in paths.items()
        if path.startswith("/api/v1/") and not path.startswith("/api/v1/partner/")
        for method in sorted(ops)
        if (method, path) != ("post", "/api/v1/session")
    ]
    assert len(routes) > 30
    for method, path in routes:
        r = hub.client.request(method, path, json={}, headers=hub.h(world.centre))
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    # Open311 with a partner's token: refused, not the token's "full view".
    for params in ({}, {"api_key": world.centre}):
        headers = hub.h(world.centre) if not params else {}
        r = hub.client.get("/open311/v2/requests.json", params=params, headers=headers)
        assert r.status_code == 403
    # And the other way round: staff tokens do not open the partner API.
    for token in (hub.crew, hub.operator, hub.admin):
        assert hub.client.get("/api/v1/partner/me", headers=hub.h(token)).status_code == 403


def test_every_partner_read_is_audited(hub: Hub, world: World) -> None:
    c, h = hub.client, hub.h(world.centre)
    with hub.sessions() as s:
        before = len(audit.entries(s, action="partner.read", limit=1000))
    c.get("/api/v1/partner/places/Torget/tickets", headers=h)
    c.get("/api/v1/partner/places/Torget/assets", headers=h)
    c.get("/api/v1/partner/places/Torget/figures", params={"period": "2026-03"}, headers=h)
    c.get("/api/v1/partner/places/Stationen/tickets", headers=h)  # refused: no read
    with hub.sessions() as s:
        rows = audit.entries(s, action="partner.read", limit=1000)
    fresh = rows[: len(rows) - before]
    assert [(e.actor, e.target, (e.after or {})["what"]) for e in reversed(fresh)] == [
        ("vera", "place:Torget", "tickets"),
        ("vera", "place:Torget", "assets"),
        ("vera", "place:Torget", "figures 2026-03"),
    ]
    assert all((e.after or {})["partner"] == "Centrumägarna" for e in fresh)


def test_figures_are_the_follow_up_report_of_the_place(hub: Hub, world: World) -> None:
    h = hub.h(world.centre)
    url = "/api/v1/partner/places/Torget/figures"
    got = hub.client.get(url, params={"period": "2026-12"}, headers=h)
    assert got.status_code == 200, got.text
    staff = hub.client.get(
        "/api/v1/followup/report",
        params={"period": "2026-12", "place": "Torget"},
        headers=hub.h(hub.operator),
    )
    assert got.json() == staff.json()
    current = got.json()["current"]
    assert (got.json()["place"], current["period"]) == ("Torget", "2026-12")
    # Torget's one lamp ticket counts; Stationen's does not.
    assert [(r["kind"], r["opened"]) for r in current["repairs"]] == [("lampOut", 1)]
    assert hub.client.get(url, params={"period": "2026-13"}, headers=h).status_code == 400


def test_a_partner_reports_a_problem_signed_and_only_at_its_place(hub: Hub, world: World) -> None:
    c, h = hub.client, hub.h(world.centre)
    url = "/api/v1/partner/places/Torget/reports"
    body = {"kind": "graffiti", "lat": 59.3625, "lon": 18.004, "description": "Klotter på bänken"}
    r = c.post(url, json=body, headers=h)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["ours"] is True
    assert made["description"] == "Klotter på bänken"
    with hub.sessions() as s:
        t = s.get(Ticket, made["id"])
        assert t is not None
        assert (t.source, t.evidence["partner"]) == ("partner", "Centrumägarna")
        opened = s.scalars(
            select(TicketHistory.actor).where(
                TicketHistory.ticket_id == t.id, TicketHistory.action == "open"
            )
        ).one()
        assert opened == "vera (Centrumägarna)"
        [entry] = audit.entries(s, action="partner.report")
        assert (entry.actor, entry.target) == ("vera", "place:Torget")
    # The other partner does not see it; the crew of the area does.
    police = c.get("/api/v1/partner/places/Stationen/tickets", headers=hub.h(world.police))
    assert made["id"] not in [t["id"] for t in police.json()]
    assert c.get(f"/api/v1/tickets/{made['id']}", headers=hub.h(hub.crew)).status_code == 200

    count = _tickets(hub)
    refused = [
        (url, {**body, "lat": 59.367, "lon": 18.015}, 400),  # at Stationen
        (url, {**body, "kind": "cameraBlurred"}, 400),  # a kind only devices raise
        (url, {**body, "kind": "nonsense"}, 400),
        (url, {**body, "asset_id": world.station_lamp}, 400),
        (url, {**body, "extra": 1}, 422),
        ("/api/v1/partner/places/Stationen/reports", {**body, "lat": 59.367, "lon": 18.015}, 404),
    ]
    for target, bad, status in refused:
        r = c.post(target, json=bad, headers=h)
        assert r.status_code == status, (bad, r.text)
    assert _tickets(hub) == count


def test_no_citizen_contact_or_text_reaches_a_partner(hub: Hub, world: World) -> None:
    key = auth.bootstrap_token(
        hub.sessions, name="fixmystreet", role="operator", scope="open311", now=hub.clock.now()
    )
    citizen = {
        "api_key": key, "service_code": "graffiti", "lat": "59.3621", "long": "18.0061",
        "description": "Klotter, ring mig på 0701234567", "first_name": "Sara",
        "last_name": "Lindqvist", "email": "sara.lindqvist@example.se", "phone": "+46701234567",
    }  # fmt: skip
    r = hub.client.post("/open311/v2/requests.json", data=citizen)
    assert r.status_code == 201, r.text
    rid = int(r.json()[0]["service_request_id"])
    got = hub.client.get("/api/v1/partner/places/Torget/tickets", headers=hub.h(world.centre))
    assert rid in [t["id"] for t in got.json()]
    text = json.dumps(got.json())
    for secret in ("Sara", "Lindqvist", "example.se", "0701234567", "46701234567", "crew-"):
        assert secret not in text


def test_admins_manage_partners_and_every_change_is_audited(hub: Hub, world: World) -> None:
    c, h = hub.client, hub.h(hub.admin)
    org = "/api/v1/partners/Väktarna"
    steps = [
        ("POST", org, {"kind": "security"}, hub.h(hub.operator), 403),
        ("POST", org, {"kind": "pirates"}, h, 400),
        ("POST", org, {"kind": "security"}, h, 201),
        ("POST", org, {"kind": "security"}, h, 400),  # taken
        ("PUT", f"{org}/places/Nowhere", None, h, 404),
        ("PUT", f"{org}/places/Torget", None, h, 200),
        ("POST", f"{org}/users", {"name": "vakt1", "password": "hemligt-1"}, h, 201),
        ("POST", "/api/v1/partners/Nobody/users", {"name": "x1"}, h, 404),
        ("POST", f"{org}/users", {"name": "vakt1"}, h, 400),  # taken
    ]
    for method, url, body, headers, status in steps:
        r = c.request(method, url, json=body, headers=headers)
        assert r.status_code == status, (method, url, body, r.text)
    listed = {o["name"]: o for o in c.get("/api/v1/partners", headers=h).json()}
    assert listed["Väktarna"] == {
        "name": "Väktarna", "kind": "security", "places": ["Torget"], "users": ["vakt1"],
    }  # fmt: skip

    # The new user logs in, sees Torget, logs out.
    login = c.post("/api/v1/session", json={"username": "vakt1", "password": "hemligt-1"})
    token = login.json()["token"]
    assert c.get("/api/v1/partner/me", headers=hub.h(token)).json() == {
        "name": "vakt1", "organisation": "Väktarna", "places": ["Torget"],
    }  # fmt: skip
    assert c.delete("/api/v1/partner/session", headers=hub.h(token)).status_code == 204
    assert c.get("/api/v1/partner/me", headers=hub.h(token)).status_code == 401

    # Unlinking the place hides it; removing the organisation disables its users.
    assert c.delete("/api/v1/partners/Väktarna/places/Torget", headers=h).json()["places"] == []
    assert c.delete("/api/v1/partners/Väktarna", headers=h).status_code == 204
    assert c.delete("/api/v1/partners/Väktarna", headers=h).status_code == 404
    again = c.post("/api/v1/session", json={"username": "vakt1", "password": "hemligt-1"})
    assert again.status_code == 401
    with hub.sessions() as s:
        actions = [e.action for e in audit.entries(s, target="partner:Väktarna")]
    assert actions == [
        "partner.remove", "partner.place.remove", "partner.read", "partner.user.add",
        "partner.place.add", "partner.add",
    ]  # fmt: skip


def test_a_removed_place_leaves_its_partner_with_nothing(hub: Hub, world: World) -> None:
    assert hub.client.delete("/api/v1/places/Torget", headers=hub.h(hub.admin)).status_code == 204
    h = hub.h(world.centre)
    assert hub.client.get("/api/v1/partner/me", headers=h).json()["places"] == []
    assert hub.client.get("/api/v1/partner/places/Torget", headers=h).status_code == 404
