"""Shared dependencies of the API routers, typed: each router names what it needs
(``db: DbSession``, ``config: Config``, ``ingest: LiveIngest``) and FastAPI supplies it
from the one :class:`HubContext` that ``create_app`` puts on ``app.state``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from hub.alerts.events import Bus
from hub.api.config import ApiConfig
from hub.api.limits import RateLimiter
from hub.device_state import DeviceStates
from hub.health import Health
from hub.releases.config import ReleaseConfig
from trygg.clock import Clock


class RunningIngest(Protocol):
    """What the API reads from the hub's running ingest: live device states and metrics."""

    @property
    def states(self) -> DeviceStates: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    def storage_problem(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class HubContext:
    sessions: sessionmaker[Session]
    clock: Clock
    config: ApiConfig
    # Failed token checks draw from the anonymous bucket too (hub.api.security).
    anon_limiter: RateLimiter
    ingest: RunningIngest | None = None  # None when the API runs without an ingest (tests)
    health: Health | None = None  # what the supervisor and dependency checks recorded
    alerts: Bus = field(default_factory=Bus)  # alert changes, shared with the rules
    releases: ReleaseConfig = field(default_factory=ReleaseConfig)  # store and keys


def hub_context(app: Starlette) -> HubContext:
    """The context ``create_app`` stored on ``app``; TypeError for any other app."""
    ctx = getattr(app.state, "hub", None)
    if not isinstance(ctx, HubContext):
        raise TypeError("this app was not made by hub.api.create_app")
    return ctx


def get_context(request: Request) -> HubContext:
    return hub_context(request.app)


def get_session(request: Request) -> Iterator[Session]:
    with get_context(request).sessions() as session:
        yield session


def get_config(request: Request) -> ApiConfig:
    return get_context(request).config


def get_ingest(request: Request) -> RunningIngest | None:
    return get_context(request).ingest


Context = Annotated[HubContext, Depends(get_context)]
DbSession = Annotated[Session, Depends(get_session)]
Config = Annotated[ApiConfig, Depends(get_config)]
LiveIngest = Annotated[RunningIngest | None, Depends(get_ingest)]
