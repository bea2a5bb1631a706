"""Request limits: token-bucket rate limiting and a cap on request body size.

The bucket arithmetic is pure (it takes ``now`` in seconds); the middleware is a thin ASGI
shell so an oversized upload is refused before it is read into memory.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.client_ip import ClientAddress

_MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Per-key token buckets; ``take`` answers 0 (allowed) or the seconds to wait."""

    def __init__(
        self, *, per_minute: float, burst: int, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._now = now
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        now = self._now()
        b = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
        b.at = now
        self._buckets[key] = b
        if len(self._buckets) > _MAX_KEYS:  # bounded: forget the least recently seen
            self._buckets.popitem(last=False)
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate


async def _reply(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyTooLargeError(HTTPException):
    """Raised from ``receive`` while the body streams in; an HTTPException so that FastAPI,
    which turns other errors while reading a body into a 400, answers it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body too large (limit {limit} bytes)")


class LimitsMiddleware:
    """Refuse bodies over the limit (413) and callers over their rate (429, Retry-After).

    Anonymous requests share one bucket per client address; POSTs have a second bucket.
    A request is anonymous unless its bearer token is one ``known`` accepts. The client
    address is the one ``clients`` derives (``X-Forwarded-For`` from trusted proxies only);
    it is left in ``scope["state"]["client_ip"]`` for the routes.
    Upload routes (``photo_paths``) get the photo limit instead of the body limit, and a
    release upload (``release_path``) the release limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        photo_max: int,
        anon: RateLimiter,
        post: RateLimiter,
        known: Callable[[str], Awaitable[bool]],
        clients: ClientAddress,
        photo_suffix: str = "/api/v1/tickets",
        release_max: int = 0,
        release_path: str = "/api/v1/releases",
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.photo_max = photo_max
        self.anon = anon
        self.post = post
        self.known = known
        self.clients = clients
        self.photo_suffix = photo_suffix
        self.release_max = release_max
        self.release_path = release_path

    def _limit(self, scope: Scope) -> int:
        path: str = scope["path"]
        if scope["method"] == "POST" and (path == self.photo_suffix or path.endswith("/photos")):
            return self.photo_max + 64 * 1024  # multipart framing and form fields
        if scope["method"] == "POST" and path == self.release_path and self.release_max:
            return self.release_max
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # ASGI header values are bytes in latin-1; decoding so never fails on odd input.
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        peer = (scope.get("client") or ("?", 0))[0]
        client = self.clients.of(peer, headers.get("x-forwarded-for"))
        scope.setdefault("state", {})["client_ip"] = client
        scheme, _, token = headers.get("authorization", "").partition(" ")
        authed = scheme.lower() == "bearer" and await self.known(token.strip())
        waits = []
        if not authed and not scope["path"].startswith("/crew/static"):
            waits.append(self.anon.take(client))
            scope["state"]["anon_charged"] = True
        if scope["method"] in {"POST", "PUT", "PATCH", "DELETE"}:
            waits.append(self.post.take(client))
        wait = max(waits, default=0.0)
        if wait > 0:
            await _reply(
                send,
                429,
                "rate limit exceeded; retry later",
                [(b"retry-after", str(max(1, round(wait))).encode())],
            )
            return
        limit = self._limit(scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reply(send, 413, f"request body too large (limit {limit} bytes)", [])
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _BodyTooLargeError(limit)
            return msg

        async def tracked(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLargeError:
            if not started:
                await _reply(send, 413, f"request body too large (limit {limit} bytes)", [])
