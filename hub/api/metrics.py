"""``/metrics``: the ingest pipeline's self-metrics in the Prometheus text format.

It exposes counts only, no payloads; ``ApiConfig.metrics_access`` decides who may read it
(``hub.api.exposure``: Prometheus sends an operator's token as its bearer credentials).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from hub.api import errors
from hub.api.deps import LiveIngest
from hub.api.exposure import metrics_guard
from hub.metrics import exposition

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(metrics_guard)],
    responses={**errors.AUTHED, **errors.NOT_FOUND},
)
def metrics(ingest: LiveIngest) -> Response:
    """Counters (messages, readings, duplicates, gaps, dead letters per reason) and gauges
    (queue depth, oldest unsent age, spool, batch latency, devices online)."""
    body = exposition(ingest.registry) if ingest is not None else b""
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
