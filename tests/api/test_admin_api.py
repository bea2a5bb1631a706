"""The admin API: unregistered devices for operators; registry, crews and audit for admins."""

from __future__ import annotations

import json

from hub import registry
from hub.strangers import Stranger
from tests.admin.test_crew_geojson import SQUARE, collection, feature
from tests.api.conftest import Hub


def test_unregistered_devices_are_listed_for_operators_and_registered_by_admins(hub: Hub) -> None:
    with hub.sessions.begin() as s:
        registry.record_strangers(
            s,
            {
                "pole-s1": Stranger(
                    count=4, claims={"site": "solna-centrum", "assets": []}, blocked=False
                ),
                "pole-s2": Stranger(count=1, claims=None, blocked=False),
            },
            now=hub.clock.now(),
        )
    assert (
        hub.client.get("/api/v1/devices/unregistered", headers=hub.h(hub.crew)).status_code == 403
    )
    rows = hub.client.get("/api/v1/devices/unregistered", headers=hub.h(hub.operator)).json()
    assert {r["id"]: (r["count"], r["claims"].get("site")) for r in rows} == {
        "pole-s1": (4, "solna-centrum"),
        "pole-s2": (1, None),
    }
    body = {"id": "pole-s1", "site": "solna-centrum"}
    assert (
        hub.client.post("/api/v1/admin/devices", json=body, headers=hub.h(hub.operator)).status_code
        == 403
    )
    r = hub.client.post("/api/v1/admin/devices", json=body, headers=hub.h(hub.admin))
    assert r.status_code == 201, r.text
    assert r.json() == {
        "id": "pole-s1",
        "site": "solna-centrum",
        "device_class": "pole",
        "retired": False,
    }
    again = hub.client.post("/api/v1/admin/devices", json=body, headers=hub.h(hub.admin))
    assert again.status_code == 400
    assert "already registered" in again.json()["detail"]
    r = hub.client.post("/api/v1/admin/devices/pole-s2/block", headers=hub.h(hub.admin))
    assert r.status_code == 200, r.text
    rows = hub.client.get("/api/v1/devices/unregistered", headers=hub.h(hub.operator)).json()
    assert [(r["id"], r["blocked"]) for r in rows] == [("pole-s2", True)]
    assert hub.client.get("/api/v1/devices/pole-s1", headers=hub.h(hub.operator)).status_code == 200
    trail = hub.client.get("/api/v1/admin/audit", headers=hub.h(hub.admin)).json()
    assert [(e["actor"], e["action"], e["target"]) for e in trail] == [
        ("ada", "device.block", "pole-s2"),
        ("ada", "device.register", "pole-s1"),
    ]


def test_registry_refusals_are_400_or_404_and_change_nothing(hub: Hub) -> None:
    admin = hub.h(hub.admin)
    bad = hub.client.post(
        "/api/v1/admin/devices", json={"id": "Pole 1", "site": "x"}, headers=admin
    )
    assert bad.status_code == 422
    missing = hub.client.post(
        "/api/v1/admin/devices/pole-zz/move", json={"site": "y"}, headers=admin
    )
    assert missing.status_code == 404
    unblock = hub.client.post("/api/v1/admin/devices/pole-zz/unblock", headers=admin)
    assert (unblock.status_code, unblock.json()["detail"]) == (
        400,
        "device 'pole-zz' is not blocked",
    )
    assert hub.client.get("/api/v1/admin/audit", headers=admin).json() == []


def test_crews_are_imported_from_geojson_and_bad_geojson_is_refused(hub: Hub) -> None:
    admin = hub.h(hub.admin)
    doc = json.loads(collection(feature({"id": "crew-x", "area": "x", "rank": 1})))
    r = hub.client.post("/api/v1/admin/crews", json=doc, headers=admin)
    assert r.json() == {"created": 1, "updated": 0, "unchanged": 0}
    assert hub.client.post("/api/v1/admin/crews", json=doc, headers=admin).json()["unchanged"] == 1
    bad = json.loads(
        collection(
            feature(
                {"id": "crew-y", "area": "y"}, {"type": "Polygon", "coordinates": [SQUARE[:-1]]}
            )
        )
    )
    r = hub.client.post("/api/v1/admin/crews", json=bad, headers=admin)
    assert r.status_code == 400
    assert "must be closed" in r.json()["detail"]
    crews = hub.client.get("/api/v1/admin/crews", headers=admin).json()
    assert "crew-y" not in {c["id"] for c in crews}
    assert {"crew-x", "crew-centrum", "crew-norr"} <= {c["id"] for c in crews}


def test_user_changes_through_the_api_are_audited(hub: Hub) -> None:
    admin = hub.h(hub.admin)
    r = hub.client.post("/api/v1/users", json={"name": "per", "role": "operator"}, headers=admin)
    assert r.status_code == 201
    uid = r.json()["id"]
    assert hub.client.post(f"/api/v1/users/{uid}/tokens", json={}, headers=admin).status_code == 201
    assert hub.client.delete(f"/api/v1/users/{uid}", headers=admin).status_code == 204
    trail = hub.client.get(
        "/api/v1/admin/audit", params={"target": "user:per"}, headers=admin
    ).json()
    assert [e["action"] for e in trail] == ["user.disable", "user.token", "user.add"]
