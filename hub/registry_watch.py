"""Registry changes reach a running hub: poll the registry version, reload on change.

Every registry change (``trygg admin devices ...`` or the admin API, from any process)
raises one version number in SQL (:func:`hub.registry.bump`); the hub reads it every
``registry_poll_s`` and, when it moved, reads the registry again and hands it to the ingest,
so a registered device is taken from its next message and a blocked one dropped, no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub import registry
from hub.registry import Snapshot

log = logging.getLogger(__name__)


class RegistryWatch:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        apply: Callable[[Snapshot], None],
        poll_s: float,
    ) -> None:
        self.sessions = sessions
        self.apply = apply
        self.poll_s = poll_s
        self.version: int | None = None

    def _version(self) -> int:
        with self.sessions() as s:
            return registry.version(s)

    def _snapshot(self) -> Snapshot:
        with self.sessions() as s:
            return registry.snapshot(s)

    def load(self) -> Snapshot:
        """The registry as it is now (blocking: for start-up, in a thread)."""
        snap = self._snapshot()
        self.version = snap.version
        return snap

    async def check(self) -> bool:
        """Reload and apply the registry if its version moved; True if it did."""
        current = await asyncio.to_thread(self._version)
        if current == self.version:
            return False
        snap = await asyncio.to_thread(self._snapshot)
        self.apply(snap)  # on the event loop, between two classifications
        log.info(
            "registry version %s -> %s: %d devices known, %d blocked",
            self.version,
            snap.version,
            len(snap.known),
            len(snap.blocked),
        )
        self.version = snap.version
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
            if stop.is_set():
                return
            try:
                await self.check()
            except SQLAlchemyError as exc:
                # The database is away for a moment: the registry in memory stays valid.
                log.warning("registry check failed, retrying: %s", exc)
