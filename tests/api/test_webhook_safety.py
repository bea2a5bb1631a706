"""Webhooks on the internet: a stuck receiver delays only itself, private targets are
refused at registration and at delivery (DNS rebinding), the connection goes to the
checked address, and signatures carry the wall clock even in an accelerated demo."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from hub.api import create_app
from hub.api.config import ApiConfig
from hub.api.webhooks import target_resolver
from hub.webhook_targets import TargetPolicy
from hub.webhook_transport import REFUSED
from hub.webhook_worker import CONNECTION_FAILED, WebhookWorker
from tests.api.conftest import ROOMY, Hub, add_lamp, open_ticket, serve
from tests.certs import make_server_cert
from trygg.clock import ScaledClock
from trygg.stack import free_port

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = TargetPolicy.parse(["127.0.0.1"])
Got = list[tuple[dict[str, str], bytes]]


@pytest.fixture
def api_config() -> ApiConfig:
    """The shared ``hub`` app allows loopback receivers; refusals use an app without it."""
    return ROOMY.model_copy(update={"webhook_allow": ("127.0.0.1",)})


def _receiver(got: Got) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        got.append((dict(request.headers), await request.body()))
        return {"ok": True}

    return app


class FakeDns:
    """A resolver seam whose answers the test changes between registration and delivery."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return self.table[host]


@contextlib.contextmanager
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on loopback that accepts connections and never answers; yields
    (port, accepted connections)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.05)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(srv.accept()[0])

    thread = threading.Thread(target=accept, name="silent-receiver", daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1], accepted
    finally:
        done.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        srv.close()


@contextlib.contextmanager
def refusing_api(hub: Hub, dns: FakeDns | None = None) -> Iterator[httpx.Client]:
    """The hub's API with no allow-list (production's default), optionally on ``dns``."""
    app = create_app(sessions=hub.sessions, clock=hub.clock, api_config=ROOMY)
    if dns is not None:
        app.dependency_overrides[target_resolver] = lambda: dns
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {hub.admin}"
        yield client


def _deliveries(hub: Hub, sub_id: int) -> list[dict[str, Any]]:
    url = f"/api/v1/webhooks/{sub_id}/deliveries"
    out: list[dict[str, Any]] = hub.client.get(url, headers=hub.h(hub.admin)).json()
    return out


def _subscribe(client: httpx.Client, url: str, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/v1/webhooks", json={"url": url, **extra})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def _until(predicate: Any, timeout_s: float) -> float:
    """Seconds until ``predicate()`` held (polled every 5 ms); fails after ``timeout_s``."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout_s, "timed out"
        await asyncio.sleep(0.005)
    return time.monotonic() - t0


async def test_a_receiver_that_never_answers_delays_only_itself(hub: Hub) -> None:
    admin = hub.h(hub.admin)
    got: Got = []
    with silent_server() as (slow_port, accepted), serve(_receiver(got)) as healthy:
        # The stuck receiver subscribes first, so its deliveries are the older rows.
        for url in (f"http://127.0.0.1:{slow_port}/hook", f"{healthy}/hook"):
            r = hub.client.post("/api/v1/webhooks", headers=admin, json={"url": url})
            assert r.status_code == 201
        worker = WebhookWorker(
            sessions=hub.sessions, clock=hub.clock, policy=LOOPBACK, poll_s=0.05, timeout_s=10
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        delays = []
        try:
            for n in range(3):
                asset = add_lamp(hub.sessions, device=f"c{n}", site="centrum", lat=59.36, lon=18.0)
                t0 = time.monotonic()
                await asyncio.to_thread(open_ticket, hub.sessions, hub.clock, asset)
                await _until(lambda n=n: len(got) == n + 1, timeout_s=30)
                delays.append(time.monotonic() - t0)
            assert accepted, "the stuck receiver's connection was accepted and held"
        finally:
            stop.set()
            t_stop = time.monotonic()
            await asyncio.wait_for(task, timeout=30)
            stop_s = time.monotonic() - t_stop
    print(f"healthy receiver's delays beside a stuck one: {[round(d, 3) for d in delays]} s")
    assert max(delays) < 1.0
    assert stop_s < 2.0  # shutdown does not wait out the stuck post's timeout


async def test_private_targets_are_refused_at_registration(hub: Hub) -> None:
    refused = [
        "http://127.0.0.1:8080/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://10.1.2.3/hook",
        "http://172.20.0.5/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://224.0.0.1/hook",
        "http://[ff02::1]/hook",
        "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://intranet.example.test/hook",  # resolves to a private address
    ]
    dns = FakeDns({"intranet.example.test": ["10.0.0.7"], "hooks.example.test": ["192.0.43.8"]})
    with refusing_api(hub, dns) as api:
        for url in refused:
            r = api.post("/api/v1/webhooks", json={"url": url})
            assert r.status_code == 400, (url, r.text)
            assert "TRYGG_API_WEBHOOK_ALLOW" in r.json()["detail"]
        r = api.post("/api/v1/webhooks", json={"url": "http://nowhere.example.test/hook"})
        assert r.status_code == 400
        assert "does not resolve" in r.json()["detail"]
        assert api.get("/api/v1/webhooks").json() == []  # nothing was stored
        _subscribe(api, "https://hooks.example.test/hook")  # a public address is fine
    # The real resolver: "localhost" is loopback, refused without the allow-list.
    with refusing_api(hub) as api:
        assert api.post("/api/v1/webhooks", json={"url": "http://localhost/h"}).status_code == 400
    # The hub fixture's app names 127.0.0.1 in its allow-list, so that one is accepted.
    r = hub.client.post(
        "/api/v1/webhooks", headers=hub.h(hub.admin), json={"url": "http://127.0.0.1:9/h"}
    )
    assert r.status_code == 201


async def test_a_name_that_turns_private_is_refused_at_delivery(hub: Hub) -> None:
    got: Got = []
    dns = FakeDns({"hooks.example.test": ["192.0.43.8"]})
    with serve(_receiver(got)) as receiver:
        port = int(receiver.rsplit(":", 1)[1])
        with refusing_api(hub, dns) as api:
            sub = _subscribe(api, f"http://hooks.example.test:{port}/hook")
        asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
        open_ticket(hub.sessions, hub.clock, asset)

        async def step(policy: TargetPolicy) -> int:
            w = WebhookWorker(
                sessions=hub.sessions, clock=hub.clock, policy=policy, resolve=dns, base_s=1
            )
            try:
                return await w.step()
            finally:
                await w.aclose()

        dns.table["hooks.example.test"] = ["127.0.0.1"]  # rebinding after registration
        assert await step(TargetPolicy()) == 0
        assert got == []  # nothing reached the listening receiver
        (d,) = _deliveries(hub, sub["id"])
        assert (d["attempts"], d["last_error"]) == (1, REFUSED)

        dns.table["hooks.example.test"] = ["192.0.43.8", "127.0.0.1"]  # one bad answer is enough
        hub.clock.advance(5)
        assert await step(TargetPolicy()) == 0
        assert got == []
        assert _deliveries(hub, sub["id"])[0]["last_error"] == REFUSED

        # Once the operator allows loopback the same delivery goes out, to the address that
        # was checked: the name itself resolves nowhere outside the seam.
        dns.table["hooks.example.test"] = ["127.0.0.1"]
        hub.clock.advance(5)
        assert await step(LOOPBACK) == 1
    ((headers, _body),) = got
    assert headers["host"] == f"hooks.example.test:{port}"
    assert dns.asked.count("hooks.example.test") >= 4  # resolved at every attempt


async def test_https_receiver_is_pinned_and_its_certificate_checked(
    hub: Hub, tmp_path: Path
) -> None:
    tls = make_server_cert(tmp_path / "pki", names=("hooks.example.test",))
    got: Got = []
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            _receiver(got),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(tls.cert),
            ssl_keyfile=str(tls.key),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    await _until(lambda: server.started, timeout_s=10)
    dns = FakeDns({"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    subs = []
    for name in ("hooks.example.test", "other.example.test"):
        r = hub.client.post(
            "/api/v1/webhooks",
            headers=hub.h(hub.admin),
            json={"url": f"https://{name}:{port}/hook"},
        )
        assert r.status_code == 400  # the real resolver knows neither name
        with refusing_api(hub, FakeDns({name: ["192.0.43.8"]})) as api:
            subs.append(_subscribe(api, f"https://{name}:{port}/hook"))
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    open_ticket(hub.sessions, hub.clock, asset)
    worker = WebhookWorker(
        sessions=hub.sessions,
        clock=hub.clock,
        policy=LOOPBACK,
        resolve=dns,
        tls=ssl.create_default_context(cafile=str(tls.ca)),
    )
    try:
        assert await worker.step() == 1
    finally:
        await worker.aclose()
        server.should_exit = True
        thread.join(timeout=10)
    ((headers, _),) = got
    assert headers["host"] == f"hooks.example.test:{port}"
    assert _deliveries(hub, subs[0]["id"])[0]["delivered_at"] is not None
    # The certificate does not name other.example.test: verified against the name, refused.
    assert _deliveries(hub, subs[1]["id"])[0]["last_error"] == CONNECTION_FAILED


def _documented_recipe() -> str:
    api_doc = (REPO / "docs" / "api.md").read_text()
    match = re.search(r"To verify, on the raw body:\s*```python\n(.*?)```", api_doc, re.S)
    assert match, "docs/api.md's signature recipe not found"
    return textwrap.dedent(match.group(1))


async def test_signature_carries_wall_clock_under_an_accelerated_clock(hub: Hub) -> None:
    got: Got = []
    secret = "w" * 32
    sim = ScaledClock(datetime(2031, 6, 1, tzinfo=UTC), speed=3600)  # the demo's kind of clock
    with serve(_receiver(got)) as receiver:
        r = hub.client.post(
            "/api/v1/webhooks",
            headers=hub.h(hub.admin),
            json={"url": f"{receiver}/hook", "secret": secret, "events": ["ticket.opened"]},
        )
        assert r.status_code == 201
        asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
        open_ticket(hub.sessions, hub.clock, asset)
        worker = WebhookWorker(sessions=hub.sessions, clock=sim, policy=LOOPBACK)
        try:
            assert await worker.step() == 1
        finally:
            await worker.aclose()
    ((headers, body),) = got
    stamp = int(dict(p.split("=", 1) for p in headers["trygg-signature"].split(","))["t"])
    assert abs(stamp - time.time()) <= 2
    assert abs(stamp - sim.now().timestamp()) > 86_400  # not the simulated time
    # The documented verification recipe (docs/api.md), run as a receiver would run it.
    scope: dict[str, Any] = {
        "request": type("Req", (), {"headers": {"Trygg-Signature": headers["trygg-signature"]}}),
        "secret": secret,
        "raw_body": body,
    }
    exec(_documented_recipe(), scope)  # the documented snippet itself is under test
    assert scope["ok"] is True


async def test_the_next_checked_address_is_tried_when_one_does_not_connect(hub: Hub) -> None:
    got: Got = []
    # 127.0.0.2 refuses: the receiver listens on 127.0.0.1 only.
    dns = FakeDns({"hooks.example.test": ["127.0.0.2", "127.0.0.1"]})
    with serve(_receiver(got)) as receiver:
        port = int(receiver.rsplit(":", 1)[1])
        with refusing_api(hub, FakeDns({"hooks.example.test": ["192.0.43.8"]})) as api:
            sub = _subscribe(api, f"http://hooks.example.test:{port}/hook")
        asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
        open_ticket(hub.sessions, hub.clock, asset)
        w = WebhookWorker(
            sessions=hub.sessions,
            clock=hub.clock,
            policy=TargetPolicy.parse(["127.0.0.0/8"]),
            resolve=dns,
        )
        try:
            assert await w.step() == 1
        finally:
            await w.aclose()
    assert len(got) == 1
    assert _deliveries(hub, sub["id"])[0]["delivered_at"] is not None
