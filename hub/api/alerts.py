"""``/api/v1/alerts``: the operators' alert list, its live stream, acknowledge and resolve;
``/api/v1/events``: the events whose phases sharpen the crowd rules.

The stream is server-sent events (``text/event-stream``), one ``data:`` line per changed
alert as the list gives it; it is left out of the OpenAPI document (it never ends on its
own) and ends after ``STREAM_S`` or when the hub stops, and a client reconnects then.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from hub.alerts import store
from hub.alerts.event_spec import EventSpec, event_json
from hub.alerts.events import Inbox
from hub.alerts.lifecycle import LifecycleError, Step
from hub.alerts.model import Alert
from hub.alerts.schedule import local_time
from hub.api import errors
from hub.api.deps import Context, DbSession
from hub.api.security import Operator
from hub.db import Asset, RuleState

router = APIRouter(tags=["alerts"], responses=errors.AUTHED)
STREAM_PATH: Final = "/api/v1/alerts/stream"
STREAM_S: Final = 300.0
KEEPALIVE_S: Final = 15.0
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Alert id")]
EventName = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f/]+$")]
LIFECYCLE: Final[dict[int | str, dict[str, Any]]] = {
    **errors.NOT_FOUND,
    409: {"model": errors.ErrorOut, "description": "The alert's status does not allow this"},
}


@router.get("/alerts", summary="Alerts, newest first")
def list_alerts(
    db: DbSession,
    _who: Operator,
    status_: Annotated[Literal["open", "all"], Query(alias="status")] = "open",
    since: Annotated[datetime | None, Query(description="Raised at or after (ISO 8601)")] = None,
) -> list[dict[str, Any]]:
    if since is not None:
        try:
            since = local_time(since) if since.tzinfo is not None else None
        except ValueError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"since: {exc}") from exc
        if since is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="since needs a time zone")
    alerts = store.listing(db, open_only=status_ == "open", since=since)
    return [a.to_json() for a in alerts]


def _sse(alert: Alert) -> bytes:
    return f"data: {json.dumps(alert.to_json(), separators=(',', ':'))}\n\n".encode()


@router.get("/alerts/stream", include_in_schema=False)
async def stream(request: Request, ctx: Context, _who: Operator) -> StreamingResponse:
    inbox = Inbox(ctx.alerts)

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        end = loop.time() + STREAM_S
        try:
            yield b": connected\n\n"
            while (left := end - loop.time()) > 0:
                try:
                    alert = await asyncio.wait_for(inbox.queue.get(), min(left, KEEPALIVE_S))
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                if alert is None:
                    return
                yield _sse(alert)
        finally:
            inbox.close()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _step(ctx: Context, db: DbSession, alert_id: int, what: Step, by: str) -> dict[str, Any]:
    try:
        alert = store.step(db, alert_id, what, now=ctx.clock.now(), by=by)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except LifecycleError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    db.commit()
    ctx.alerts.publish([alert])
    return alert.to_json()


@router.post("/alerts/{alert_id}/acknowledge", responses=LIFECYCLE, summary="Acknowledge")
def acknowledge(alert_id: AlertId, ctx: Context, db: DbSession, who: Operator) -> dict[str, Any]:
    return _step(ctx, db, alert_id, "acknowledge", who.name)


@router.post("/alerts/{alert_id}/resolve", responses=LIFECYCLE, summary="Resolve")
def resolve(alert_id: AlertId, ctx: Context, db: DbSession, who: Operator) -> dict[str, Any]:
    return _step(ctx, db, alert_id, "resolve", who.name)


# ---- events ------------------------------------------------------------------------------
@router.get("/events", summary="Events with their zones and phases (UTC)")
def list_events(db: DbSession, _who: Operator) -> list[dict[str, Any]]:
    return [event_json(e) for e in store.events(db)]


@router.get("/events/{name}", responses=errors.NOT_FOUND, summary="One event")
def get_event(name: EventName, db: DbSession, _who: Operator) -> dict[str, Any]:
    ev = store.get_event(db, name)
    if ev is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no event {name}")
    return event_json(ev)


def _save(ctx: Context, db: DbSession, spec: EventSpec, *, create: bool) -> dict[str, Any]:
    try:
        ev = spec.to_event()
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    known = {a for (a,) in db.execute(select(Asset.id).where(Asset.id.in_(ev.zones)))}
    if missing := sorted(set(ev.zones) - known):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"unknown zones: {missing}")
    exists = store.get_event(db, ev.name) is not None
    if create and exists:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"event {ev.name} exists")
    if not create and not exists:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no event {ev.name}")
    store.save_event(db, ev, now=ctx.clock.now())
    db.commit()
    return event_json(ev)


@router.post(
    "/events",
    status_code=201,
    responses={409: errors.CONFLICT[409]},
    summary="Add an event (times without offset are Stockholm time)",
)
def add_event(
    spec: Annotated[EventSpec, Body()], ctx: Context, db: DbSession, _who: Operator
) -> dict[str, Any]:
    return _save(ctx, db, spec, create=True)


@router.put("/events/{name}", responses=errors.NOT_FOUND, summary="Replace an event")
def put_event(
    name: EventName,
    spec: Annotated[EventSpec, Body()],
    ctx: Context,
    db: DbSession,
    _who: Operator,
) -> dict[str, Any]:
    if spec.name != name:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="the name in the path and body differ"
        )
    return _save(ctx, db, spec, create=False)


@router.delete("/events/{name}", status_code=204, responses=errors.NOT_FOUND, summary="Remove")
def delete_event(name: EventName, db: DbSession, _who: Operator) -> None:
    if not store.remove_event(db, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no event {name}")
    db.commit()


@router.get("/events/{name}/zones", responses=errors.NOT_FOUND, summary="An event's zones now")
def event_zones(name: EventName, db: DbSession, _who: Operator) -> list[dict[str, Any]]:
    """Each zone's position and its last crowd figures (for the operator page's map)."""
    ev = store.get_event(db, name)
    if ev is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no event {name}")
    assets = {a.id: a for a in db.scalars(select(Asset).where(Asset.id.in_(ev.zones)))}
    keys = [f"crowd:{z}" for z in ev.zones]
    states = {r.key: r.state for r in db.scalars(select(RuleState).where(RuleState.key.in_(keys)))}
    out = []
    for zone in ev.zones:
        a = assets.get(zone)
        figures = dict(states.get(f"crowd:{zone}", {}).get("figures", []))
        out.append(
            {
                "zone": zone,
                "name": a.address if a else None,
                "lat": a.lat if a else None,
                "lon": a.lon if a else None,
                "figures": {k: v for k, v in figures.items() if isinstance(v, int | float | str)},
            }
        )
    return out
