"""The poles' release listener: stored releases over HTTPS, only to a client certificate
that leads to the fleet CA, on a port of its own (``TRYGG_RELEASE_PORT``).

Paths, under the base URL a pole is configured with (``https://hub:PORT/releases``)::

    GET /releases/{release id}/manifest.json
    GET /releases/{release id}/manifest.sig
    GET /releases/{release id}/files/{sha256}

An unknown release, or a file the release does not list, is 404. A pole verifies everything
itself; this listener only hands out what was verified when it was published.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Final

import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from hub.releases.config import ReleaseConfig
from hub.releases.store import ReleaseFiles

log = logging.getLogger(__name__)
BASE: Final = "/releases"
Hex = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$")]
_HEADERS: Final = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def create_release_app(files: ReleaseFiles) -> FastAPI:
    """The listener's application over the release folder ``files``."""
    app = FastAPI(title="Trygg releases", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(BASE + "/{release_id}/{name}")
    def manifest(release_id: Hex, name: str) -> FileResponse:
        path = files.manifest(release_id, name)
        if path is None:
            raise HTTPException(404, detail="no such release or file")
        return FileResponse(path, media_type="application/octet-stream", headers=_HEADERS)

    @app.get(BASE + "/{release_id}/files/{sha256}")
    def file(release_id: Hex, sha256: Hex) -> FileResponse:
        path = files.blob(sha256)
        # A file is served only under a release that lists it, not by hash alone.
        if path is None or not files.listed(release_id, sha256):
            raise HTTPException(404, detail="no such release or file")
        return FileResponse(path, media_type="application/octet-stream", headers=_HEADERS)

    return app


class ReleaseServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the hub's stop event owns shutdown."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def release_server(config: ReleaseConfig, *, ca_file: Path | None) -> ReleaseServer | None:
    """The listener for ``config``, or None (logged) when it is off or its TLS files are not
    all set: without a client-certificate check it would serve anyone."""
    if config.port == 0:
        return None
    ca = config.ca_file or ca_file
    if config.cert_file is None or config.key_file is None or ca is None:
        log.error(
            "release listener: TRYGG_RELEASE_PORT is set but its certificate, key or CA "
            "(TRYGG_RELEASE_CERT_FILE, TRYGG_RELEASE_KEY_FILE, TRYGG_RELEASE_CA_FILE or "
            "TRYGG_MQTT_CA_FILE) is not; releases are not served"
        )
        return None
    return ReleaseServer(
        uvicorn.Config(
            create_release_app(ReleaseFiles(config.dir)),
            host=config.host,
            port=config.port,
            log_level="warning",
            lifespan="off",
            proxy_headers=False,
            ssl_certfile=str(config.cert_file),
            ssl_keyfile=str(config.key_file),
            ssl_ca_certs=str(ca),
            ssl_cert_reqs=ssl.CERT_REQUIRED,
        )
    )


class ListenerError(RuntimeError):
    """The release listener could not start (its port, certificate or key)."""


async def serve_releases(
    config: ReleaseConfig, *, ca_file: Path | None, stop: asyncio.Event
) -> None:
    """Serve releases until ``stop``; returns at once when the listener is off. Raises
    ListenerError when it cannot start, so the hub's supervisor retries it with back-off
    instead of the hub ending (uvicorn exits the process when it cannot bind)."""
    server = release_server(config, ca_file=ca_file)
    if server is None:
        return
    serving = asyncio.ensure_future(_serve(server))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving
    finally:
        stopping.cancel()
        serving.cancel()


async def _serve(server: ReleaseServer) -> None:
    try:
        await server.serve()
    except SystemExit as exc:
        raise ListenerError(f"the release listener could not start (exit {exc.code})") from None
    except (OSError, ssl.SSLError) as exc:
        raise ListenerError(f"the release listener could not start: {exc}") from exc
