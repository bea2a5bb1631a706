"""The fleet page in a real headless Chromium: a rollout's stages with their progress, in
Swedish first, and pause from the page reaches the hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub import auth
from hub.db import Rollout
from hub.rollout import store
from tests.api.test_crew_page import ARGS, CHROMIUM
from tests.needs import unavailable
from tests.rollout.conftest import Api, Keys, build, tar_of

pytestmark = pytest.mark.integration


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
def test_operator_sees_stage_progress_and_pauses(
    api: Api, keys: Keys, tmp_path: Path, browser: Any
) -> None:
    bundle = build(tmp_path / "b", keys.private, version="2026.12.4", payload=b"page")
    assert api.publish(tar_of(bundle.folder)).status_code == 201
    with api.sessions.begin() as s:
        auth.create_user(
            s, name="olga", role="operator", password="utrulla-24", now=api.clock.now()
        )
    stages = [
        {"name": "kanarie", "devices": ["pole-c1", "pole-c2"]},
        {"name": "alla", "share": 1.0},
    ]
    body = {"release": bundle.id, "stages": stages}
    rid = api.client.post("/api/v1/rollouts", json=body, headers=api.h(api.operator)).json()["id"]
    with api.sessions.begin() as s:
        store.tick(s, now=api.clock.now())
    from tests.rollout.test_rollouts_api import _report

    assert _report(api, "pole-c1", bundle.id, "healthy")

    ctx = browser.new_context(viewport={"width": 1024, "height": 900}, locale="sv-SE")
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{api.client.base_url}/fleet/")
    assert page.locator("html").get_attribute("lang") == "sv"
    page.get_by_label("Användarnamn").fill("olga")
    page.get_by_label("Lösenord").fill("utrulla-24")
    page.get_by_role("button", name="Logga in").click()
    card = page.locator(f"#rollouts > li[data-rollout='{rid}']")
    card.wait_for()
    text = card.inner_text()
    assert "Utrullning 1 – version 2026.12.4" in text
    assert "Pågår" in text
    assert "1 av 6 enheter klara, 0 misslyckade" in text
    canary = card.locator("li[data-stage='0']")
    assert "Steg 1: kanarie (2)" in canary.inner_text()
    assert "1 klara · 0 misslyckade · 1 pågår · 0 väntar" in canary.inner_text()
    bar = canary.locator(".bar-track .healthy")
    assert bar.evaluate("e => e.style.width") == "50%"
    assert "4 väntar" in card.locator("li[data-stage='1']").inner_text()
    assert "2026.12.4" in page.locator("#releases").inner_text()

    page.get_by_role("button", name="Pausa: Utrullning 1 – version 2026.12.4").click()
    page.get_by_role("status").filter(has_text="Utrullning 1: Pausad.").wait_for()
    with api.sessions() as s:
        assert s.scalars(select(Rollout.status)).one() == "paused"
    page.get_by_role("button", name="Fortsätt: Utrullning 1 – version 2026.12.4").wait_for()

    page.locator("#lang").click()
    page.get_by_role("heading", name="Rollouts").wait_for()
    assert "Paused" in card.inner_text()
    assert problems == []
