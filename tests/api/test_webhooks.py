"""Webhooks: signed deliveries survive a receiver that is down, and a hub restart.

The receivers here listen on 127.0.0.1, which the hub refuses unless the allow-list names
it (tests/api/test_webhook_safety.py shows the refusal), so this module allows it.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from fastapi import FastAPI, Request, Response

from hub import webhooks
from hub.api.config import ApiConfig
from hub.webhook_targets import TargetPolicy
from hub.webhook_worker import WebhookWorker
from hub.webhooks import SignatureError, sign, verify
from tests.api.conftest import ROOMY, Hub, add_lamp, open_ticket, serve
from trygg.backoff import delay
from trygg.stack import free_port

LOOPBACK = TargetPolicy.parse(["127.0.0.1"])


@pytest.fixture
def api_config() -> ApiConfig:
    return ROOMY.model_copy(update={"webhook_allow": ("127.0.0.1",)})


def _receiver(got: list[tuple[dict[str, str], bytes]]) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        got.append((dict(request.headers), await request.body()))
        return {"ok": True}

    return app


async def test_delivery_survives_a_receiver_that_is_down(hub: Hub) -> None:
    port = free_port()
    r = hub.client.post(
        "/api/v1/webhooks",
        headers=hub.h(hub.admin),
        json={"url": f"http://127.0.0.1:{port}/hook", "events": []},
    )
    assert r.status_code == 201
    sub = r.json()
    secret = sub["secret"]
    assert "secret" not in hub.client.get("/api/v1/webhooks", headers=hub.h(hub.admin)).json()[0]
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    tid = open_ticket(hub.sessions, hub.clock, asset)

    async def step() -> int:  # a fresh worker each time is what a restarted hub has
        w = WebhookWorker(
            sessions=hub.sessions, clock=hub.clock, policy=LOOPBACK, base_s=30, rng=lambda: 1.0
        )
        try:
            return await w.step()
        finally:
            await w.aclose()

    def deliveries() -> list[dict[str, object]]:
        url = f"/api/v1/webhooks/{sub['id']}/deliveries"
        out: list[dict[str, object]] = hub.client.get(url, headers=hub.h(hub.admin)).json()
        return out

    assert await step() == 0  # receiver down
    (d,) = deliveries()
    assert d["attempts"] == 1
    assert d["last_error"] == "connection failed"  # no detail a port scan could use
    hub.clock.advance(10)
    assert await step() == 0
    assert deliveries()[0]["attempts"] == 1  # not due yet: backoff 30 s
    hub.clock.advance(25)
    assert await step() == 0
    assert deliveries()[0]["attempts"] == 2  # next wait 60 s
    r = hub.client.post(
        f"/api/v1/tickets/{tid}/resolve", headers=hub.h(hub.crew), json={"note": "klart"}
    )
    assert r.status_code == 200
    hub.clock.advance(59)
    assert await step() == 0  # the resolve waits behind the opened event's backoff
    assert [d["attempts"] for d in deliveries()] == [0, 2]
    got: list[tuple[dict[str, str], bytes]] = []
    with serve(_receiver(got), port=port):
        hub.clock.advance(2)
        assert await step() == 1  # the failed event alone, as a probe
        assert await step() == 1
        assert await step() == 0  # nothing twice
    assert len(got) == 2
    events = []
    for headers, body in got:
        verify(secret, headers["trygg-signature"], body, now=int(time.time()))
        doc = json.loads(body)
        assert headers["trygg-event"] == doc["event"]
        assert headers["trygg-delivery"] == str(doc["delivery_id"])
        assert doc["ticket"]["id"] == tid
        events.append(doc["event"])
    assert events == ["ticket.opened", "ticket.resolved"]
    assert json.loads(got[1][1])["note"] == "klart"
    assert all(d["delivered_at"] is not None for d in deliveries())
    headers, body = got[0]
    with pytest.raises(SignatureError, match="mismatch"):
        verify(secret, headers["trygg-signature"], body + b" ", now=int(time.time()))
    with pytest.raises(SignatureError, match="mismatch"):
        verify("another-secret", headers["trygg-signature"], body, now=int(time.time()))
    with pytest.raises(SignatureError, match="tolerance"):
        verify(secret, headers["trygg-signature"], body, now=int(time.time()) + 301)


async def test_overdue_tickets_escalate_once(hub: Hub) -> None:
    port = free_port()
    hub.client.post(
        "/api/v1/webhooks",
        headers=hub.h(hub.admin),
        json={
            "url": f"http://127.0.0.1:{port}/hook",
            "events": ["ticket.escalated"],
            "secret": "s" * 32,
        },
    )
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    open_ticket(hub.sessions, hub.clock, asset, "critical")  # SLA 2 h
    got: list[tuple[dict[str, str], bytes]] = []
    w = WebhookWorker(sessions=hub.sessions, clock=hub.clock, policy=LOOPBACK)
    with serve(_receiver(got), port=port):
        assert await w.step() == 0
        hub.clock.advance(2 * 3600 + 1)
        assert await w.step() == 1
        hub.clock.advance(3600)
        assert await w.step() == 0
    await w.aclose()
    ((headers, body),) = got
    verify("s" * 32, headers["trygg-signature"], body, now=int(time.time()))
    assert json.loads(body)["event"] == "ticket.escalated"


def test_bad_subscriptions_are_refused(hub: Hub) -> None:
    h = hub.h(hub.admin)
    for body in (
        {"url": "ftp://x/hook"},
        {"url": "http://127.0.0.1/hook", "events": ["ticket.exploded"]},
        {"url": "http://127.0.0.1/hook", "secret": "short"},
    ):
        assert hub.client.post("/api/v1/webhooks", headers=h, json=body).status_code == 422
    r = hub.client.post("/api/v1/webhooks", headers=hub.h(hub.operator), json={"url": "http://a/b"})
    assert r.status_code == 403
    assert hub.client.delete("/api/v1/webhooks/77", headers=h).status_code == 404
    assert hub.client.get("/api/v1/webhooks", headers=h).json() == []


def test_signature_recipe_and_backoff() -> None:
    body = b'{"event":"ticket.opened"}'
    header = sign("k" * 16, body, timestamp=1_800_000_000)
    t, v1 = header.split(",")
    assert t == "t=1800000000"
    import hashlib
    import hmac

    # The recipe in docs/api.md, written out by hand.
    assert v1 == "v1=" + hmac.new(b"k" * 16, b"1800000000." + body, hashlib.sha256).hexdigest()
    verify("k" * 16, header, body, now=1_800_000_100)
    with pytest.raises(SignatureError, match="malformed"):
        verify("k" * 16, "v1=abc", body, now=1_800_000_000)
    waits = [delay(n - 1, base_s=5, cap_s=3600, rnd=1.0) for n in range(1, 12)]
    assert waits[:4] == [5, 10, 20, 40]
    assert waits[-1] == 3600
    assert delay(2, base_s=5, cap_s=3600, rnd=0.0) == 10  # jitter keeps at least half
    assert webhooks.EVENT_TYPES == (
        "alert.acknowledged",
        "alert.escalated",
        "alert.raised",
        "alert.resolved",
        "ticket.escalated",
        "ticket.opened",
        "ticket.reopened",
        "ticket.resolved",
    )
    assert timedelta(seconds=waits[0]) == timedelta(seconds=5)


async def test_running_worker_delivers_after_the_receiver_comes_back(hub: Hub) -> None:
    """The worker as the hub runs it (its own loop, real time): down for ~1 s, then up."""
    import asyncio

    from trygg.clock import SystemClock

    port = free_port()
    hub.client.post(
        "/api/v1/webhooks",
        headers=hub.h(hub.admin),
        json={"url": f"http://127.0.0.1:{port}/hook", "secret": "r" * 24},
    )
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    open_ticket(hub.sessions, hub.clock, asset)
    worker = WebhookWorker(
        sessions=hub.sessions,
        clock=SystemClock(),
        policy=LOOPBACK,
        poll_s=0.05,
        base_s=0.2,
        cap_s=0.4,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    got: list[tuple[dict[str, str], bytes]] = []
    try:
        await asyncio.sleep(1.0)  # several failed attempts while nobody listens
        assert got == []
        with serve(_receiver(got), port=port):
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    ((headers, body),) = got
    verify("r" * 24, headers["trygg-signature"], body, now=int(SystemClock().now().timestamp()))
    assert json.loads(body)["event"] == "ticket.opened"


async def test_a_receiver_that_is_down_gets_one_probe_per_backoff_step(hub: Hub) -> None:
    """Several in flight per receiver; after a failure only the oldest event goes, alone."""
    hits: list[str] = []
    down = True
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        hits.append(json.loads(await request.body())["ticket"]["asset_id"])
        return Response(status_code=503 if down else 204)

    with serve(app) as url:
        r = hub.client.post(
            "/api/v1/webhooks", headers=hub.h(hub.admin), json={"url": f"{url}/hook"}
        )
        sub = r.json()["id"]
        assets = [
            add_lamp(hub.sessions, device=f"c{i}", site="centrum", lat=59.36, lon=18.0)
            for i in range(4)
        ]
        for asset in assets:
            open_ticket(hub.sessions, hub.clock, asset)
        w = WebhookWorker(
            sessions=hub.sessions, clock=hub.clock, policy=LOOPBACK, in_flight=3, rng=lambda: 1.0
        )
        try:
            assert await w.step() == 0
            assert sorted(hits) == assets[:3]  # three in flight, all refused
            hub.clock.advance(5)
            for _ in range(3):  # down: each backoff step costs one request, the oldest event
                hits.clear()
                assert await w.step() == 0
                assert hits == [assets[0]]
                hub.clock.advance(3600)
            down = False
            hits.clear()
            assert await w.step() == 1
            assert hits == [assets[0]]  # the probe gets through ...
            assert await w.step() == 3  # ... then the rest, three at once
            assert await w.step() == 0
        finally:
            await w.aclose()
    rows = hub.client.get(f"/api/v1/webhooks/{sub}/deliveries", headers=hub.h(hub.admin)).json()
    assert [d["attempts"] for d in rows] == [1, 2, 2, 5]  # newest first
    assert all(d["delivered_at"] and d["last_error"] == "" for d in rows)
