"""``/api/v1/tickets``: the crews' and operators' view of maintenance work."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from hub import tickets as service
from hub.api.deps import DbSession

router = APIRouter(tags=["tickets"])


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    status: str
    priority: int
    title: str
    asset_id: str | None
    device_id: str | None
    lat: float | None
    lon: float | None
    address: str | None
    assignee: str | None
    sla_due: datetime | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    reopen_count: int


@router.get("/tickets", response_model=list[TicketOut])
def list_tickets(
    db: DbSession,
    status: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TicketOut]:
    rows = service.list_tickets(db, status=status, kind=kind, limit=limit, offset=offset)
    return [TicketOut.model_validate(t) for t in rows]
