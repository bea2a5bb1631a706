"""``/metrics``: the ingest pipeline's self-metrics in the Prometheus text format.

Unauthenticated, as Prometheus scrapes expect; it exposes counts only, no payloads.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from hub.api.deps import Context
from hub.metrics import exposition

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(ctx: Context) -> Response:
    """Counters (messages, readings, duplicates, gaps, dead letters per reason) and gauges
    (queue depth, oldest unsent age, spool, batch latency, devices online)."""
    registry = getattr(ctx.extra.get("ingest"), "registry", None)
    body = exposition(registry) if isinstance(registry, CollectorRegistry) else b""
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
