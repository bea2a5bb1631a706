"""``/health`` (the process answers) and ``/ready`` (it can do its work), for systemd,
compose health checks and load balancers.

``/ready`` reads the states the hub's supervisor and dependency checks recorded
(``hub.health``); it never touches a dependency itself, so it answers at once even while
one hangs. Its body names each part with its state and last error in words (never a URL or
a credential) and the ingest's storage problem, if any.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hub.api.deps import Context
from hub.health import Health

router = APIRouter(tags=["health"])


@router.get("/health")
@router.get("/healthz", include_in_schema=False)
async def health() -> dict[str, str]:
    """200 while the hub's event loop answers."""
    return {"status": "ok"}


def ready_document(health: Health | None, *, now: float, storage: str | None) -> dict[str, Any]:
    """The body of /ready: ``ready`` is true only when every part has reported ok (or ended
    on purpose) and storage has no problem."""
    parts = health.parts() if health is not None else []
    ready = (
        health is not None
        and storage is None
        and any(p.name.startswith("check:") for p in parts)
        and all(p.state in ("ok", "stopped") for p in parts)
    )
    return {
        "status": "ready" if ready else "unavailable",
        "parts": [p.as_json(now) for p in parts],
        "storage_problem": storage,
    }


@router.get("/ready", responses={503: {"description": "not ready; the body says why"}})
async def ready(ctx: Context) -> JSONResponse:
    """200 when the broker link, SQL and InfluxDB answer, InfluxDB stores, and no worker is
    failing; else 503. Either way the body lists every check and worker."""
    storage = ctx.ingest.storage_problem() if ctx.ingest is not None else None
    doc = ready_document(ctx.health, now=asyncio.get_running_loop().time(), storage=storage)
    status = 200 if doc["status"] == "ready" else 503
    return JSONResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})
