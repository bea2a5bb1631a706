"""The simulator's alerts client against a real HTTP server: alerts, 404, refusals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from sim.alerts_client import AlertsApiError, fetch_alerts

ALERT = {"id": 1, "kind": "crowdLevel", "zone": "z1", "raisedAt": "2026-12-11T15:00:00Z"}


class _Hub(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, bytes]]] = {}
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        status, body = self.answers.get(self.path.split("?")[0], (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def hub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        _Hub.answers, _Hub.seen = {}, []


async def test_alerts_are_read_with_the_operator_token(hub: str) -> None:
    _Hub.answers = {"/api/v1/alerts": (200, json.dumps([ALERT]).encode())}
    assert await fetch_alerts(hub, "tok") == [ALERT]
    assert _Hub.seen == [("/api/v1/alerts?status=all", "Bearer tok")]


async def test_a_hub_without_an_alerts_api_gives_none(hub: str) -> None:
    assert await fetch_alerts(hub, "tok") is None


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [(401, b'{"detail": "no"}', "401"), (200, b'{"id": 1}', "list"), (200, b"[1, 2]", "list")],
)
async def test_other_answers_are_errors(hub: str, status: int, body: bytes, match: str) -> None:
    _Hub.answers = {"/api/v1/alerts": (status, body)}
    with pytest.raises(AlertsApiError, match=match):
        await fetch_alerts(hub, "tok")


async def test_an_unreachable_hub_is_an_error() -> None:
    with pytest.raises(AlertsApiError, match="unreachable"):
        await fetch_alerts("http://127.0.0.1:9", "tok")
