"""Small leaks: photo metadata and lifetime, content sniffing, login timing, and the
self-descriptions (/docs, /openapi.json, /metrics) a production hub keeps to itself."""

from __future__ import annotations

import asyncio
import hashlib
import io
import statistics
import struct
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from PIL import ExifTags, Image, PngImagePlugin
from sqlalchemy import func, select

from hub import auth, photos
from hub.api import create_app
from hub.api.config import Access, ApiConfig
from hub.db import TicketPhoto, open_database
from hub.open311 import contacts
from tests.api.conftest import T0, Hub, add_lamp, open_ticket, serve
from tests.helpers import settings_from
from tests.shared_data import PROJECT_ROOT
from trygg.clock import FakeClock

SECRETS = (b"SecretCam 9000", b"Hemlig kommentar", b"xap/1.0", b"Exif\x00\x00", b"59/1")
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>GPSLatitude 59,21.6N</rdf:RDF></x:xmpmeta>'


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam 9000"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (59.0, 21.0, 36.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (18.0, 0.0, 0.0),
    }
    return exif


def _jpeg(orientation: int = 1) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (64, 32), (200, 30, 30))
    img.save(buf, "JPEG", exif=_exif(orientation), comment=b"Hemlig kommentar")
    data = buf.getvalue()
    # An XMP packet as cameras write it: an APP1 segment right after the start marker.
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + XMP
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Hemlig kommentar")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    buf = io.BytesIO()
    Image.new("RGBA", (64, 32), (20, 200, 30, 128)).save(buf, "PNG", pnginfo=info, exif=_exif())
    return buf.getvalue()


def _webp() -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (64, 32), (20, 30, 200))
    img.save(buf, "WEBP", exif=_exif().tobytes(), xmp=XMP)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "kind"), [(_jpeg, "image/jpeg"), (_png, "image/png"), (_webp, "image/webp")]
)
def test_uploaded_photos_keep_no_metadata_and_are_not_sniffed(
    hub: Hub, make: Any, kind: str
) -> None:
    original: bytes = make()
    assert all(s in original for s in SECRETS[:1])  # the fixture does carry the metadata
    asset = add_lamp(hub.sessions, device="c0", site="centrum", lat=59.36, lon=18.0)
    tid = open_ticket(hub.sessions, hub.clock, asset)
    h = hub.h(hub.crew)
    r = hub.client.post(
        f"/api/v1/tickets/{tid}/photos", headers=h, files={"photo": ("p", original, kind)}
    )
    assert r.status_code == 201, r.text
    got = hub.client.get(f"/api/v1/tickets/{tid}/photos/{r.json()['id']}", headers=h)
    assert got.headers["content-type"] == kind
    assert got.headers["x-content-type-options"] == "nosniff"
    for secret in SECRETS:
        assert secret not in got.content, secret
    for chunk in (b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"XMP ", b"EXIF"):
        assert chunk not in got.content, chunk
    with Image.open(io.BytesIO(got.content)) as im:
        assert im.size == (64, 32)
        assert len(im.getexif()) == 0
        assert not {"exif", "xmp", "comment", "icc_profile"} & set(im.info)
        assert not any("comment" in str(k).lower() or "xmp" in str(k).lower() for k in im.info)


def test_photo_orientation_is_applied_before_the_tag_goes() -> None:
    cleaned = photos.clean(_jpeg(orientation=6), "image/jpeg")  # 6: rotate 90° to view
    with Image.open(io.BytesIO(cleaned)) as im:
        assert im.size == (32, 64)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + b"\0" * 64, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"),
        (_png(), "image/jpeg"),  # the sniffed type must be the decoded one
    ],
)
def test_unreadable_photos_are_refused(data: bytes, kind: str) -> None:
    with pytest.raises(photos.PhotoError):
        photos.clean(data, kind)


def test_every_response_says_nosniff(hub: Hub) -> None:
    for path in ("/healthz", "/open311/v2/services.xml", "/no/such/path", "/api/v1/tickets"):
        assert hub.client.get(path).headers.get("x-content-type-options") == "nosniff", path


def _photo_count(hub: Hub) -> int:
    with hub.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(TicketPhoto)) or 0)


async def test_photos_are_deleted_with_the_tickets_personal_data(hub: Hub) -> None:
    tids = []
    for i in range(2):
        asset = add_lamp(hub.sessions, device=f"c{i}", site="centrum", lat=59.36, lon=18.0)
        tid = open_ticket(hub.sessions, hub.clock, asset)
        r = await asyncio.to_thread(
            hub.client.post,
            f"/api/v1/tickets/{tid}/photos",
            headers=hub.h(hub.crew),
            files={"photo": ("p", _jpeg(), "image/jpeg")},
        )
        assert r.status_code == 201
        tids.append(tid)
    r = await asyncio.to_thread(
        hub.client.post, f"/api/v1/tickets/{tids[0]}/resolve", headers=hub.h(hub.crew)
    )
    assert r.status_code == 200
    retention = timedelta(days=30)
    with hub.sessions.begin() as s:
        early = hub.clock.now() + retention - timedelta(minutes=1)
        assert photos.purge(s, now=early, retention=retention) == 0
    # The hub's purge task (the one that deletes citizens' contacts) deletes them too.
    clock = FakeClock(hub.clock.now() + retention)
    stop = asyncio.Event()
    task = asyncio.create_task(
        contacts.run_purge(stop, sessions=hub.sessions, clock=clock, retention=retention)
    )
    deadline = time.monotonic() + 10
    # The database has no event to wait on: poll it.
    while _photo_count(hub) != 1 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await task
    with hub.sessions() as s:
        assert list(s.scalars(select(TicketPhoto.ticket_id))) == [tids[1]]


def test_login_runs_one_scrypt_whether_the_name_exists_or_not(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hub.sessions.begin() as s:
        auth.create_user(s, name="kim", role="crew", area="centrum", now=T0, password="rätt-lösen")
    calls: list[bytes] = []
    real = hashlib.scrypt

    def counted(password: bytes, **kw: Any) -> bytes:
        calls.append(password)
        return real(password, **kw)

    monkeypatch.setattr(hashlib, "scrypt", counted)  # the module hub.auth calls
    for name in ("kim", "nobody", "anna"):  # known; unknown; known without a password
        calls.clear()
        with hub.sessions() as s, pytest.raises(auth.AuthError, match="wrong user name"):
            auth.login(s, name=name, password="fel", now=T0, ttl=timedelta(hours=1))
        assert calls == [b"fel"], name
    monkeypatch.undo()

    def timed(name: str) -> float:
        start = time.perf_counter()
        r = hub.client.post("/api/v1/session", json={"username": name, "password": "fel"})
        assert r.status_code == 401
        return time.perf_counter() - start

    # Interleaved, so that load from elsewhere on the machine falls on both alike.
    pairs = [(timed("kim"), timed("nobody")) for _ in range(11)]
    known = statistics.median(k for k, _ in pairs)
    unknown = statistics.median(u for _, u in pairs)
    # a miss that skipped scrypt would be many times faster
    assert 1 / 3 < known / unknown < 3, (known, unknown)


def test_docs_and_metrics_follow_their_access_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = open_database(f"sqlite:///{tmp_path}/p.sqlite")
    clock = FakeClock(T0)
    op = auth.bootstrap_token(sessions, name="olle", role="operator", now=T0)
    crew = auth.bootstrap_token(sessions, name="anna", role="crew", area="centrum", now=T0)

    def h(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    settings: tuple[tuple[Access, Access], ...] = (("off", "operator"), ("operator", "off"))
    for docs, metrics in settings:
        cfg = ApiConfig(docs_access=docs, metrics_access=metrics)
        app = create_app(sessions=sessions, clock=clock, api_config=cfg)
        with serve(app) as url, httpx.Client(base_url=url) as c:
            for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
                assert c.get(path, headers=h(op)).status_code == 404, path
            spec = [c.get("/openapi.json", headers=x).status_code for x in ({}, h(crew), h(op))]
            met = [c.get("/metrics", headers=x).status_code for x in ({}, h(crew), h(op))]
            want = {"off": [404, 404, 404], "operator": [401, 403, 200]}
            assert (spec, met) == (want[docs], want[metrics])
    with pytest.raises(ValueError, match="docs_access"):
        ApiConfig(docs_access="maybe")  # type: ignore[arg-type]
    env = settings_from(
        monkeypatch, {"TRYGG_API_DOCS_ACCESS": "off", "TRYGG_API_METRICS_ACCESS": "operator"}
    ).api
    assert (env.docs_access, env.metrics_access) == ("off", "operator")
    sessions.kw["bind"].dispose()


def test_the_production_stack_hides_docs_and_guards_metrics() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["hub"]["environment"]
    defaults = {k: str(v).rsplit(":-", 1)[-1].rstrip("}") for k, v in env.items()}
    assert defaults["TRYGG_API_DOCS_ACCESS"] == "off"
    assert defaults["TRYGG_API_METRICS_ACCESS"] == "operator"
    example = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    assert "TRYGG_API_DOCS_ACCESS=off" in example
    assert "TRYGG_API_METRICS_ACCESS=operator" in example
