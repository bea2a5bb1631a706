"""Reports outside the city's configured area are refused, by the API and by Open311."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from hub import auth
from hub.api.config import ApiConfig
from hub.api.geo import BBox
from hub.db import Ticket
from tests.api.conftest import Hub


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (59.36, 18.0, True),  # Solna centrum
        (59.33, 17.93, True),  # the south-west corner itself
        (59.40, 18.07, True),  # the north-east corner itself
        (40.7128, -74.0060, False),  # New York
        (59.3293, 18.0686, False),  # Stockholm city, just south of the box
        (59.36, 18.0701, False),  # just east
        (0.0, 0.0, False),
    ],
)
def test_default_bounds_hold_solna_only(lat: float, lon: float, inside: bool) -> None:
    bounds = ApiConfig().bounds
    assert bounds.contains(lat, lon) is inside
    why = bounds.refusal(lat, lon)
    assert (why is None) is inside
    if why is not None:
        assert "outside the city's area" in why


def test_bounds_setting_is_checked_when_read() -> None:
    assert ApiConfig(city_bounds="-75,40,-73,41").bounds == BBox(-75, 40, -73, 41)
    with pytest.raises(ValidationError, match="four numbers"):
        ApiConfig(city_bounds="18,59")


def _tickets(hub: Hub) -> int:
    with hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Ticket)) or 0)


@pytest.mark.integration
def test_far_away_reports_are_refused_with_a_clear_error_and_nothing_stored(hub: Hub) -> None:
    key = auth.bootstrap_token(
        hub.sessions, name="fixmystreet", role="operator", scope="open311", now=hub.clock.now()
    )
    form = {"api_key": key, "service_code": "graffiti", "lat": "40.7128", "long": "-74.006"}
    r = hub.client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 400, r.text
    (err,) = r.json()
    assert "outside the city's area" in err["description"]
    crew = {"kind": "graffiti", "lat": "40.7128", "lon": "-74.006"}
    r = hub.client.post("/api/v1/tickets", headers=hub.h(hub.crew), data=crew)
    assert r.status_code == 400, r.text
    assert "40.71280,-74.00600 is outside the city's area" in r.json()["detail"]
    assert _tickets(hub) == 0
    # The same reports inside Solna are taken.
    r = hub.client.post("/open311/v2/requests.json", data={**form, "lat": "59.36", "long": "18.0"})
    assert r.status_code == 201, r.text
    r = hub.client.post(
        "/api/v1/tickets", headers=hub.h(hub.crew), data={**crew, "lat": "59.36", "lon": "18.0"}
    )
    assert r.status_code == 201, r.text
    assert _tickets(hub) == 2
