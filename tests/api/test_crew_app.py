"""The crew app on a phone in real Chromium: a map from the configured tile server, a ticket
pushed live, the whole job on its card, started, resolved offline with a photo and a note,
sent once when the network is back, a conflict shown plainly, and no axe-core violations."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from hub import auth
from hub.api.config import ApiConfig
from hub.db import Asset
from hub.rules.alarms import Place, raise_alarm
from hub.web.router import VENDOR
from tests.api.conftest import ROOMY, Hub, add_lamp, open_ticket
from tests.api.test_crew_page import ARTIFACTS, HERE
from tests.api.test_crew_page import browser as browser  # noqa: PLC0414 - the fixture
from tests.needs import unavailable

pytestmark = pytest.mark.integration

AXE = VENDOR / "axe-core" / "axe.min.js"


class _Tiles(BaseHTTPRequestHandler):
    """Any /z/x/y.png is one light-grey tile: a stand-in for the city's tile server."""

    hits: list[str] = []  # noqa: RUF012 - one server per test, read by the test
    png = b""

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.png)))
        self.end_headers()
        self.wfile.write(self.png)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tiles() -> Iterator[str]:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (226, 230, 222)).save(buf, "PNG")
    _Tiles.png, _Tiles.hits = buf.getvalue(), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
    server.shutdown()
    server.server_close()


@pytest.fixture
def api_config(tiles: str) -> ApiConfig:
    return ApiConfig(**{**ROOMY.model_dump(), "tile_url": tiles, "tile_attribution": "Test"})


def _photo_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "SecretFirmware 1.2"  # Software
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 120, 200)).save(buf, "JPEG", exif=exif.tobytes())
    assert b"SecretCam" in buf.getvalue()
    return buf.getvalue()


def _alarm(hub: Hub, device: str, lat: float, lon: float, severity: Any) -> int:
    asset = add_lamp(hub.sessions, device=device, site="centrum", lat=lat, lon=lon)
    with hub.sessions.begin() as s:
        a = s.get(Asset, asset)
        assert a is not None
        out = raise_alarm(
            s,
            asset_id=asset,
            alarm_type="lampOut",
            severity=severity,
            now=hub.clock.now(),
            details={"lux": 0.4, "current_a": 0.0},
            place=Place(a.lat, a.lon, a.address, a.device_id),
        )
    assert out.ticket_id is not None
    return out.ticket_id


def _detail(hub: Hub, tid: int) -> dict[str, Any]:
    r = hub.client.get(f"/api/v1/tickets/{tid}", headers=hub.h(hub.operator))
    assert r.status_code == 200
    return dict(r.json())


def test_crew_app_live_offline_and_accessible(hub: Hub, browser: Any) -> None:
    if not AXE.is_file() or not (VENDOR / "leaflet").is_dir():
        unavailable("the crew page's npm libraries are missing (run make web)")
    with hub.sessions.begin() as s:
        auth.create_user(
            s, name="karin", role="crew", area="centrum", password="gatlampa-7", now=hub.clock.now()
        )
    # Two poles five metres apart share one map marker; a third stands alone.
    for d, la in (("pair-a", 59.3620), ("pair-b", 59.36204)):
        asset = add_lamp(hub.sessions, device=d, site="c", lat=la, lon=18.0005)
        open_ticket(hub.sessions, hub.clock, asset)
    lone = open_ticket(
        hub.sessions,
        hub.clock,
        add_lamp(hub.sessions, device="lone", site="c", lat=59.366, lon=18.01),
    )
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
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
    page.get_by_label("Användarnamn").fill("karin")
    page.get_by_label("Lösenord").fill("gatlampa-7")
    page.get_by_role("button", name="Logga in").click()
    cards = page.locator("#list > li")
    cards.first.wait_for()
    assert cards.count() == 3

    # The map: tiles from the configured server (the CSP lets them in), the pair clustered.
    page.locator("#live-map img.leaflet-tile-loaded").first.wait_for()
    assert _Tiles.hits
    assert page.locator("#live-map .pin.many").all_inner_texts() == ["2"]
    assert page.locator("#live-map .pin").count() == 2
    assert not page.locator("#map").is_visible()  # the positions-only drawing gave way
    assert "Din position är känd" in page.locator("#here").inner_text()
    nav = cards.first.get_by_role("link", name="Navigera dit: 1. Släckt gatlampa")
    assert (nav.get_attribute("href") or "").startswith("geo:59.36")
    page.locator("#live-map .pin.many").tap()  # zooms in until the two part
    page.wait_for_function("document.querySelectorAll('#live-map .pin.many').length === 0")
    assert page.locator("#live-map .pin").count() >= 2

    # A critical ticket arrives without reload.
    urgent = _alarm(hub, "fire-pole", 59.3603, 18.0002, "critical")
    card = page.locator(f"#ticket-{urgent}")
    card.wait_for(timeout=15_000)
    page.get_by_role("status").filter(has_text="Nytt akut ärende: Släckt gatlampa!").wait_for()
    assert cards.count() == 4

    # Open it: the whole job.
    card.get_by_role("button", name="Visa ärendet").tap()
    details = page.locator(f"#details-{urgent}")
    details.wait_for()
    text = details.inner_text()
    for expected in ("Vad är fel", "Släckt gatlampa", "fire-pole-lamp0", "fire-pole-gatan 1"):
        assert expected in text, text
    assert "lux 0.4" in text
    assert "Öppet i" in card.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "crew-card-390x844.png"))

    card.get_by_role("button", name="Påbörja").tap()
    page.get_by_role("status").filter(has_text=f"Ärende {urgent} är påbörjat.").wait_for()
    assert _detail(hub, urgent)["status"] == "in_progress"

    # In the tunnel: resolve with a photo and a note, and queue a resolve of another ticket.
    ctx.set_offline(True)
    card = page.locator(f"#ticket-{urgent}")
    card.get_by_label("Anteckning (valfri)").fill("Bytt armatur")
    card.get_by_label("Foto (valfritt)").set_input_files(
        files=[{"name": "efter.jpg", "mimeType": "image/jpeg", "buffer": _photo_with_metadata()}]
    )
    card.get_by_role("button", name="Markera åtgärdad").tap()
    page.get_by_role("status").filter(has_text=f"Inget nät: ärende {urgent} sparas").wait_for()
    assert "Väntar på nät: Markera åtgärdad" in card.inner_text()
    page.locator(f"#ticket-{lone}").get_by_role("button", name="Markera åtgärdad").tap()
    page.get_by_role("status").filter(has_text=f"Inget nät: ärende {lone} sparas").wait_for()
    assert _detail(hub, urgent)["status"] == "in_progress"
    # Meanwhile the operator resolves the lone ticket.
    r = hub.client.post(f"/api/v1/tickets/{lone}/resolve", headers=hub.h(hub.operator))
    assert r.status_code == 200
    # The app opens again without a network and shows what it last knew.
    page.reload()
    page.get_by_role("status").filter(has_text="Inget nät: visar listan från").wait_for()
    assert cards.count() == 4
    assert "Väntar på nät" in page.locator(f"#ticket-{urgent}").inner_text()

    # Back online: sent once, the photo without its metadata, the conflict in plain words.
    ctx.set_offline(False)
    page.get_by_role("status").filter(has_text="sparade åtgärder skickade").wait_for(timeout=20_000)
    done = _detail(hub, urgent)
    assert done["status"] == "resolved"
    resolves = [h for h in done["history"] if h["action"] == "resolve"]
    assert [(h["actor"], h["note"]) for h in resolves] == [("karin", "Bytt armatur")]
    (photo,) = done["photos"]
    got = hub.client.get(
        f"/api/v1/tickets/{urgent}/photos/{photo['id']}", headers=hub.h(hub.operator)
    ).content
    assert b"SecretCam" not in got
    assert b"SecretFirmware" not in got
    assert not Image.open(io.BytesIO(got)).getexif()
    assert Image.open(io.BytesIO(got)).size == (320, 240)
    conflict = page.locator(f"#ticket-{lone}").get_by_role("alert")
    conflict.wait_for()
    assert "Konflikt: cannot resolve a ticket that is resolved" in conflict.inner_text()
    assert page.locator(f"#ticket-{urgent}").count() == 0

    # Accessibility: axe-core finds nothing, and every button is a large touch target.
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
        ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' ')))"
    )
    assert found == []
    for button in page.locator("button:visible").all():
        box = button.bounding_box()
        assert box is not None
        assert box["height"] >= 44, button.inner_text()

    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "crew-map-390x844.png"))
    page.locator("#list").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "crew-list-390x844.png"))
    # The browser logs each failed request: the offline tries and the one expected conflict.
    allowed = ("ERR_INTERNET_DISCONNECTED", "status of 409 (Conflict)")
    assert [p for p in problems if not any(e in p for e in allowed)] == []
    ctx.close()
