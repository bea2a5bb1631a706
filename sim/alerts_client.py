"""Reads the hub's alerts through its HTTP API, as an operator's tool would.

The one module of the simulator that speaks to ``GET /api/v1/alerts``; a hub without that
endpoint (404) gives None, so the score can say so instead of failing.
"""

from __future__ import annotations

from typing import Any

import httpx

TIMEOUT_S = 10.0


class AlertsApiError(RuntimeError):
    """The hub answered, but not with a list of alerts."""


async def fetch_alerts(base_url: str, token: str) -> list[dict[str, Any]] | None:
    """Every alert the hub knows (``status=all``); None when it has no alerts API.

    Raises AlertsApiError for any other refusal, a transport error or a non-list answer.
    """
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT_S) as client:
            resp = await client.get(
                "/api/v1/alerts",
                params={"status": "all"},
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as exc:
        raise AlertsApiError(f"alerts API unreachable: {exc}") from exc
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise AlertsApiError(f"alerts API answered {resp.status_code}: {resp.text[:200]}")
    body = resp.json()
    if not isinstance(body, list) or not all(isinstance(x, dict) for x in body):
        raise AlertsApiError("alerts API did not answer with a list of objects")
    return body
