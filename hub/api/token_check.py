"""Is this bearer token one the hub issued and still honours? Cheap enough for every request.

The rate limiter asks before it picks a bucket, so a made-up token counts as anonymous.
Answers are cached by the token's digest for a short time; a revoked token may therefore
keep its own bucket for up to ``ttl_s`` seconds, but its requests are refused all the same
by the authentication that each route does.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import auth
from hub.db import ApiToken, User
from trygg.clock import Clock

_MAX_ENTRIES = 10_000


class TokenCheck:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        ttl_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl_s
        self._mono = monotonic
        self._cache: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    def _lookup(self, digest: str) -> bool:
        now = self._clock.now()
        with self._sessions() as s:
            row = s.execute(
                select(ApiToken.revoked_at, ApiToken.expires_at, User.active)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.digest == digest)
            ).first()
        if row is None:
            return False
        revoked, expires, active = row
        return revoked is None and (expires is None or expires > now) and bool(active)

    async def valid(self, token: str) -> bool:
        """True if ``token`` is issued, unrevoked, unexpired and its user active."""
        if not token.startswith(auth.TOKEN_PREFIX) or len(token) > 200:
            return False
        key = auth.digest(token)
        hit = self._cache.get(key)
        if hit is not None and hit[1] > self._mono():
            return hit[0]
        ok = await asyncio.to_thread(self._lookup, key)
        self._cache[key] = (ok, self._mono() + self._ttl)
        self._cache.move_to_end(key)
        if len(self._cache) > _MAX_ENTRIES:  # bounded: forget the oldest answer
            self._cache.popitem(last=False)
        return ok
