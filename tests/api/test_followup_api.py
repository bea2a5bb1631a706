"""Places and the follow-up report over HTTP: roles, refusals and the stored figures."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from hub.db import Asset
from hub.devices import register
from hub.followup.hours import HOUR_MS, HourRow
from hub.followup.periods import parse_period
from hub.followup.store import replace_hours
from tests.api.conftest import Hub

BOX: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [[[18.0, 59.36], [18.01, 59.36], [18.01, 59.37], [18.0, 59.37], [18.0, 59.36]]],
}
MARCH = parse_period("2026-03")


def _history(hub: Hub) -> None:
    register(hub.sessions, [("pole-1", "centrum")])
    h = MARCH.start_ms
    rows = [
        HourRow("in", "streetlight", "centrum", h, "lamp", "litDark", seconds=3600.0),
        HourRow("out", "streetlight", "centrum", h, "lamp", "unlitDark", seconds=3600.0),
    ]
    with hub.sessions.begin() as s:
        s.add(Asset(id="in", device_id="pole-1", kind="streetlight", lat=59.365, lon=18.005))
        s.add(Asset(id="out", device_id="pole-1", kind="streetlight", lat=59.40, lon=18.005))
        replace_hours(s, start_ms=h, end_ms=h + HOUR_MS, rows=rows)


def test_admin_makes_a_place_operator_reads_it_crew_may_not(hub: Hub) -> None:
    c = hub.client
    _history(hub)
    body = {"kind": "square", "geometry": BOX}
    assert c.put("/api/v1/places/Torget", json=body, headers=hub.h(hub.operator)).status_code == 403
    r = c.put("/api/v1/places/Torget", json=body, headers=hub.h(hub.admin))
    assert r.status_code == 200, r.text
    assert r.json()["assets"] == ["in"]
    assert c.get("/api/v1/places", headers=hub.h(hub.crew)).status_code == 403
    listed = c.get("/api/v1/places", headers=hub.h(hub.operator)).json()
    assert [p["name"] for p in listed] == ["Torget"]
    assert c.get("/api/v1/places/Nowhere", headers=hub.h(hub.operator)).status_code == 404
    assert c.delete("/api/v1/places/Torget", headers=hub.h(hub.admin)).status_code == 204
    assert c.delete("/api/v1/places/Torget", headers=hub.h(hub.admin)).status_code == 404


def test_a_bad_place_is_refused_and_nothing_stored(hub: Hub) -> None:
    c = hub.client
    bad = {"kind": "square", "geometry": {"type": "Point", "coordinates": [18, 59]}}
    r = c.put("/api/v1/places/Torget", json=bad, headers=hub.h(hub.admin))
    assert r.status_code == 400
    assert "Polygon" in r.json()["detail"]
    assert c.get("/api/v1/places", headers=hub.h(hub.operator)).json() == []


def test_report_for_the_city_and_for_a_place(hub: Hub) -> None:
    c = hub.client
    _history(hub)
    c.put(
        "/api/v1/places/Torget", json={"kind": "square", "geometry": BOX}, headers=hub.h(hub.admin)
    )
    url = "/api/v1/followup/report"
    city = c.get(url, params={"period": "2026-03"}, headers=hub.h(hub.operator)).json()
    assert city["current"]["lighting"]["availability"] == 0.5
    assert city["current"]["hours"] == 743
    assert city["previous"]["period"] == "2026-02"
    at = c.get(url, params={"period": "2026-03", "place": "Torget"}, headers=hub.h(hub.operator))
    assert at.json()["place"] == "Torget"
    assert at.json()["current"]["lighting"]["availability"] == 1.0
    assert c.get(url, params={"period": "2026-13"}, headers=hub.h(hub.operator)).status_code == 400
    nowhere = {"period": "2026-03", "place": "Nowhere"}
    assert c.get(url, params=nowhere, headers=hub.h(hub.operator)).status_code == 404
    assert c.get(url, params={"period": "2026-03"}, headers=hub.h(hub.crew)).status_code == 403


def test_report_in_every_format(hub: Hub) -> None:
    c = hub.client
    _history(hub)
    url = "/api/v1/followup/report"
    for fmt, media, start in (
        ("csv", "text/csv", b"table,"),
        ("html", "text/html", b"<!doctype html>"),
        ("pdf", "application/pdf", b"%PDF-"),
        ("xlsx", "application/vnd.openxmlformats", b"PK"),
    ):
        got = c.get(url, params={"period": "2026-03", "format": fmt}, headers=hub.h(hub.operator))
        assert got.status_code == 200, fmt
        assert got.headers["content-type"].startswith(media)
        assert got.content.startswith(start)
        assert "followup-2026-03" in got.headers["content-disposition"]
    wb = load_workbook(
        io.BytesIO(
            c.get(
                url,
                params={"period": "2026-03", "format": "xlsx", "lang": "en"},
                headers=hub.h(hub.operator),
            ).content
        )
    )
    assert wb.worksheets[0]["B3"].value == 0.5
    bad = {"period": "2026-03", "format": "doc"}
    assert c.get(url, params=bad, headers=hub.h(hub.operator)).status_code == 422
