"""Two places, two partner organisations and what happens at each, for the partner tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hub import auth
from hub.partners import orgs
from hub.places import make_place
from hub.places_store import save_places
from tests.api.conftest import add_lamp, open_ticket
from trygg.clock import FakeClock


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


TORGET = box(18.000, 59.360, 18.010, 59.365)
STATIONEN = box(18.010, 59.365, 18.020, 59.370)


@dataclass(frozen=True)
class World:
    torget_lamp: str
    station_lamp: str
    torget_ticket: int
    station_ticket: int
    centre: str  # token of "vera", Centrumägarna, who see Torget
    police: str  # token of "pelle", Polisen Solna, who see Stationen


def build(sessions: sessionmaker[Session], clock: FakeClock, *, password: str = "") -> World:
    """Places Torget and Stationen, a lamp with an open ticket at each, and one organisation
    per place with one user each (``password`` lets them log in on the page)."""
    torget_lamp = add_lamp(sessions, device="t0", site="centrum", lat=59.362, lon=18.005)
    station_lamp = add_lamp(sessions, device="s0", site="centrum", lat=59.367, lon=18.015)
    now = clock.now()
    with sessions.begin() as s:
        save_places(
            s,
            [make_place("Torget", "square", TORGET), make_place("Stationen", "station", STATIONEN)],
            now=now,
        )
        tokens = []
        for org, kind, place, user in (
            ("Centrumägarna", "centre", "Torget", "vera"),
            ("Polisen Solna", "police", "Stationen", "pelle"),
        ):
            orgs.add_org(s, name=org, kind=kind, actor="setup", now=now)
            orgs.link_place(s, org=org, place=place, actor="setup", now=now)
            u = orgs.add_user(
                s, org=org, name=user, actor="setup", now=now, password=password or None
            )
            tokens.append(auth.issue_token(s, user=u, now=now)[1])
    return World(
        torget_lamp,
        station_lamp,
        open_ticket(sessions, clock, torget_lamp),
        open_ticket(sessions, clock, station_lamp),
        *tokens,
    )
