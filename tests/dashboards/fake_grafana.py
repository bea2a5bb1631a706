"""A FAKE of Grafana's HTTP API: only the routes ``trygg dashboards push`` uses, in memory.

THIS IS NOT GRAFANA. No Grafana server can run on this machine (no Debian package, no PyPI
or npm package ships one: ../shared/TOOLCHAIN.md section 4), so the push command is tested
against this stand-in, which serves on a real socket in the test process and records every
request. Each route follows the documented request and reply:

- Health API, ``GET /api/health`` -> ``{"commit", "database": "ok", "version"}``:
  https://grafana.com/docs/grafana-cloud/api-reference/http-api/other/
- Folder API, ``GET /api/folders/:uid`` (404 when unknown) and ``POST /api/folders`` with
  ``{"uid", "title"}`` -> the folder (409 when the uid exists):
  https://grafana.com/docs/grafana/v10.2/developers/http_api/folder/
- Data source API, ``GET /api/datasources/uid/:uid`` (404 when unknown),
  ``POST /api/datasources`` -> ``{"datasource", "id", "message": "Datasource added",
  "name"}`` (409 for a duplicate name) and ``PUT /api/datasources/uid/:uid`` ->
  ``{..., "message": "Datasource updated"}``:
  https://grafana.com/docs/grafana-cloud/developer-resources/api-reference/http-api/api-legacy/data_source.md
- Dashboard API, ``POST /api/dashboards/db`` with ``{"dashboard", "folderUid", "overwrite",
  "message"}`` -> ``{"id", "uid", "url", "status": "success", "version", "slug"}``; 412 when
  a dashboard with that uid exists and ``overwrite`` is false; 400 without a title:
  https://grafana.com/docs/grafana/v11.6/http_api/dashboard
- Authentication: ``Authorization: Bearer <service account token>``, else 401.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from trygg.stack import free_port


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeGrafanaState:
    token: str
    requests: list[Recorded] = field(default_factory=list)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def build_app(state: FakeGrafanaState) -> FastAPI:
    app = FastAPI(title="FAKE Grafana HTTP API (test stand-in)")

    @app.middleware("http")
    async def record_and_authenticate(request: Request, call_next: Any) -> Any:
        raw = await request.body()
        import json

        body = json.loads(raw) if raw else None
        auth = request.headers.get("authorization")
        state.requests.append(Recorded(request.method, request.url.path, auth, body))
        if request.url.path != "/api/health" and auth != f"Bearer {state.token}":
            return JSONResponse({"message": "invalid API key"}, status_code=401)
        return await call_next(request)

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"commit": "fake", "database": "ok", "version": "11.6.0-fake"}

    @app.get("/api/folders/{uid}")
    def get_folder(uid: str) -> Any:
        if uid not in state.folders:
            return JSONResponse({"message": "folder not found"}, status_code=404)
        return state.folders[uid]

    @app.post("/api/folders")
    async def create_folder(request: Request) -> Any:
        body = await request.json()
        uid = body["uid"]
        if uid in state.folders:
            return JSONResponse({"message": "folder with the same uid exists"}, status_code=409)
        folder = {
            "id": len(state.folders) + 1,
            "uid": uid,
            "title": body["title"],
            "url": f"/dashboards/f/{uid}/{_slug(body['title'])}",
            "version": 1,
        }
        state.folders[uid] = folder
        return folder

    @app.get("/api/datasources/uid/{uid}")
    def get_datasource(uid: str) -> Any:
        if uid not in state.datasources:
            return JSONResponse({"message": "Data source not found"}, status_code=404)
        return state.datasources[uid]

    @app.post("/api/datasources")
    async def create_datasource(request: Request) -> Any:
        body = await request.json()
        if any(d["name"] == body["name"] for d in state.datasources.values()):
            return JSONResponse(
                {"message": "data source with the same name already exists"}, status_code=409
            )
        ds = {**body, "id": len(state.datasources) + 1}
        state.datasources[body["uid"]] = ds
        return {"datasource": ds, "id": ds["id"], "message": "Datasource added", "name": ds["name"]}

    @app.put("/api/datasources/uid/{uid}")
    async def update_datasource(uid: str, request: Request) -> Any:
        if uid not in state.datasources:
            return JSONResponse({"message": "Data source not found"}, status_code=404)
        ds = {**(await request.json()), "id": state.datasources[uid]["id"]}
        state.datasources[uid] = ds
        return {
            "datasource": ds,
            "id": ds["id"],
            "message": "Datasource updated",
            "name": ds["name"],
        }

    @app.post("/api/dashboards/db")
    async def save_dashboard(request: Request) -> Any:
        body = await request.json()
        dash = body.get("dashboard") or {}
        if not dash.get("title"):
            return JSONResponse({"message": "Dashboard title cannot be empty"}, status_code=400)
        uid = dash["uid"]
        if uid in state.dashboards and not body.get("overwrite"):
            return JSONResponse(
                {
                    "message": "A dashboard with the same uid already exists",
                    "status": "name-exists",
                },
                status_code=412,
            )
        folder = body.get("folderUid")
        if folder and folder not in state.folders:
            return JSONResponse({"message": "folder not found"}, status_code=400)
        state.versions[uid] = state.versions.get(uid, 0) + 1
        state.dashboards[uid] = {"dashboard": dash, "folderUid": folder}
        slug = _slug(dash["title"])
        return {
            "id": list(state.dashboards).index(uid) + 1,
            "uid": uid,
            "url": f"/d/{uid}/{slug}",
            "status": "success",
            "version": state.versions[uid],
            "slug": slug,
        }

    return app


@contextmanager
def fake_grafana(token: str) -> Iterator[tuple[str, FakeGrafanaState]]:
    """Serve the fake on a free loopback port; yields (base URL, state)."""
    state = FakeGrafanaState(token=token)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="fake-grafana", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake Grafana did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
