"""``GET /api/v1/tickets/stream``: new and changed tickets as server-sent events.

Each event is one ticket as the list shows it (``event: ticket``), for the tickets the caller
may see (a crew its own area). The hub polls its database (the tickets may be changed by any
hub process), so an event follows a change within ``stream_poll_s``; a comment line every
few seconds keeps proxies from closing an idle stream. The token is checked again now and
then, so a revoked or expired one ends the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import access, auth
from hub.api import errors
from hub.api.deps import Context, HubContext
from hub.api.security import CurrentUser
from hub.api.ticket_feed import Watermark
from hub.api.tickets import TicketOut
from hub.db import Ticket

router = APIRouter(tags=["tickets"], responses=errors.AUTHED)
_KEEPALIVE_S: Final = 15.0
_RECHECK_S: Final = 30.0


def _visible(who: auth.Principal, s: Session, wm: Watermark, *, prime: bool) -> list[Ticket]:
    """Tickets updated at or after the watermark; when priming, the newest instant's alone."""
    q = access.restrict(who, select(Ticket))
    if prime:
        newest = s.scalar(access.restrict(who, select(func.max(Ticket.updated_at))))
        return [] if newest is None else list(s.scalars(q.where(Ticket.updated_at == newest)))
    if wm.since is not None:
        q = q.where(Ticket.updated_at >= wm.since)
    return list(s.scalars(q.order_by(Ticket.updated_at)))


def _poll(ctx: HubContext, who: auth.Principal, wm: Watermark, *, prime: bool = False) -> list[str]:
    with ctx.sessions() as s:
        rows = _visible(who, s, wm, prime=prime)
        fresh = set(wm.changed(rows))
        return [TicketOut.model_validate(r).model_dump_json() for r in rows if r.id in fresh]


def _still_valid(ctx: HubContext, token: str) -> bool:
    with ctx.sessions() as s:
        try:
            auth.authenticate(s, token=token, now=ctx.clock.now())
        except auth.AuthError:
            return False
        s.commit()
        return True


async def _events(
    request: Request, ctx: HubContext, who: auth.Principal, token: str
) -> AsyncIterator[str]:
    wm = Watermark()
    await asyncio.to_thread(lambda: _poll(ctx, who, wm, prime=True))  # what the caller has
    yield "retry: 3000\n\n"
    quiet_since = checked = time.monotonic()
    while not await request.is_disconnected():
        await asyncio.sleep(ctx.config.stream_poll_s)
        now = time.monotonic()
        if now - checked > _RECHECK_S:
            if not await asyncio.to_thread(_still_valid, ctx, token):
                yield "event: end\ndata: token no longer valid\n\n"
                return
            checked = now
        for doc in await asyncio.to_thread(_poll, ctx, who, wm):
            yield f"event: ticket\ndata: {doc}\n\n"
            quiet_since = now
        if now - quiet_since > _KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet_since = now


@router.get(
    "/tickets/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def stream(request: Request, ctx: Context, who: CurrentUser) -> StreamingResponse:
    """New and changed tickets the caller may see, as they happen (``text/event-stream``)."""
    token = request.headers.get("authorization", "").partition(" ")[2]
    return StreamingResponse(
        _events(request, ctx, who, token),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
