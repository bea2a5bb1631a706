"""``/api/v1/devices``: each device's fused state, last seen, firmware, outbox and gaps.

The live figures come from the running ingest (``create_app(ingest=...)``) when there is one;
otherwise from what it last persisted in SQL, so the API also works beside a stopped hub.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from hub.api import errors
from hub.api.deps import Context, DbSession, LiveIngest
from hub.api.security import Operator
from hub.db import Device
from hub.device_state import DeviceStates, DeviceStatus
from hub.ingest_store import status_of
from trygg.clock import from_ms, to_ms
from trygg.contract import DEVICE_ID_PATTERN

router = APIRouter(tags=["devices"], responses=errors.AUTHED)
DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="Device id")]


class DeviceOut(BaseModel):
    id: str
    site: str
    device_class: str
    firmware: str
    boot: int
    state: Literal["online", "offline", "unknown"]
    state_reason: str
    state_changed: datetime | None
    last_seen: datetime | None
    offline_after: datetime | None  # when the heartbeat timeout fires if nothing arrives
    suspect: bool  # a sequence gap within the last timeout period
    heartbeat_s: float
    outbox_depth: int
    dropped: int
    watermark: int
    gaps: int
    lost: int


def _dt(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


def _out(
    dev: Device, live: DeviceStatus | None, states: DeviceStates | None, now_ms: int
) -> DeviceOut:
    st = live or status_of(dev)
    state: Literal["online", "offline", "unknown"] = (
        "unknown" if st.online is None else "online" if st.online else "offline"
    )
    return DeviceOut(
        id=dev.id,
        site=dev.site,
        device_class=st.device_class,
        firmware=st.firmware,
        boot=st.boot,
        state=state,
        state_reason=st.reason,
        state_changed=_dt(st.changed_ms),
        last_seen=_dt(st.last_seen_ms),
        offline_after=_dt(states.deadline_ms(st, now_ms)) if states and st.online else None,
        suspect=states.suspect(st, now_ms) if states else False,
        heartbeat_s=st.heartbeat_s,
        outbox_depth=st.outbox_depth,
        dropped=st.dropped,
        watermark=dev.watermark,
        gaps=dev.gaps,
        lost=dev.lost,
    )


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(
    *,
    ctx: Context,
    ingest: LiveIngest,
    db: DbSession,
    _who: Operator,
    state: Annotated[Literal["online", "offline", "unknown"] | None, Query()] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[DeviceOut]:
    """Every registered device with its fused online/offline state."""
    states = ingest.states if ingest is not None else None
    now_ms = to_ms(ctx.clock.now())
    q = select(Device).order_by(Device.id)
    if site is not None:
        q = q.where(Device.site == site)
    out = [
        _out(dev, states.devices.get(dev.id) if states else None, states, now_ms)
        for dev in db.scalars(q)
    ]
    if state is not None:
        out = [d for d in out if d.state == state]
    return out[offset : offset + limit]


@router.get("/devices/{device_id}", response_model=DeviceOut, responses=errors.NOT_FOUND)
def get_device(
    *, ctx: Context, ingest: LiveIngest, db: DbSession, _who: Operator, device_id: DeviceId
) -> DeviceOut:
    """One device; 404 if it is not registered."""
    dev = db.get(Device, device_id)
    if dev is None:
        raise HTTPException(404, detail=f"no device {device_id!r}")
    states = ingest.states if ingest is not None else None
    return _out(dev, states.devices.get(dev.id) if states else None, states, to_ms(ctx.clock.now()))
