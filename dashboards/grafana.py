"""The one owner of Grafana's HTTP API: push the data source, folder and dashboards.

For installations that don't use file provisioning. A few documented calls with httpx (not
grafana-client, which replaces the environment's urllib3; ../shared/TOOLCHAIN.md), each
idempotent, so pushing twice leaves Grafana as pushing once:

- ``GET /api/health`` (Other HTTP API, Health API);
- ``GET /api/folders/:uid``, then ``POST /api/folders`` with ``{uid, title}`` if 404
  (Folder API);
- ``GET /api/datasources/uid/:uid``, then ``PUT /api/datasources/uid/:uid`` if it exists
  or ``POST /api/datasources`` if 404 (Data source API);
- ``POST /api/dashboards/db`` with ``{dashboard, folderUid, overwrite: true, message}``
  per dashboard (Dashboard API, "Create / Update dashboard").

Authentication is a service account token as ``Authorization: Bearer <token>``.
Docs: https://grafana.com/docs/grafana/v11.6/http_api/dashboard ,
https://grafana.com/docs/grafana/v10.2/developers/http_api/folder/ ,
https://grafana.com/docs/grafana-cloud/developer-resources/api-reference/http-api/api-legacy/data_source.md ,
https://grafana.com/docs/grafana-cloud/api-reference/http-api/other/ .
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)


class GrafanaError(RuntimeError):
    """Grafana refused a request or could not be reached; the message says which and why."""


@dataclass(frozen=True, slots=True)
class PushResult:
    datasource: str  # "created" | "updated"
    folder: str  # "created" | "exists"
    dashboards: list[str]  # URLs Grafana returned


class Grafana:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token.strip():
            raise GrafanaError("an API token is required (a Grafana service account token)")
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token.strip()}", "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Grafana:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response:
        try:
            resp = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise GrafanaError(f"{method} {path}: Grafana unreachable: {exc}") from exc
        if resp.status_code not in ok:
            raise GrafanaError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
        return resp

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", "/api/health").json()
        if data.get("database") != "ok":
            raise GrafanaError(f"Grafana is not healthy: {data}")
        return data

    def ensure_folder(self, *, uid: str, title: str) -> str:
        if self._call("GET", f"/api/folders/{uid}", ok=(200, 404)).status_code == 200:
            return "exists"
        self._call("POST", "/api/folders", {"uid": uid, "title": title})
        return "created"

    def upsert_datasource(self, body: dict[str, Any]) -> str:
        uid = body["uid"]
        found = self._call("GET", f"/api/datasources/uid/{uid}", ok=(200, 404))
        if found.status_code == 200:
            self._call("PUT", f"/api/datasources/uid/{uid}", body)
            return "updated"
        self._call("POST", "/api/datasources", body)
        return "created"

    def put_dashboard(self, dashboard: dict[str, Any], *, folder_uid: str, message: str) -> str:
        """Create or overwrite (by uid); returns the dashboard's URL path in Grafana."""
        payload = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": message,
        }
        data = self._call("POST", "/api/dashboards/db", payload).json()
        if data.get("status") != "success":
            raise GrafanaError(f"dashboard {dashboard.get('uid')}: unexpected reply {data}")
        return str(data.get("url", ""))


def push(
    grafana: Grafana,
    *,
    datasource: dict[str, Any],
    dashboards: list[dict[str, Any]],
    folder_uid: str,
    folder_title: str,
    message: str,
) -> PushResult:
    """Health check, then data source, folder and every dashboard; GrafanaError on failure."""
    grafana.health()
    ds = grafana.upsert_datasource(datasource)
    folder = grafana.ensure_folder(uid=folder_uid, title=folder_title)
    urls = [grafana.put_dashboard(d, folder_uid=folder_uid, message=message) for d in dashboards]
    log.info("pushed %d dashboards (data source %s, folder %s)", len(urls), ds, folder)
    return PushResult(datasource=ds, folder=folder, dashboards=urls)
