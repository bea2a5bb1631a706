"""One keep-alive timer per event loop for all the MQTT connections on it.

A simulator worker holds a thousand connections; one timer walking them every quarter of
the shortest keep-alive costs far less than a timer (or task) per connection.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import ClassVar, Protocol

log = logging.getLogger(__name__)


class Pinged(Protocol):
    """What the timer needs of a connection."""

    @property
    def keepalive_s(self) -> float: ...

    def keepalive_check(self, now: float) -> None:
        """Send a PINGREQ if due, or drop the connection if the broker went silent."""


class Keepalive:
    """Calls ``keepalive_check`` of every registered connection each ``period_s``.

    The period is a quarter of the shortest keep-alive on the loop (at most ``MAX_PERIOD_S``),
    so a connection that pings after three quarters of its keep-alive without sending
    anything has sent its PINGREQ within one keep-alive, well inside the broker's 1.5."""

    MIN_PERIOD_S = 0.25
    MAX_PERIOD_S = 15.0
    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Keepalive]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._clients: set[Pinged] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.period_s = self.MAX_PERIOD_S

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Keepalive:
        ka = cls._by_loop.get(loop)
        if ka is None:
            ka = cls._by_loop[loop] = cls(loop)
        return ka

    def add(self, client: Pinged) -> None:
        self._clients.add(client)
        keepalive = client.keepalive_s  # 0: none
        period = max(self.MIN_PERIOD_S, min(self.MAX_PERIOD_S, keepalive / 4 or self.MAX_PERIOD_S))
        if period < self.period_s:  # a shorter keep-alive than any before: tick sooner
            self.period_s = period
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._timer is None:
            self._timer = self._loop.call_later(self.period_s, self._tick)

    def discard(self, client: Pinged) -> None:
        self._clients.discard(client)
        if not self._clients and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        now = self._loop.time()
        for client in list(self._clients):
            try:
                client.keepalive_check(now)
            except Exception:  # a failing connection must not stop the others' keep-alive
                log.exception("mqtt keepalive")
        if self._clients and not self._loop.is_closed():
            self._timer = self._loop.call_later(self.period_s, self._tick)
