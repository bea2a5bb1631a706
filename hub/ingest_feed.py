"""What the ingest hands the rules: :data:`hub.rules.inputs.RuleInput` records, in order.

The rules run behind the commit stage through a bounded queue, so they never set the drain
rate of a replayed backlog unless they fall more than ``_DEPTH`` batches behind; a full
queue holds the commit stage back. A batch leaves the ingest's backlog
(:mod:`hub.ingest_backlog`) once the rules have taken its items, or at once if it has none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hub.ingest_backlog import Backlog
from hub.rules.inputs import RuleInput

log = logging.getLogger(__name__)

Items = list[RuleInput]
Sink = Callable[[Items], Awaitable[None]]
# Batches waiting for the rules. Rules run behind ingest (a replayed backlog must not be
# throttled to the rules' pace) but boundedly: a full queue holds the store stage back.
_DEPTH = 16


class RulesFeed:
    """``sink`` is the rules engine's feed (None: nothing is fed, batches leave at once)."""

    def __init__(self, sink: Sink | None, backlog: Backlog) -> None:
        self.sink = sink
        self._backlog = backlog
        self._queue: asyncio.Queue[tuple[Items, int | None]] = asyncio.Queue(_DEPTH)

    async def put(self, items: Items, token: int | None = None) -> None:
        """Queue ``items`` for the rules; ``token`` (a batch's, in the backlog) leaves when
        they are handled."""
        if self.sink is None or not items:
            self._backlog.leave(token)
            return
        await self._queue.put((items, token))

    async def run(self, stop: asyncio.Event) -> None:
        """Feed the rules in order; on stop, drain what is queued (it is stored already)."""
        while True:
            getter = asyncio.ensure_future(self._queue.get())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([getter, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not getter.done():
                getter.cancel()
                break
            await self._feed(*getter.result())
        while not self._queue.empty():
            await self._feed(*self._queue.get_nowait())

    async def _feed(self, items: Items, token: int | None) -> None:
        try:
            if self.sink is not None:
                await self.sink(items)
        except Exception:  # a rules bug must not stop ingest; logged with its traceback
            log.exception("rules sink failed on %d item(s)", len(items))
        finally:
            self._backlog.leave(token)
