"""Who hears of alert changes: an in-process publish/subscribe of every state change.

The rules publish from their worker thread after the transaction committed; a subscriber
is a plain callback (it must be quick and must not raise) or an :class:`Inbox`, an asyncio
queue fed thread-safely on the loop that made it (the SSE stream is one). A subscriber that
fails is logged and the others still hear.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable

from hub.alerts.model import Alert

log = logging.getLogger(__name__)
Listener = Callable[[Alert], None]


class Bus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each changed alert; returns the unsubscribe function."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.published += 1
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                try:
                    listener(alert)
                except Exception:
                    log.exception("alert subscriber failed on alert %d", alert.id)


class Inbox:
    """An asyncio queue of changed alerts for one reader on the current loop; when the
    reader falls ``limit`` behind, the oldest are dropped (it can reload the list)."""

    def __init__(self, bus: Bus, *, limit: int = 1000) -> None:
        self._loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=limit)
        self._unsubscribe = bus.subscribe(self._hear)

    def _hear(self, alert: Alert) -> None:
        self._loop.call_soon_threadsafe(self._put, alert)

    def _put(self, alert: Alert) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(alert)

    def close(self) -> None:
        self._unsubscribe()


default_bus = Bus()
subscribe = default_bus.subscribe
