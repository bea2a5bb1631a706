"""Every API request answers in time: a hung or unreachable database gives 503 with
Retry-After, never a hang; other errors are left to the app's own handling."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.api.unavailable import UnavailableMiddleware

release = threading.Event()


def _hangs(request: Request) -> JSONResponse:
    release.wait(5)  # a sync route blocked in its worker thread, as on a stopped database
    return JSONResponse({"late": True})


def _down(request: Request) -> JSONResponse:
    raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))


def _refused(request: Request) -> JSONResponse:
    raise IntegrityError("INSERT", {}, ValueError("duplicate"))


async def _quick(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def _client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/hangs", _hangs),
            Route("/down", _down),
            Route("/refused", _refused),
            Route("/quick", _quick),
        ]
    )
    app.add_middleware(UnavailableMiddleware, deadline_s=0.3, retry_after_s=2.5)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://hub")


async def test_a_hanging_request_gets_503_at_the_deadline() -> None:
    release.clear()
    async with _client() as client:
        started = time.monotonic()
        r = await client.get("/hangs")
        took = time.monotonic() - started
        release.set()
    assert r.status_code == 503
    assert r.headers["retry-after"] == "3"
    assert r.json()["reason"] == "deadline"
    assert 0.3 <= took < 2.0
    await asyncio.sleep(0.05)  # the abandoned request's thread returns; nothing is sent


async def test_an_unreachable_database_gives_503_and_other_errors_are_not_hidden() -> None:
    async with _client() as client:
        down = await client.get("/down")
        refused = await client.get("/refused")
        quick = await client.get("/quick")
    assert (down.status_code, down.json()["reason"]) == (503, "OperationalError")
    assert "retry-after" in down.headers
    assert refused.status_code == 500
    assert quick.json() == {"ok": True}
