"""Fixtures for the API tests: a migrated SQLite hub database, a fake clock and users."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from hub import auth
from hub.api import create_app
from hub.api.config import ApiConfig
from hub.crews import upsert_crew
from hub.db import Asset, Device, open_database
from hub.rules.actions import Severity
from hub.rules.alarms import Place, raise_alarm
from trygg.clock import FakeClock
from trygg.stack import free_port

T0 = datetime(2026, 12, 15, 21, 0, tzinfo=UTC)
# High limits so functional tests never meet the rate limiter; its own test lowers them.
ROOMY = ApiConfig(
    anon_per_minute=100_000, anon_burst=10_000, post_per_minute=100_000, post_burst=10_000
)


def _box(lon0: float, lat0: float, lon1: float, lat1: float) -> list[list[float]]:
    return [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1]]


# Two crews: Solna centrum and a strip to the north (polygons in [lon, lat]).
CREWS = (
    ("crew-centrum", "centrum", _box(17.98, 59.35, 18.03, 59.372)),
    ("crew-norr", "norr", _box(17.98, 59.372, 18.03, 59.40)),
)


@dataclass
class Hub:
    sessions: sessionmaker[Session]
    clock: FakeClock
    client: httpx.Client
    url: str
    crew: str  # token of a crew member in area "centrum"
    crew_north: str  # token of a crew member in area "norr"
    operator: str
    admin: str

    def h(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def add_lamp(
    sessions: sessionmaker[Session], *, device: str, site: str, lat: float, lon: float
) -> str:
    """A device with one streetlight asset; returns the asset id."""
    asset = f"{device}-lamp0"
    with sessions.begin() as s:
        s.add(Device(id=device, site=site, above={"seqs": []}))
        s.flush()
        s.add(
            Asset(
                id=asset,
                device_id=device,
                kind="streetlight",
                lat=lat,
                lon=lon,
                address=f"{device}-gatan 1",
                properties={},
            )
        )
    return asset


def open_ticket(
    sessions: sessionmaker[Session], clock: FakeClock, asset: str, severity: Severity = "major"
) -> int:
    with sessions.begin() as s:
        a = s.get(Asset, asset)
        assert a is not None
        place = Place(a.lat, a.lon, a.address, a.device_id)
        out = raise_alarm(
            s, asset_id=asset, alarm_type="lampOut", severity=severity, now=clock.now(), place=place
        )
    assert out.ticket_id is not None
    return out.ticket_id


@contextlib.contextmanager
def serve(app: FastAPI, *, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a (free) loopback port in a thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        # As in the hub: X-Forwarded-For is the app's to judge (ApiConfig.trusted_proxies).
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hub.sqlite"


@pytest.fixture
def api_config() -> ApiConfig:
    """The ``hub`` fixture's API settings; a test module overrides it to change them."""
    return ROOMY


@pytest.fixture
def hub(db_url: str, api_config: ApiConfig) -> Iterator[Hub]:
    sessions = open_database(db_url)
    clock = FakeClock(T0)
    app = create_app(sessions=sessions, clock=clock, api_config=api_config)
    now = clock.now()
    with sessions.begin() as s:
        for crew_id, area, box in CREWS:
            upsert_crew(s, crew_id=crew_id, name=crew_id, area=area, polygon=box)
    tokens = {
        "crew": auth.bootstrap_token(sessions, name="anna", role="crew", area="centrum", now=now),
        "crew_north": auth.bootstrap_token(
            sessions, name="nils", role="crew", area="norr", now=now
        ),
        "operator": auth.bootstrap_token(sessions, name="olle", role="operator", now=now),
        "admin": auth.bootstrap_token(sessions, name="ada", role="admin", now=now),
    }
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Hub(sessions, clock, client, url, **tokens)
    sessions.kw["bind"].dispose()
