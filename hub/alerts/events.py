"""Who hears of alert changes: an in-process publish/subscribe of every state change.

The rules publish from their worker thread after the transaction committed; a subscriber
is a plain callback (it must be quick and must not raise) or an :class:`Inbox`, an asyncio
queue fed thread-safely on the loop that made it (the SSE stream is one). A subscriber that
fails is logged and the others still hear. Changes another hub made reach the bus through
:mod:`hub.alerts.relay` marked as relayed; a ``local_only`` subscriber (one that acts on
this process's own changes only) does not hear those.
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
        self._listeners: list[tuple[Listener, bool]] = []  # with: hears only local changes
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.published = 0
        self.closed = False

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._listeners)

    def subscribe(self, listener: Listener, *, local_only: bool = False) -> Callable[[], None]:
        """Call ``listener`` with each changed alert (with ``local_only``, only those this
        process changed); returns the unsubscribe function."""
        entry = (listener, local_only)
        with self._lock:
            self._listeners.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return unsubscribe

    def on_close(self, closer: Callable[[], None]) -> Callable[[], None]:
        """Call ``closer`` when the bus closes (the hub stops); returns the undo function."""
        with self._lock:
            self._closers.append(closer)

        def undo() -> None:
            with self._lock:
                if closer in self._closers:
                    self._closers.remove(closer)

        return undo

    def close(self) -> None:
        """The hub stops: long-lived readers (the SSE streams) end."""
        with self._lock:
            self.closed = True
            closers = list(self._closers)
        for closer in closers:
            closer()

    def publish(self, alerts: Iterable[Alert], *, relayed: bool = False) -> None:
        """Tell every subscriber; ``relayed``: another hub made these changes."""
        for alert in alerts:
            self.published += 1
            with self._lock:
                listeners = [f for f, local_only in self._listeners if not (relayed and local_only)]
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
        self.queue: asyncio.Queue[Alert | None] = asyncio.Queue(maxsize=limit)
        self._unsubscribe = bus.subscribe(self._hear)
        self._undo = bus.on_close(lambda: self._hear(None))
        if bus.closed:
            self._put(None)

    def _hear(self, alert: Alert | None) -> None:
        """From any thread; None tells the reader to stop."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._put, alert)

    def _put(self, alert: Alert | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(alert)

    def close(self) -> None:
        self._unsubscribe()
        self._undo()


default_bus = Bus()
subscribe = default_bus.subscribe
