"""``/api/v1/deadletters``: rejected messages with reason, topic, time and size.

The store keeps the newest ``dead_letter_max`` rows; the per-reason counts in ``summary``
are totals since the hub's database was created, so a device that keeps sending garbage
stays visible after its old rows are pruned.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from hub.api import errors
from hub.api.deps import DbSession
from hub.api.security import Operator
from hub.db import Counter, DeadLetter

router = APIRouter(tags=["dead letters"], responses=errors.AUTHED)


class DeadLetterOut(BaseModel):
    id: int
    at: datetime
    topic: str
    device_id: str | None
    reason: str
    detail: str
    size: int
    payload_b64: str  # the first 4 KiB


class DeadLetterSummary(BaseModel):
    total: int
    by_reason: dict[str, int]
    stored: int
    by_device: dict[str, int]  # stored rows per known device, worst first (top 50)


@router.get("/deadletters", response_model=list[DeadLetterOut])
def list_dead_letters(
    db: DbSession,
    _who: Operator,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    device: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    # The id column is a 32-bit integer: PostgreSQL refuses to compare it with larger ones.
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[DeadLetterOut]:
    """Newest first; page with ``before_id`` (the smallest id of the previous page)."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if reason is not None:
        q = q.where(DeadLetter.reason == reason)
    if device is not None:
        q = q.where(DeadLetter.device_id == device)
    if before_id is not None:
        q = q.where(DeadLetter.id < before_id)
    return [
        DeadLetterOut(
            id=d.id,
            at=d.at,
            topic=d.topic,
            device_id=d.device_id,
            reason=d.reason,
            detail=d.detail,
            size=d.size,
            payload_b64=base64.b64encode(d.payload).decode(),
        )
        for d in db.scalars(q)
    ]


@router.get("/deadletters/summary", response_model=DeadLetterSummary)
def dead_letter_summary(db: DbSession, _who: Operator) -> DeadLetterSummary:
    """Counts per reason (all time) and stored rows per device."""
    # Several hubs count per partition ("part.07.dead.<reason>"): summed here.
    by_reason: dict[str, int] = {}
    for row in db.scalars(select(Counter).where(Counter.name.like("%dead.%"))):
        reason = row.name.partition("dead.")[2]
        if row.name.startswith("dead.") or row.name.startswith("part."):
            by_reason[reason] = by_reason.get(reason, 0) + row.value
    stored = db.scalar(select(func.count(DeadLetter.id))) or 0
    per_device = db.execute(
        select(DeadLetter.device_id, func.count(DeadLetter.id))
        .where(DeadLetter.device_id.is_not(None))
        .group_by(DeadLetter.device_id)
        .order_by(func.count(DeadLetter.id).desc())
        .limit(50)
    ).all()
    return DeadLetterSummary(
        total=sum(by_reason.values()),
        by_reason=by_reason,
        stored=stored,
        by_device={str(d): int(n) for d, n in per_device},
    )
