"""The partner page in a real headless Chromium: a partner logs in, sees their place with its
assets and tickets on the map and nothing of the other partner's place, reports a problem
there, and English is one tap away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.api import create_app
from hub.db import Ticket, open_database
from hub.web.router import VENDOR
from tests.api.conftest import ROOMY, T0, serve
from tests.api.partner_world import World, build
from tests.api.test_crew_page import ARGS, CHROMIUM
from tests.needs import unavailable
from trygg.clock import FakeClock

pytestmark = pytest.mark.integration


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not (VENDOR / "leaflet/dist/leaflet.js").is_file():
        unavailable("Leaflet is not installed (make web)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Any, World]]:
    sessions = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    clock = FakeClock(T0)
    world = build(sessions, clock, password="torget-2026")
    app = create_app(sessions=sessions, clock=clock, api_config=ROOMY)
    with serve(app) as url:
        yield url, sessions, world
    sessions.kw["bind"].dispose()


def test_a_partner_sees_their_place_and_nothing_else(
    site: tuple[str, Any, World], browser: Any
) -> None:
    url, sessions, world = site
    page = browser.new_context(viewport={"width": 1024, "height": 900}, locale="sv-SE").new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{url}/partner/")
    assert page.locator("html").get_attribute("lang") == "sv"
    page.get_by_label("Användarnamn").fill("vera")
    page.get_by_label("Lösenord").fill("torget-2026")
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("heading", name="Torget").wait_for()
    page.locator(f"#tickets > li[data-ticket='{world.torget_ticket}']").wait_for()
    assert "Inloggad som vera, Centrumägarna" in page.locator("#who").inner_text()
    assert page.locator("#places button").all_inner_texts() == ["Torget"]
    assert [a.get_attribute("data-asset") for a in page.locator("#assets > li").all()] == [
        world.torget_lamp
    ]
    assert page.locator("#tickets > li").count() == 1
    # The map: the place's outline, its one asset and its one ticket.
    assert page.locator("#place-map path.place-shape").count() == 1
    assert page.locator("#place-map path.asset").count() == 1
    assert page.locator("#place-map path.ticket").count() == 1
    text = page.locator("body").inner_text()
    for other in ("Stationen", world.station_lamp, f"#{world.station_ticket} "):
        assert other not in text

    # A report at the place, signed by the partner.
    page.get_by_label("Beskrivning").fill("Klotter på bänken")
    page.get_by_role("button", name="Skicka").click()
    page.get_by_role("status").filter(has_text="Tack! Ärende").wait_for()
    page.locator("#tickets > li").nth(1).wait_for()
    with sessions() as s:
        made = s.scalars(select(Ticket).where(Ticket.source == "partner")).one()
        assert made.evidence["partner"] == "Centrumägarna"
    assert "er anmälan" in page.locator(f"#tickets > li[data-ticket='{made.id}']").inner_text()

    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("heading", name="Report a problem").wait_for()
    assert "your report" in page.locator(f"#tickets > li[data-ticket='{made.id}']").inner_text()
    assert problems == []


def test_a_staff_account_is_turned_away(site: tuple[str, Any, World], browser: Any) -> None:
    url, sessions, _ = site
    from hub import auth

    with sessions.begin() as s:
        auth.create_user(s, name="olle", role="operator", password="operator-1", now=T0)
    page = browser.new_context(locale="sv-SE").new_page()
    page.goto(f"{url}/partner/")
    page.get_by_label("Användarnamn").fill("olle")
    page.get_by_label("Lösenord").fill("operator-1")
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("alert").filter(has_text="inget partnerkonto").wait_for()
    assert page.locator("#work").is_hidden()
