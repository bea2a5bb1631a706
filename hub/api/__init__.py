"""The hub's HTTP face (FastAPI): ``/api/v1`` JSON API, health and metrics."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.events import Bus
from hub.api import (
    admin,
    alerts,
    deadletters,
    devices,
    followup,
    metrics,
    partner,
    partners,
    releases,
    rollouts,
    ticket_stream,
    tickets,
    users,
    webhooks,
)
from hub.api.client_ip import ClientAddress, parse_networks
from hub.api.config import ApiConfig
from hub.api.deps import HubContext, RunningIngest
from hub.api.exposure import docs_urls, install_docs
from hub.api.headers import SecurityHeadersMiddleware
from hub.api.health import router as health_router
from hub.api.limits import LimitsMiddleware, RateLimiter
from hub.api.text import refuse_control_text
from hub.api.token_check import TokenCheck
from hub.api.unavailable import UnavailableMiddleware
from hub.health import Health
from hub.open311.common import install as install_open311
from hub.open311.router import router as open311_router
from hub.releases.config import ReleaseConfig
from hub.web.router import router as crew_router
from trygg.clock import Clock


def create_app(
    *,
    sessions: sessionmaker[Session],
    clock: Clock,
    api_config: ApiConfig | None = None,
    ingest: RunningIngest | None = None,
    health: Health | None = None,
    api_deadline_s: float = 15.0,
    alerts_bus: Bus | None = None,
    release_config: ReleaseConfig | None = None,
) -> FastAPI:
    """The hub's FastAPI application bound to a database and a clock.

    ``api_config`` sets body, photo, rate and retention limits (defaults when None);
    ``ingest`` is the running ingest whose live device states and metrics the API shows;
    ``health`` (a :class:`hub.health.Health`) feeds ``/ready``; every request answers within
    ``api_deadline_s``, else 503 (the alert stream excepted); ``alerts_bus`` carries alert
    changes between the rules and the API (a new one when None); ``release_config`` says
    where releases are kept and which keys must have signed them.
    """
    config = api_config or ApiConfig()
    release = release_config or ReleaseConfig()
    anon = RateLimiter(per_minute=config.anon_per_minute, burst=config.anon_burst)
    app = FastAPI(
        title="Trygg hub",
        version="1.0.0",
        description="Maintenance tickets, devices and Open311 for Trygg.",
        **docs_urls(config),
        dependencies=[Depends(refuse_control_text)],  # every route's query and path
    )
    install_docs(app, config)
    app.state.hub = HubContext(
        sessions=sessions,
        clock=clock,
        config=config,
        anon_limiter=anon,
        ingest=ingest,
        health=health,
        alerts=alerts_bus or Bus(),
        releases=release,
    )
    app.include_router(ticket_stream.router, prefix="/api/v1")  # before /tickets/{id}
    app.include_router(tickets.router, prefix="/api/v1")
    app.include_router(alerts.router, prefix="/api/v1")
    app.include_router(users.router, prefix="/api/v1")
    app.include_router(webhooks.router, prefix="/api/v1")
    # Before devices: /devices/unregistered is not a device id.
    app.include_router(admin.router, prefix="/api/v1")
    app.include_router(devices.router, prefix="/api/v1")
    app.include_router(deadletters.router, prefix="/api/v1")
    app.include_router(followup.router, prefix="/api/v1")
    app.include_router(partner.router, prefix="/api/v1")
    app.include_router(partners.router, prefix="/api/v1")
    app.include_router(releases.router, prefix="/api/v1")
    app.include_router(rollouts.router, prefix="/api/v1")
    app.include_router(metrics.router)
    app.include_router(health_router)
    app.include_router(open311_router)
    install_open311(app)
    app.include_router(crew_router)
    app.add_middleware(
        LimitsMiddleware,
        max_body=config.max_body_bytes,
        photo_max=config.photo_max_bytes,
        release_max=release.max_bytes,
        anon=anon,
        post=RateLimiter(per_minute=config.post_per_minute, burst=config.post_burst),
        known=TokenCheck(sessions=sessions, clock=clock).valid,
        clients=ClientAddress(parse_networks(config.trusted_proxies)),
    )
    # Inside the security headers (a 503 carries them too), outside everything that may wait.
    app.add_middleware(
        UnavailableMiddleware,
        deadline_s=api_deadline_s,
        # An upload takes as long as its bytes take to arrive; the alert stream never ends.
        streams=frozenset({alerts.STREAM_PATH, releases.UPLOAD_PATH}),
    )
    app.add_middleware(SecurityHeadersMiddleware)
    return app
