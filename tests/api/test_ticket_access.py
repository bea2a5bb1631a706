"""Every path that reads or changes a ticket asks the same rule (hub.access): a crew sees
and touches only its own area's tickets. Against a real SQLite database (and PostgreSQL in
test_public_surfaces_postgres.py)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from sqlalchemy import func, select

from hub.db import Ticket, TicketComment, TicketHistory, TicketPhoto
from tests.api.conftest import Hub, add_lamp, open_ticket

V2 = "/open311/v2"


def _png() -> bytes:
    ok, buf = cv2.imencode(".png", np.full((8, 8, 3), 200, np.uint8))
    assert ok
    return bytes(buf)


def _snapshot(hub: Hub, tid: int) -> tuple[Any, ...]:
    with hub.sessions() as s:
        t = s.get(Ticket, tid)
        assert t is not None
        return (
            t.status,
            t.alarm_count,
            t.assignee,
            t.updated_at,
            s.scalar(select(func.count()).where(TicketHistory.ticket_id == tid)),
            s.scalar(select(func.count()).where(TicketComment.ticket_id == tid)),
            s.scalar(select(func.count()).where(TicketPhoto.ticket_id == tid)),
        )


def test_crew_report_on_another_areas_asset_does_not_reach_its_ticket(hub: Hub) -> None:
    asset = add_lamp(hub.sessions, device="n0", site="norr", lat=59.38, lon=18.01)
    north = open_ticket(hub.sessions, hub.clock, asset)
    with hub.sessions.begin() as s:
        t = s.get(Ticket, north)
        assert t is not None
        t.description = "Boende: Per Svensson, tel 070-1234567, portkod 4711"
    before = _snapshot(hub, north)
    form = {"kind": "lampOut", "lat": "59.361", "lon": "18.001", "asset_id": asset}
    r = hub.client.post(
        "/api/v1/tickets",
        headers=hub.h(hub.crew),
        data={**form, "description": "Lampan är släckt"},
        files={"photo": ("p.png", _png(), "image/png")},
    )
    assert r.status_code == 201, r.text  # a ticket of the reporter's own, not the merge
    mine = r.json()
    assert mine["id"] != north
    assert "070-1234567" not in r.text
    assert _snapshot(hub, north) == before
    # The crew that owns the area still merges its own reports into the open ticket.
    hub.clock.advance(60)
    r = hub.client.post(
        "/api/v1/tickets", headers=hub.h(hub.crew_north), data={**form, "description": "igen"}
    )
    assert (r.status_code, r.json()["id"]) == (200, north)


def test_every_ticket_route_refuses_another_areas_crew(hub: Hub) -> None:
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    tid = open_ticket(hub.sessions, hub.clock, asset)
    png = _png()
    r = hub.client.post(
        f"/api/v1/tickets/{tid}/photos",
        headers=hub.h(hub.crew),
        files={"photo": ("p.png", png, "image/png")},
    )
    assert r.status_code == 201
    photo_id = r.json()["id"]
    before = _snapshot(hub, tid)
    other = hub.h(hub.crew_north)
    c = hub.client
    calls = [
        c.get(f"/api/v1/tickets/{tid}", headers=other),
        c.get(f"/api/v1/tickets/{tid}/photos/{photo_id}", headers=other),
        c.post(f"/api/v1/tickets/{tid}/acknowledge", headers=other),
        c.post(f"/api/v1/tickets/{tid}/start", headers=other),
        c.post(f"/api/v1/tickets/{tid}/resolve", headers=other, json={"note": "x"}),
        c.post(f"/api/v1/tickets/{tid}/comments", headers=other, json={"text": "x"}),
        c.post(
            f"/api/v1/tickets/{tid}/photos",
            headers=other,
            files={"photo": ("p.png", png, "image/png")},
        ),
    ]
    assert [r.status_code for r in calls] == [403] * len(calls)
    assert tid not in {t["id"] for t in c.get("/api/v1/tickets", headers=other).json()}
    # Open311 with the other crew's token: neither listed nor found by id.
    listed = c.get(f"{V2}/requests.json", headers=other).json()
    assert str(tid) not in {d["service_request_id"] for d in listed}
    assert c.get(f"{V2}/requests/{tid}.json", headers=other).status_code == 404
    assert c.get(f"{V2}/requests.json?service_request_id={tid}", headers=other).json() == []
    updates = c.get(f"{V2}/servicerequestupdates.json", headers=other).json()
    assert str(tid) not in {u["service_request_id"] for u in updates}
    assert _snapshot(hub, tid) == before
    # The owning crew and an operator see it everywhere.
    for token in (hub.crew, hub.operator):
        h = hub.h(token)
        assert c.get(f"/api/v1/tickets/{tid}", headers=h).status_code == 200
        assert c.get(f"{V2}/requests/{tid}.json", headers=h).status_code == 200
        assert tid in {t["id"] for t in c.get("/api/v1/tickets", headers=h).json()}
