"""Every API request answers in time: a dependency that is down or hangs gives 503.

A request still running at the deadline, or ended by the SQL database being unreachable
(connection refused or lost, pool exhausted, statement timeout), gets ``503 Service
Unavailable`` with ``Retry-After``, instead of a hang, a 500 or a reset connection. A
response already started cannot be replaced; its connection is closed as it stands.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


def unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot answer now", not "bad request"."""
    if isinstance(exc, OperationalError | PoolTimeoutError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class UnavailableMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        deadline_s: float,
        retry_after_s: float = 5.0,
        streams: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.streams = streams  # paths whose answer is a stream, which ends on its own terms
        self.deadline_s = deadline_s
        self.retry_after = str(max(1, math.ceil(retry_after_s)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.streams:
            await self.app(scope, receive, send)
            return
        started = answered = False

        async def watch(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the request outlived its deadline and has been answered
            started = started or message["type"] == "http.response.start"
            await send(message)

        # A task rather than a timeout around the call: a route blocked in a worker thread
        # cannot be cancelled before its thread returns, and the caller must not wait for it.
        task = asyncio.ensure_future(self.app(scope, receive, watch))
        done, _ = await asyncio.wait({task}, timeout=self.deadline_s)
        if not done:
            answered = True
            task.cancel()
            task.add_done_callback(_forget)
            log.warning(
                "%s %s: no answer within %gs", scope["method"], scope["path"], self.deadline_s
            )
            if not started:
                await self._answer(send, "deadline")
            return
        exc = task.exception()
        if exc is None:
            return
        if started or not unavailable(exc):
            raise exc
        log.warning("%s %s: 503 (%s)", scope["method"], scope["path"], type(exc).__name__)
        await self._answer(send, type(exc).__name__)

    async def _answer(self, send: Send, why: str) -> None:
        body = json.dumps(
            {"detail": "service temporarily unavailable, retry later", "reason": why}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", self.retry_after.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _forget(task: asyncio.Future[None]) -> None:
    """Collect the outcome of a request abandoned at its deadline, so it is not reported."""
    if not task.cancelled():
        task.exception()
