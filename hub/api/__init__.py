"""The hub's HTTP face (FastAPI): ``/api/v1`` JSON API, health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from hub.api import tickets
from hub.api.deps import HubContext
from trygg.clock import Clock


def create_app(*, sessions: sessionmaker[Session], clock: Clock, **extra: Any) -> FastAPI:
    """The hub's FastAPI application bound to a database and a clock."""
    app = FastAPI(
        title="Trygg hub",
        version="1.0.0",
        description="Maintenance tickets, devices and Open311 for Trygg.",
    )
    app.state.hub = HubContext(sessions=sessions, clock=clock, extra=extra)
    app.include_router(tickets.router, prefix="/api/v1")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
