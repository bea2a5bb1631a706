"""The crew app's server side: live ticket events per area, and actions applied exactly once."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hub.api.ticket_feed import Watermark
from tests.api.conftest import Hub, add_lamp, open_ticket

T = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)


@dataclass
class R:
    id: int
    status: str
    updated_at: datetime
    alarm_count: int = 1
    assignee: str | None = None


def test_watermark_reports_each_change_once_even_at_one_instant() -> None:
    wm = Watermark()
    assert wm.changed([R(1, "new", T)]) == [1]
    assert wm.changed([R(1, "new", T)]) == []  # the same state again
    # A second ticket at the same instant, and the first one changed at that instant too.
    assert wm.changed([R(1, "acknowledged", T), R(2, "new", T)]) == [1, 2]
    later = T + timedelta(seconds=1)
    assert wm.changed([R(1, "acknowledged", T), R(2, "resolved", later)]) == [2]
    assert wm.since == later
    assert wm.changed([R(2, "resolved", later)]) == []
    assert wm.changed([]) == []


def _events(
    hub: Hub, token: str, then: list[tuple[str, float]], want: int, timeout: float = 15.0
) -> list[dict[str, object]]:
    """The first ``want`` ticket events once the stream is open and ``then`` tickets opened."""
    got: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    with hub.client.stream("GET", "/api/v1/tickets/stream", headers=hub.h(token)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert next(lines) == "retry: 3000"  # primed: what exists now is not an event
        _open(hub, then)
        event = None
        for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "ticket":
                got.append(json.loads(line[6:]))
                if len(got) == want:
                    break
            assert time.monotonic() < deadline, got
    return got


def _open(hub: Hub, tickets: list[tuple[str, float]]) -> None:
    for name, lat in tickets:
        asset = add_lamp(hub.sessions, device=name, site="x", lat=lat, lon=18.0)
        hub.clock.advance(1)
        open_ticket(hub.sessions, hub.clock, asset, "critical")


@pytest.mark.integration
def test_stream_pushes_new_tickets_of_the_crews_area_only(hub: Hub) -> None:
    old = open_ticket(
        hub.sessions, hub.clock, add_lamp(hub.sessions, device="old", site="x", lat=59.36, lon=18)
    )
    # One ticket in the north's area, then one in centrum's: centrum's crew sees only its own.
    got = _events(hub, hub.crew, [("north-1", 59.38), ("centre-1", 59.361)], want=1)
    assert [(e["asset_id"], e["area"], e["priority"]) for e in got] == [
        ("centre-1-lamp0", "centrum", 1)
    ]
    assert all(e["id"] != old for e in got)
    r = hub.client.get("/api/v1/tickets/stream", headers=hub.h("tr_not-a-token"))
    assert r.status_code == 401


@pytest.mark.integration
def test_an_action_sent_twice_with_one_key_is_applied_once(hub: Hub) -> None:
    asset = add_lamp(hub.sessions, device="p1", site="x", lat=59.36, lon=18.0)
    tid = open_ticket(hub.sessions, hub.clock, asset)
    other = open_ticket(
        hub.sessions, hub.clock, add_lamp(hub.sessions, device="p2", site="x", lat=59.361, lon=18)
    )
    h = {**hub.h(hub.crew), "Idempotency-Key": "queue-0001-resolve"}
    first = hub.client.post(f"/api/v1/tickets/{tid}/resolve", headers=h, json={"note": "ok"})
    assert first.status_code == 200, first.text
    again = hub.client.post(f"/api/v1/tickets/{tid}/resolve", headers=h, json={"note": "ok"})
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    detail = hub.client.get(f"/api/v1/tickets/{tid}", headers=hub.h(hub.operator)).json()
    assert [x["action"] for x in detail["history"]].count("resolve") == 1
    # Without the key, the second try is the conflict it is.
    r = hub.client.post(f"/api/v1/tickets/{tid}/resolve", headers=hub.h(hub.crew))
    assert r.status_code == 409
    assert "resolved" in r.json()["detail"]
    # The key cannot be spent on another ticket; the other ticket is unchanged.
    r = hub.client.post(f"/api/v1/tickets/{other}/resolve", headers=h)
    assert (r.status_code, r.json()["detail"]) == (
        409,
        "this Idempotency-Key was used for another request",
    )
    assert hub.client.get(f"/api/v1/tickets/{other}", headers=h).json()["status"] == "new"
    # Another member's same key is theirs alone.
    hn = {**hub.h(hub.operator), "Idempotency-Key": "queue-0001-resolve"}
    assert hub.client.post(f"/api/v1/tickets/{other}/start", headers=hn).status_code == 200
    bad = {**hub.h(hub.crew), "Idempotency-Key": "no spaces allowed"}
    assert hub.client.post(f"/api/v1/tickets/{other}/start", headers=bad).status_code == 422
