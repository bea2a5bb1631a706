"""The crew page in a real headless Chromium at a phone's size: log in, acknowledge, resolve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import auth
from hub.db import Ticket
from hub.rules.actions import Severity
from tests.api.conftest import Hub, add_lamp, open_ticket
from tests.needs import unavailable
from tests.shared_data import PROJECT_ROOT

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
HERE = {"latitude": 59.3600, "longitude": 18.0000}


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _seed(hub: Hub) -> dict[str, int]:
    with hub.sessions.begin() as s:
        auth.create_user(
            s, name="karin", role="crew", area="centrum", password="gatlampa-7", now=hub.clock.now()
        )
    ids = {}
    seeds: tuple[tuple[str, float, Severity], ...] = (
        ("near", 0.0008, "major"),
        ("mid", 0.004, "critical"),
        ("far", 0.009, "minor"),
    )
    for name, dlat, sev in seeds:
        asset = add_lamp(
            hub.sessions, device=f"pole-{name}", site="centrum", lat=59.36 + dlat, lon=18.0005
        )
        ids[name] = open_ticket(hub.sessions, hub.clock, asset, sev)
    return ids


def _status(sessions: sessionmaker[Session], ticket_id: int) -> str:
    with sessions() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        return t.status


def test_crew_logs_in_acknowledges_and_resolves_on_a_phone(hub: Hub, browser: Any) -> None:
    ids = _seed(hub)
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="sv-SE",
        geolocation=HERE,
        permissions=["geolocation"],
    )
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{hub.url}/crew/")
    assert page.locator("html").get_attribute("lang") == "sv"
    page.get_by_label("Användarnamn").fill("karin")
    page.get_by_label("Lösenord").fill("fel-lösen")
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("alert").filter(has_text="Fel användarnamn eller lösenord").wait_for()
    assert problems == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
    problems.clear()
    page.get_by_label("Lösenord").fill("gatlampa-7")
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("heading", name="Öppna ärenden, närmast först").wait_for()
    cards = page.locator("#list > li")
    cards.first.wait_for()
    assert cards.count() == 3
    # Nearest first, whatever the priority.
    titles = [cards.nth(i).locator("h3").inner_text() for i in range(3)]
    assert titles == ["1. Släckt gatlampa", "2. Släckt gatlampa", "3. Släckt gatlampa"]
    assert cards.first.get_attribute("id") == f"ticket-{ids['near']}"
    assert "m bort" in cards.first.inner_text()
    # Due times are shown in Stockholm time (SLA 24 h from 21:00 UTC = 22:00 CET next day).
    assert "Åtgärda senast: 2026-12-16 22:00" in cards.first.inner_text()
    assert page.locator("#live-map .pin").count() == 3  # three tickets, far enough apart
    assert page.locator("#live-map path.you").count() == 1  # "you are here"
    assert "3 öppna ärenden" in page.locator("#live-map").get_attribute("aria-label")

    # Touch targets: at least 44 x 44 CSS px (WCAG 2.5.5).
    for button in page.locator("button:visible").all():
        box = button.bounding_box()
        assert box is not None
        assert box["height"] >= 44, button.inner_text()

    page.get_by_role("button", name="Kvittera: 1. Släckt gatlampa").tap()
    page.get_by_role("status").filter(has_text=f"Ärende {ids['near']} är kvitterat.").wait_for()
    r = hub.client.get(f"/api/v1/tickets/{ids['near']}", headers=hub.h(hub.operator))
    assert r.json()["status"] == "acknowledged"
    assert r.json()["history"][-1]["actor"] == "karin"
    assert _status(hub.sessions, ids["mid"]) == "new"

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "crew-page-390x844.png"
    page.screenshot(path=str(shot), full_page=False)
    img = cv2.imread(str(shot))
    assert img is not None
    assert img.shape[:2] == (844 * 2, 390 * 2)
    assert float(np.std(img)) > 20  # not blank: text, map and cards
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50

    # Resolve the second ticket with a note.
    mid = page.locator(f"#ticket-{ids['mid']}")
    mid.get_by_label("Anteckning (valfri)").fill("Bytt säkring i skåpet")
    mid.get_by_role("button", name="Markera åtgärdad: 2. Släckt gatlampa").tap()
    page.get_by_role("status").filter(has_text=f"Ärende {ids['mid']} är åtgärdat.").wait_for()
    detail = hub.client.get(f"/api/v1/tickets/{ids['mid']}", headers=hub.h(hub.operator)).json()
    assert detail["status"] == "resolved"
    assert detail["history"][-1]["note"] == "Bytt säkring i skåpet"
    assert page.locator("#list > li").count() == 2

    # English is one tap away.
    page.get_by_role("button", name="English").tap()
    page.get_by_role("heading", name="Open tickets, nearest first").wait_for()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("status").inner_text() == ""  # no stale Swedish message
    assert page.get_by_role("button", name="Mark resolved: 1. Streetlight out").count() == 1
    page.screenshot(path=str(ARTIFACTS / "crew-page-390x844-en.png"))
    assert problems == []
    ctx.close()
