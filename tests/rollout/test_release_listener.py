"""The poles' release listener over real TLS: a pole's fleet certificate gets the stored
release byte for byte; no certificate, or one from another CA, gets no TLS session; an
unknown release or a file the release does not list is 404."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.releases.config import ReleaseConfig
from hub.releases.serve import ListenerError, serve_releases
from hub.releases.store import ReleaseFiles, check
from hub.releases.upload import Upload
from tests.rollout.conftest import build, make_keys
from trygg import release as r
from trygg.clock import SystemClock
from trygg.pki import Pki
from trygg.stack import free_port

pytestmark = pytest.mark.integration


def _ctx(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


class Listener:
    """The listener on an event loop of its own in a thread, as the hub runs it."""

    def __init__(self, config: ReleaseConfig, ca: Path) -> None:
        self.config, self.ca = config, ca
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        async def main() -> None:
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            try:
                await serve_releases(self.config, ca_file=self.ca, stop=self.stop)
            except ListenerError as exc:
                self.error = exc

        asyncio.run(main())

    def close(self) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    import threading
    import time

    now = SystemClock().now()
    fleet = Pki(tmp_path / "ca")
    fleet.ensure_ca(now=now)
    hub_key, hub_crt = fleet.issue(
        tmp_path / "hub", "hub.example", now=now, server=True, sans=("DNS:localhost",)
    )
    pole_key, pole_crt = fleet.issue(tmp_path / "pole-1", "pole-1", now=now)
    stranger = Pki(tmp_path / "other-ca")
    stranger.ensure_ca(now=now, name="Somebody else")
    bad_key, bad_crt = stranger.issue(tmp_path / "pole-x", "pole-1", now=now)

    keys = make_keys(tmp_path / "keys")
    bundle = build(tmp_path / "bundle", keys.private, version="7", payload=b"seven")
    files = ReleaseFiles(tmp_path / "releases")
    files.scratch()
    blobs = {e.sha256: bundle.file(e) for e in bundle.manifest.files}
    copies = {}
    for digest, path in blobs.items():
        copies[digest] = tmp_path / f"copy-{digest}"
        copies[digest].write_bytes(path.read_bytes())
    sig = (bundle.folder / "manifest.sig").read_bytes()
    upload = Upload(bundle.manifest_bytes, sig, copies)
    release_id, manifest = check(upload, [keys.private.public_key()])
    files.keep(upload, manifest, release_id)

    port = free_port()
    config = ReleaseConfig(
        dir=files.root, port=port, host="127.0.0.1", cert_file=hub_crt, key_file=hub_key
    )
    listener = Listener(config, fleet.ca_crt)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    base = f"https://localhost:{port}/releases/{release_id}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with httpx.Client(verify=_ctx(fleet.ca_crt, pole_crt, pole_key)) as c:
                c.get(base + "/manifest.json")
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise
            time.sleep(0.05)
    yield {
        "base": base,
        "bundle": bundle,
        "pole": _ctx(fleet.ca_crt, pole_crt, pole_key),
        "nocert": _ctx(fleet.ca_crt),
        "stranger": _ctx(fleet.ca_crt, bad_crt, bad_key),
    }
    listener.close()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert listener.error is None


def test_a_pole_gets_the_release_byte_for_byte(served: dict[str, Any]) -> None:
    bundle: r.Bundle = served["bundle"]
    with httpx.Client(verify=served["pole"], timeout=10) as c:
        manifest = c.get(served["base"] + "/manifest.json")
        assert manifest.status_code == 200
        assert manifest.content == bundle.manifest_bytes
        sig = c.get(served["base"] + "/manifest.sig")
        assert r.decode_signature(sig.content) == bundle.signature
        for entry in bundle.manifest.files:
            got = c.get(served["base"] + f"/files/{entry.sha256}")
            assert got.status_code == 200
            assert got.content == bundle.file(entry).read_bytes()
        base = served["base"]
        other = base.rsplit("/", 1)[0] + "/" + "0" * 64
        assert c.get(other + "/manifest.json").status_code == 404
        assert c.get(base + "/files/" + "1" * 64).status_code == 404
        assert c.get(base + "/other.txt").status_code == 404
        listed = bundle.manifest.files[0].sha256
        assert c.get(other + f"/files/{listed}").status_code == 404  # not by hash alone


@pytest.mark.parametrize("who", ["nocert", "stranger"])
def test_without_a_fleet_certificate_there_is_no_session(served: dict[str, Any], who: str) -> None:
    with (
        httpx.Client(verify=served[who], timeout=10) as c,
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
    ):
        c.get(served["base"] + "/manifest.json").raise_for_status()


def test_a_listener_without_its_tls_files_serves_nothing(tmp_path: Path) -> None:
    config = ReleaseConfig(dir=tmp_path, port=free_port())
    stop = asyncio.Event()
    # returns at once: no certificate, so nothing is served (and the hub goes on)
    asyncio.run(asyncio.wait_for(serve_releases(config, ca_file=None, stop=stop), timeout=5))


def test_a_listener_that_cannot_start_fails_for_the_supervisor(tmp_path: Path) -> None:
    config = ReleaseConfig(
        dir=tmp_path,
        port=free_port(),
        cert_file=tmp_path / "missing.crt",
        key_file=tmp_path / "missing.key",
    )
    # the hub's supervisor logs it and retries with back-off; the hub itself goes on
    with pytest.raises(ListenerError, match="could not start"):
        asyncio.run(serve_releases(config, ca_file=tmp_path / "ca.crt", stop=asyncio.Event()))
