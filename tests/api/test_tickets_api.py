"""The ticket API against a real SQLite hub database: filters, actions, photos, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from sqlalchemy import func, select

from hub.db import Ticket, TicketHistory, TicketPhoto
from tests.api.conftest import Hub, add_lamp, open_ticket

CENTRUM = (59.3600, 18.0000)


def _png(size: int = 32) -> bytes:
    img = np.zeros((size, size, 3), np.uint8)
    img[:, : size // 2] = (0, 0, 255)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return bytes(buf)


def _seed(hub: Hub) -> dict[str, int]:
    """Three lamp tickets in centrum at growing distance, one in norr."""
    ids = {}
    for i, (name, dlat) in enumerate((("near", 0.0005), ("mid", 0.003), ("far", 0.009))):
        asset = add_lamp(
            hub.sessions, device=f"c{i}", site="centrum", lat=CENTRUM[0] + dlat, lon=CENTRUM[1]
        )
        ids[name] = open_ticket(
            hub.sessions, hub.clock, asset, "critical" if name == "far" else "minor"
        )
    asset = add_lamp(hub.sessions, device="n0", site="norr", lat=59.38, lon=18.01)
    ids["north"] = open_ticket(hub.sessions, hub.clock, asset)
    return ids


def _history_count(hub: Hub, ticket_id: int) -> int:
    with hub.sessions() as s:
        return int(s.scalar(select(func.count()).where(TicketHistory.ticket_id == ticket_id)) or 0)


def _status(hub: Hub, ticket_id: int) -> str:
    with hub.sessions() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        return t.status


def test_missing_wrong_and_revoked_tokens_are_401(hub: Hub) -> None:
    c = hub.client
    r = c.get("/api/v1/tickets")
    assert r.status_code == 401
    assert r.json()["detail"] == "missing bearer token"
    assert r.headers["www-authenticate"] == "Bearer"
    r = c.get("/api/v1/tickets", headers=hub.h("tr_not-a-token"))
    assert (r.status_code, r.json()["detail"]) == (401, "unknown token")
    me = c.get("/api/v1/me", headers=hub.h(hub.crew)).json()
    assert me == {"name": "anna", "role": "crew", "area": "centrum"}
    assert c.delete("/api/v1/session", headers=hub.h(hub.crew)).status_code == 204
    r = c.get("/api/v1/tickets", headers=hub.h(hub.crew))
    assert (r.status_code, r.json()["detail"]) == (401, "token revoked")


def test_crew_sees_and_touches_only_their_area(hub: Hub) -> None:
    ids = _seed(hub)
    c = hub.client
    crew = c.get("/api/v1/tickets", headers=hub.h(hub.crew)).json()
    assert {t["id"] for t in crew} == {ids["near"], ids["mid"], ids["far"]}
    assert {t["area"] for t in crew} == {"centrum"}
    everyone = c.get("/api/v1/tickets", headers=hub.h(hub.operator)).json()
    assert {t["id"] for t in everyone} == set(ids.values())
    r = c.get("/api/v1/tickets?area=norr", headers=hub.h(hub.crew))
    assert r.status_code == 403
    assert "own area" in r.json()["detail"]
    before = _history_count(hub, ids["north"])
    r = c.post(f"/api/v1/tickets/{ids['north']}/acknowledge", headers=hub.h(hub.crew))
    assert r.status_code == 403
    assert _status(hub, ids["north"]) == "new"
    assert _history_count(hub, ids["north"]) == before
    r = c.post(f"/api/v1/tickets/{ids['north']}/acknowledge", headers=hub.h(hub.crew_north))
    assert r.status_code == 200
    assert r.json()["status"] == "acknowledged"


def test_filters_sort_by_distance_and_paginate(hub: Hub) -> None:
    ids = _seed(hub)
    c, h = hub.client, hub.h(hub.operator)
    r = c.get(f"/api/v1/tickets?status=open&near={CENTRUM[0]},{CENTRUM[1]}&area=centrum", headers=h)
    assert r.status_code == 200
    got = r.json()
    assert [t["id"] for t in got] == [ids["near"], ids["mid"], ids["far"]]
    assert got[0]["distance_m"] < got[1]["distance_m"] < got[2]["distance_m"]
    assert 50 < got[0]["distance_m"] < 60  # 0.0005 deg of latitude is ~55.6 m
    page = c.get(f"/api/v1/tickets?near={CENTRUM[0]},{CENTRUM[1]}&limit=2&offset=2", headers=h)
    assert page.headers["x-total-count"] == "4"
    assert [t["id"] for t in page.json()] == [ids["far"], ids["north"]]
    prio = c.get("/api/v1/tickets?priority=1", headers=h).json()
    assert [t["id"] for t in prio] == [ids["far"]]
    box = c.get("/api/v1/tickets?bbox=17.99,59.355,18.005,59.3605", headers=h).json()
    assert [t["id"] for t in box] == [ids["near"]]
    assert c.get("/api/v1/tickets?kind=binFull", headers=h).json() == []
    c.post(f"/api/v1/tickets/{ids['mid']}/resolve", headers=h, json={"note": "bytt lampa"})
    still_open = c.get("/api/v1/tickets?status=open&area=centrum", headers=h).json()
    assert {t["id"] for t in still_open} == {ids["near"], ids["far"]}
    resolved = c.get("/api/v1/tickets?status=resolved", headers=h).json()
    assert [t["id"] for t in resolved] == [ids["mid"]]


def test_bad_filters_are_4xx_with_a_reason(hub: Hub) -> None:
    c, h = hub.client, hub.h(hub.operator)
    cases = {
        "status=bogus": (400, "unknown status 'bogus'"),
        "bbox=1,2,3": (400, "bbox needs four numbers"),
        "bbox=18,59,17,60": (400, "bbox must satisfy"),
        "bbox=a,b,c,d": (400, "bbox values must be numbers"),
        "near=59.3": (400, "near needs two numbers"),
        "near=95,18": (400, "near must be a valid lat,lon"),
    }
    for query, (code, reason) in cases.items():
        r = c.get(f"/api/v1/tickets?{query}", headers=h)
        assert r.status_code == code, query
        assert reason in r.json()["detail"], query
    for query in ("priority=9", "limit=0", "limit=501", "offset=-1"):
        r = c.get(f"/api/v1/tickets?{query}", headers=h)
        assert r.status_code == 422, query
        assert r.json()["detail"][0]["loc"][0] == "query"


def test_actions_and_invalid_transitions(hub: Hub) -> None:
    ids = _seed(hub)
    c, h = hub.client, hub.h(hub.crew)
    tid = ids["near"]
    r = c.post(f"/api/v1/tickets/{tid}/acknowledge", headers=h)
    assert (r.status_code, r.json()["status"]) == (200, "acknowledged")
    before = _history_count(hub, tid)
    r = c.post(f"/api/v1/tickets/{tid}/acknowledge", headers=h)
    assert r.status_code == 409
    assert r.json()["detail"] == "cannot acknowledge a ticket that is acknowledged"
    assert _history_count(hub, tid) == before
    assert c.post(f"/api/v1/tickets/{tid}/start", headers=h).json()["status"] == "in_progress"
    r = c.post(f"/api/v1/tickets/{tid}/comments", headers=h, json={"text": "Stege behövs"})
    assert r.status_code == 201
    r = c.post(f"/api/v1/tickets/{tid}/assign", headers=h, json={"assignee": "anna"})
    assert r.status_code == 403
    r = c.post(
        f"/api/v1/tickets/{tid}/assign", headers=hub.h(hub.operator), json={"assignee": "anna"}
    )
    assert r.json()["assignee"] == "anna"
    r = c.post(f"/api/v1/tickets/{tid}/resolve", headers=h, json={"note": "Ny armatur"})
    assert (r.status_code, r.json()["status"]) == (200, "resolved")
    before = _history_count(hub, tid)
    for action in ("resolve", "acknowledge", "start"):
        r = c.post(f"/api/v1/tickets/{tid}/{action}", headers=h)
        assert r.status_code == 409, action
        assert "resolved" in r.json()["detail"]
    r = c.post(f"/api/v1/tickets/{tid}/assign", headers=hub.h(hub.operator), json={"assignee": "x"})
    assert r.status_code == 409
    assert _history_count(hub, tid) == before
    detail = c.get(f"/api/v1/tickets/{tid}", headers=h).json()
    actions = [(x["action"], x["actor"], x["note"]) for x in detail["history"]]
    assert detail["comments"][0]["text"] == "Stege behövs"
    assert actions == [
        ("open", "rules", ""),
        ("assign", "rules", "crew-centrum"),
        ("acknowledge", "anna", ""),
        ("start", "anna", ""),
        ("comment", "anna", "Stege behövs"),
        ("assign", "olle", "anna"),
        ("resolve", "anna", "Ny armatur"),
    ]


def test_unknown_ids_and_bad_bodies(hub: Hub) -> None:
    ids = _seed(hub)
    c, h = hub.client, hub.h(hub.operator)
    history_before = _history_count(hub, ids["near"])
    r = c.post("/api/v1/tickets/999999/acknowledge", headers=h)
    assert (r.status_code, r.json()["detail"]) == (404, "no ticket 999999")
    assert c.get("/api/v1/tickets/0", headers=h).status_code == 422
    r = c.post(f"/api/v1/tickets/{ids['near']}/resolve", headers=h, json={"note": "x" * 2001})
    assert r.status_code == 422
    r = c.post(f"/api/v1/tickets/{ids['near']}/resolve", headers=h, json={"nope": 1})
    assert r.status_code == 422
    r = c.post(
        f"/api/v1/tickets/{ids['near']}/comments",
        headers={**h, "Content-Type": "application/json"},
        content=b'{"text": "' + b"a" * 70_000 + b'"}',
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]
    assert _status(hub, ids["near"]) == "new"
    assert _history_count(hub, ids["near"]) == history_before


def test_create_by_hand_with_photo_and_limits(hub: Hub) -> None:
    c, h = hub.client, hub.h(hub.crew)
    png = _png()
    form = {"kind": "graffiti", "lat": "59.361", "lon": "18.001", "description": "Tag på elskåp"}
    r = c.post(
        "/api/v1/tickets", headers=h, data=form, files={"photo": ("p.png", png, "image/png")}
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["kind"], t["status"], t["source"], t["area"]) == (
        "graffiti",
        "new",
        "crew",
        "centrum",
    )
    assert t["title"] == "Graffiti"
    detail = c.get(f"/api/v1/tickets/{t['id']}", headers=h).json()
    (photo,) = detail["photos"]
    assert (photo["content_type"], photo["uploaded_by"]) == ("image/png", "anna")
    got = c.get(f"/api/v1/tickets/{t['id']}/photos/{photo['id']}", headers=h)
    assert photo["size"] == len(got.content)
    # Stored encoded again (without metadata), with the same pixels.
    same = cv2.imdecode(np.frombuffer(got.content, np.uint8), cv2.IMREAD_COLOR)
    sent = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert same is not None
    assert sent is not None
    assert np.array_equal(same, sent)
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    # The other area's crew cannot see it.
    assert c.get(f"/api/v1/tickets/{t['id']}", headers=hub.h(hub.crew_north)).status_code == 403

    def count() -> tuple[int, int]:
        with hub.sessions() as s:
            return (
                int(s.scalar(select(func.count()).select_from(Ticket)) or 0),
                int(s.scalar(select(func.count()).select_from(TicketPhoto)) or 0),
            )

    before = count()
    r = c.post(
        "/api/v1/tickets", headers=h, data=form, files={"photo": ("p.png", b"hello", "image/png")}
    )
    assert r.status_code == 415
    assert "image/jpeg" in r.json()["detail"]
    big = png + b"\0" * (5 * 1024 * 1024)
    r = c.post(
        "/api/v1/tickets", headers=h, data=form, files={"photo": ("p.png", big, "image/png")}
    )
    assert r.status_code == 413
    r = c.post("/api/v1/tickets", headers=h, data={**form, "kind": "unicorn"})
    assert (r.status_code, r.json()["detail"][:20]) == (400, "unknown kind 'unicor")
    r = c.post("/api/v1/tickets", headers=h, data={**form, "asset_id": "no-such-asset"})
    assert (r.status_code, r.json()["detail"]) == (400, "no asset no-such-asset")
    r = c.post("/api/v1/tickets", headers=h, data={**form, "lat": "91"})
    assert r.status_code == 422
    assert count() == before


def test_openapi_is_published_with_versioned_paths_and_bearer_auth(hub: Hub) -> None:
    doc = hub.client.get("/openapi.json").json()
    paths = set(doc["paths"])
    assert {"/api/v1/tickets", "/api/v1/tickets/{ticket_id}/acknowledge"} <= paths
    assert {"/open311/v2/services.{form}", "/open311/v2/requests.{form}"} <= paths
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    post = doc["paths"]["/open311/v2/requests.{form}"]["post"]["requestBody"]["content"]
    assert "api_key" in post["application/x-www-form-urlencoded"]["schema"]["required"]
    assert (
        hub.client.get("/crew/").headers["content-security-policy"].startswith("default-src 'none'")
    )


def test_chunked_oversized_body_is_refused_while_streaming(hub: Hub) -> None:
    """No Content-Length: the limit is counted as the body arrives."""
    ids = _seed(hub)

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"a" * 8192
        yield b'"}'

    r = hub.client.post(
        f"/api/v1/tickets/{ids['near']}/comments",
        headers={**hub.h(hub.operator), "Content-Type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]
    detail = hub.client.get(f"/api/v1/tickets/{ids['near']}", headers=hub.h(hub.operator)).json()
    assert detail["comments"] == []
