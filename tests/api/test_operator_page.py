"""The operator page in a real headless Chromium: an alert the rules raise appears without a
reload (server-sent events), the event's zones are coloured by level of service, one tap
acknowledges, and English is one tap away."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import auth
from hub.alerts import store
from hub.alerts.events import Bus
from hub.alerts.model import AlertRaise
from hub.alerts.schedule import Event, Phase
from hub.api import create_app
from hub.db import Asset, Device, RuleState, open_database
from tests.api.conftest import ROOMY, serve
from tests.api.test_crew_page import ARGS, CHROMIUM
from tests.needs import unavailable
from trygg.clock import SystemClock

pytestmark = pytest.mark.integration
ZONES = (("arena-n-crowd0", 59.3730, 18.0000, "E"), ("arena-s-crowd0", 59.3720, 18.0010, "B"))


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session], Bus]]:
    sessions = open_database(f"sqlite:///{tmp_path}/hub.sqlite")
    bus, clock = Bus(), SystemClock()
    now = clock.now()
    with sessions.begin() as s:
        auth.create_user(s, name="olga", role="operator", password="arenan-21", now=now)
        for zone, lat, lon, los in ZONES:
            device = zone.removesuffix("-crowd0")
            s.add(Device(id=device, site="arena", above={"seqs": []}))
            s.flush()
            s.add(
                Asset(
                    id=zone,
                    device_id=device,
                    kind="crowd",
                    lat=lat,
                    lon=lon,
                    address=f"Arenan {device[-1].upper()}",
                    properties={"zoneArea": 100.0},
                )
            )
            figures = [["levelOfService", los], ["peopleDensity", 1.5]]
            s.add(RuleState(key=f"crowd:{zone}", state={"figures": figures}, updated_at=now))
        phase = Phase("egress", now - timedelta(minutes=5), now + timedelta(hours=1))
        zones = tuple(z[0] for z in ZONES)
        store.save_event(s, Event("Derby", "Strawberry Arena", zones, 50_000, (phase,)), now=now)
    app = create_app(sessions=sessions, clock=clock, api_config=ROOMY, alerts_bus=bus)
    with serve(app) as url:
        yield url, sessions, bus
        bus.close()
    sessions.kw["bind"].dispose()


def test_operator_sees_a_pushed_alert_and_acknowledges_it(
    site: tuple[str, sessionmaker[Session], Bus], browser: Any
) -> None:
    url, sessions, bus = site
    ctx = browser.new_context(viewport={"width": 1024, "height": 800}, locale="sv-SE")
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{url}/operator/")
    assert page.locator("html").get_attribute("lang") == "sv"
    page.get_by_label("Användarnamn").fill("olga")
    page.get_by_label("Lösenord").fill("arenan-21")
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("heading", name="Derby – utsläpp").wait_for()
    page.locator("#live.live").wait_for()  # the stream is connected
    assert page.locator("#map g[data-zone='arena-n-crowd0']").get_attribute("data-los") == "E"
    assert page.locator("#map circle.los-E").count() == 1
    assert page.locator("#map circle.los-B").count() == 1
    assert page.locator("#alerts > li").count() == 0

    # The rules raise an alert: it appears without a reload.
    raise_ = AlertRaise(
        "arena-n-crowd0",
        "crowdLevel",
        "Extreme",
        {"peopleDensity": 2.4, "peopleCount": 240, "levelOfService": "F"},
    )
    with sessions.begin() as s:
        where = {"arena-n-crowd0": store.Where("Strawberry Arena", "Derby")}
        [alert] = store.apply(s, [raise_], now=SystemClock().now(), where=where)
    bus.publish([alert])
    card = page.locator(f"#alerts > li[data-alert='{alert.id}']")
    card.wait_for()
    assert "Trängsel – Strawberry Arena" in card.inner_text()
    assert "Extrem" in card.inner_text()
    assert "pers/m² 2.4" in card.inner_text()
    page.get_by_role("status").filter(has_text="Nytt larm").wait_for()

    page.get_by_role("button", name="Kvittera: Trängsel – Strawberry Arena").click()
    page.get_by_role("status").filter(has_text=f"Larm {alert.id} är kvitterat.").wait_for()
    with sessions() as s:
        assert [(h.step, h.by) for h in store.history(s, alert.id)][-1] == ("acknowledge", "olga")
    assert "Kvitterat" in card.inner_text()

    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Open alerts").wait_for()
    assert "Crowding – Strawberry Arena" in card.inner_text()
    assert problems == []
    ctx.close()
