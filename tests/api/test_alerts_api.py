"""Events through the API and the CLI (validated, Stockholm times, unknown zones refused),
and the alerts API: list, acknowledge, resolve and the server-sent event stream."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.alerts import store
from hub.alerts.events import Bus
from hub.alerts.model import AlertRaise
from hub.api import create_app
from hub.db import Asset, Device
from tests.api.conftest import ROOMY, Hub, serve
from trygg import cli

ZONE = "arena-n-crowd0"
EVENT: dict[str, Any] = {
    "name": "Derby",
    "place": "Strawberry Arena",
    "zones": [ZONE],
    "expectedAttendance": 50000,
    "phases": [
        {"name": "ingress", "start": "2026-03-29T01:00", "end": "2026-03-29T01:59"},
        {
            "name": "egress",
            "start": "2026-03-29T03:00",
            "end": "2026-03-29T04:00",
            "thresholdFactor": 0.8,
            "durationFactor": 0.5,
        },
    ],
}


@pytest.fixture
def zoned(hub: Hub) -> Hub:
    with hub.sessions.begin() as s:
        s.add(Device(id="arena-n", site="arena", above={"seqs": []}))
        s.flush()
        s.add(
            Asset(
                id=ZONE,
                device_id="arena-n",
                kind="crowd",
                lat=59.373,
                lon=18.0,
                address="Arenan norr",
                properties={"zoneArea": 100.0},
            )
        )
    return hub


def test_events_api_validates_and_converts_stockholm_time(zoned: Hub) -> None:
    h, c = zoned.h(zoned.operator), zoned.client
    assert c.post("/api/v1/events", json=EVENT).status_code == 401
    assert c.post("/api/v1/events", json=EVENT, headers=zoned.h(zoned.crew)).status_code == 403
    r = c.post("/api/v1/events", json=EVENT, headers=h)
    assert r.status_code == 201, r.text
    # 03:00 on the day summer time starts is 01:00 UTC; 01:00 is still winter time, 00:00 UTC
    assert [p["start"] for p in r.json()["phases"]] == [
        "2026-03-29T00:00:00Z",
        "2026-03-29T01:00:00Z",
    ]
    assert c.post("/api/v1/events", json=EVENT, headers=h).status_code == 409
    skipped = {
        **EVENT,
        "name": "Night",
        "phases": [{**EVENT["phases"][0], "end": "2026-03-29T02:30"}],
    }
    r = c.post("/api/v1/events", json=skipped, headers=h)
    assert r.status_code == 400
    assert "does not exist" in r.json()["detail"]
    unknown = {**EVENT, "name": "Other", "zones": ["nowhere-crowd0"]}
    assert c.post("/api/v1/events", json=unknown, headers=h).status_code == 400
    extra = {**EVENT, "name": "Extra", "colour": "red"}
    assert c.post("/api/v1/events", json=extra, headers=h).status_code == 422
    loose = {**EVENT, "phases": [{**EVENT["phases"][0], "thresholdFactor": 1.5}]}
    assert c.put("/api/v1/events/Derby", json=loose, headers=h).status_code == 422
    changed = {**EVENT, "expectedAttendance": 40000}
    assert c.put("/api/v1/events/Derby", json=changed, headers=h).status_code == 200
    assert c.get("/api/v1/events/Derby", headers=h).json()["expectedAttendance"] == 40000
    assert [e["name"] for e in c.get("/api/v1/events", headers=h).json()] == ["Derby"]
    zones = c.get("/api/v1/events/Derby/zones", headers=h).json()
    assert [(z["zone"], z["name"], z["figures"]) for z in zones] == [(ZONE, "Arenan norr", {})]
    assert c.delete("/api/v1/events/Derby", headers=h).status_code == 204
    assert c.get("/api/v1/events/Derby", headers=h).status_code == 404


def test_events_cli(zoned: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["events", "--database-url", str(zoned.sessions.kw["bind"].url)]
    add = [
        *db,
        "add",
        "--name=Konsert",
        "--place=Strawberry Arena",
        f"--zone={ZONE}",
        "--attendance=30000",
        "--phase=event=2026-10-25T01:00/2026-10-25T01:45",
        "--phase=egress=2026-10-25T03:00/2026-10-25T04:00,threshold=0.8",
    ]
    ambiguous = [a.replace("T01:45", "T02:15") for a in add]
    assert cli.main(ambiguous) == 2  # 02:15 happens twice the night summer time ends
    assert "happens twice" in capsys.readouterr().err
    assert cli.main(add) == 0
    assert cli.main(add) == 2  # exists
    assert cli.main([*db, "show", "Konsert"]) == 0
    shown = capsys.readouterr().out
    assert json.loads(shown[shown.index("{") :])["phases"][1]["thresholdFactor"] == 0.8
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: Fel\nplace: x\nzones: [" + ZONE + "]\nexpectedAttendance: -1\nphases: []\n"
    )
    assert cli.main([*db, "load", str(bad)]) == 2
    assert "expectedAttendance" in capsys.readouterr().err
    good = tmp_path / "events.yaml"
    good.write_text(
        "- name: Fair\n  place: Solna centrum\n  zones: ["
        + ZONE
        + "]\n  expectedAttendance: 5000\n"
        "  phases:\n  - {name: event, start: '2026-06-06T10:00', end: '2026-06-06T18:00'}\n"
    )
    assert cli.main([*db, "load", str(good)]) == 0
    assert cli.main([*db, "list"]) == 0
    listed = capsys.readouterr().out
    assert "Fair\tSolna centrum" in listed
    assert "Konsert\tStrawberry Arena" in listed
    assert "event 2026-06-06 08:00Z" in listed  # summer time: UTC+2
    assert cli.main([*db, "remove", "Fair"]) == 0
    assert cli.main([*db, "remove", "Fair"]) == 1


def test_alerts_api_list_acknowledge_resolve_and_stream(zoned: Hub) -> None:
    h, c = zoned.h(zoned.operator), zoned.client
    now = zoned.clock.now()
    with zoned.sessions.begin() as s:
        raised = store.apply(
            s,
            [AlertRaise(ZONE, "crowdOverCapacity", "Severe", {"occupancy": 1.2})],
            now=now,
            where={ZONE: store.Where("Strawberry Arena", None)},
        )
    [alert] = raised
    assert c.get("/api/v1/alerts", headers=zoned.h(zoned.crew)).status_code == 403
    listed = c.get("/api/v1/alerts", headers=h).json()
    assert listed == [alert.to_json()]
    assert set(listed[0]) == {
        "id", "kind", "severity", "status", "zone", "place", "event", "figures", "raisedAt",
        "acknowledgedAt", "escalatedAt", "resolvedAt", "escalationLevel",
    }  # fmt: skip
    later = (now + timedelta(seconds=1)).isoformat()
    assert c.get("/api/v1/alerts", params={"status": "all", "since": later}, headers=h).json() == []
    assert (
        c.get("/api/v1/alerts", params={"since": "2026-01-01T00:00"}, headers=h).status_code == 400
    )

    # a stream reader hears the acknowledgement and the resolution as they happen
    heard: list[dict[str, Any]] = []
    connected = threading.Event()

    def read() -> None:
        with httpx.stream("GET", f"{zoned.url}/api/v1/alerts/stream", headers=h, timeout=20) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                connected.set()
                if line.startswith("data: "):
                    heard.append(json.loads(line[6:]))
                if len(heard) == 2:
                    return

    reader = threading.Thread(target=read)
    reader.start()
    assert connected.wait(10)
    r = c.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=h)
    assert r.json()["status"] == "acknowledged"
    assert c.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=h).status_code == 409
    assert c.post(f"/api/v1/alerts/{alert.id}/resolve", headers=h).json()["status"] == "resolved"
    assert c.post("/api/v1/alerts/999/resolve", headers=h).status_code == 404
    reader.join(15)
    assert [a["status"] for a in heard] == ["acknowledged", "resolved"]
    assert c.get("/api/v1/alerts", headers=h).json() == []
    with zoned.sessions() as s:
        assert [(x.step, x.by) for x in store.history(s, alert.id)] == [
            ("raise", "rule"),
            ("acknowledge", "olle"),
            ("resolve", "olle"),
        ]


def test_a_stream_ends_when_the_hub_stops(zoned: Hub) -> None:
    bus = Bus()
    app = create_app(sessions=zoned.sessions, clock=zoned.clock, api_config=ROOMY, alerts_bus=bus)
    done = threading.Event()
    with serve(app) as url:

        def read() -> None:
            h = zoned.h(zoned.operator)
            with httpx.stream("GET", f"{url}/api/v1/alerts/stream", headers=h, timeout=20) as r:
                for _ in r.iter_lines():
                    pass
            done.set()

        reader = threading.Thread(target=read)
        reader.start()
        for _ in range(200):
            if bus.subscribers:
                break
            time.sleep(0.05)
        assert bus.subscribers == 1
        bus.close()
        assert done.wait(10)
        reader.join(5)
    assert bus.subscribers == 0
