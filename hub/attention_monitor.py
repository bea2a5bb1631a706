"""Measures when the hub could not hear, into its :class:`~hub.attention.Attention`.

Stalls: a task wakes every ``period_s`` and looks at the monotonic time since its last
look; whatever exceeds the period (beyond ``slack_s`` of scheduling jitter) the hub did not
run — its event loop was blocked, the machine overloaded, the process stopped. Ticks that
decide liveness call :meth:`AttentionMonitor.observe` first, so a stall is on record before
the first tick after it, whichever task the loop wakes first.

Backlog: the sources given to :meth:`watch` say when (monotonic) the oldest message the
hub received but has not handled yet arrived; everything after it is not heard yet.

Both are measured in wall seconds and recorded in the clock's time (``Clock.scale``): a
simulator's accelerated clock turns a one-second stall into two simulated minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from hub.attention import Attention
from trygg.aio import wait_event
from trygg.clock import Clock, to_ms

log = logging.getLogger(__name__)

Oldest = Callable[[], float | None]


class AttentionMonitor:
    def __init__(
        self,
        *,
        clock: Clock,
        attention: Attention | None = None,
        period_s: float = 0.1,
        slack_s: float = 0.02,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.attention = attention or Attention()
        self.period_s = period_s
        self.slack_s = slack_s
        self.monotonic = monotonic
        self.stalled_s = 0.0  # wall seconds the hub did not run, in total
        self._sources: list[Oldest] = []
        self._last: float | None = None  # the last look; None while not running

    def watch(self, oldest: Oldest) -> None:
        """Add a backlog source: the monotonic arrival of its oldest unhandled message."""
        self._sources.append(oldest)

    def start(self) -> None:
        """Measure stalls from now on (:meth:`run` does it)."""
        self._last = self.monotonic()

    def observe(self) -> None:
        """Record the stall since the last look (once started) and the backlog's frontier."""
        mono = self.monotonic()
        now_ms = to_ms(self.clock.now())
        scale = self.clock.scale()
        if self._last is not None:
            lost = mono - self._last - self.period_s
            self._last = mono
            if lost > self.slack_s:
                self.stalled_s += lost
                self.attention.stalled(now_ms - round(lost * scale * 1000), now_ms)
                if lost > 1.0:
                    log.warning("the hub did not run for %.1f s: not counted as silence", lost)
        arrivals = [t for source in self._sources if (t := source()) is not None]
        if not arrivals:
            self.attention.behind(None)
        else:
            waited = max(0.0, mono - min(arrivals))
            self.attention.behind(now_ms - round(waited * scale * 1000))

    async def run(self, stop: asyncio.Event) -> None:
        """Look every ``period_s`` until ``stop``."""
        self.start()
        try:
            while not await wait_event(stop, self.period_s):
                self.observe()
        finally:
            self._last = None
