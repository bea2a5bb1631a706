"""The hub's attention: the clock time in which it could have heard a device. Pure.

A device is silent only by what the hub could have received. Two things make the hub deaf
without any device being at fault, and both are subtracted from a device's silence:

* *stalls*: spans of clock time in which the hub did not run (its event loop blocked, the
  machine overloaded, the process stopped), recorded as closed spans by
  :class:`hub.attention_monitor.AttentionMonitor`;
* *backlog*: messages the hub has received but not yet handled (read ahead, in its
  pipeline, waiting for the rules). Whatever arrived after the oldest of them may hold a
  sign of life, so the hub has heard the fleet only up to that arrival (:meth:`behind`).

:meth:`Attention.deaf_ms` gives the deaf time within a silence; device liveness
(:mod:`hub.device_state`) and the offline rule (:mod:`hub.rules.device`) both subtract it,
so the two can never disagree about a stall. Safe to read from the rules' worker thread
while the event loop records (one lock).
"""

from __future__ import annotations

import bisect
import threading

# Stall spans kept at most; the oldest go first (a silence older than all of them is long
# past any heartbeat timeout anyway).
MAX_SPANS = 4096


class Attention:
    """Stall spans (clock ms, merged, sorted) and the backlog's frontier."""

    def __init__(self, *, max_spans: int = MAX_SPANS) -> None:
        if max_spans < 1:
            raise ValueError("max_spans must be >= 1")
        self._max = max_spans
        self._starts: list[int] = []
        self._ends: list[int] = []
        # Running total of stall lengths: _total[k + 1] - _total[k] is span k's length, so
        # the stalls within a silence cost two bisections, not a walk over the spans.
        self._total: list[int] = [0]
        self._behind_from: int | None = None
        self._lock = threading.Lock()

    def stalled(self, start_ms: int, end_ms: int) -> None:
        """The hub heard nothing from ``start_ms`` to ``end_ms``; overlapping spans merge."""
        if end_ms <= start_ms:
            return
        with self._lock:
            starts, ends = self._starts, self._ends
            i = bisect.bisect_left(ends, start_ms)  # first span that ends at/after our start
            j = bisect.bisect_right(starts, end_ms)  # spans before j start at/before our end
            if i < j:
                start_ms = min(start_ms, starts[i])
                end_ms = max(end_ms, ends[j - 1])
            starts[i:j] = [start_ms]
            ends[i:j] = [end_ms]
            total = self._total
            del total[i + 1 :]
            for k in range(i, len(starts)):  # mostly the last span only
                total.append(total[k] + ends[k] - starts[k])
            if len(starts) > self._max:
                del starts[0], ends[0], total[0]

    def behind(self, since_ms: int | None) -> None:
        """Messages that arrived from ``since_ms`` on are not handled yet; ``None``: the hub
        has handled everything it received."""
        with self._lock:
            self._behind_from = since_ms

    def deaf_ms(self, since_ms: int, now_ms: int) -> int:
        """Of the time from ``since_ms`` to ``now_ms``, how much the hub could not hear: the
        unhandled backlog's span plus the stalls before it. 0 when ``now_ms <= since_ms``."""
        if now_ms <= since_ms:
            return 0
        with self._lock:
            heard_to = now_ms if self._behind_from is None else self._behind_from
            heard_to = min(max(heard_to, since_ms), now_ms)
            deaf = now_ms - heard_to
            starts, ends = self._starts, self._ends
            i = bisect.bisect_right(ends, since_ms)  # spans i..j-1 overlap the silence
            j = bisect.bisect_left(starts, heard_to)
            if i < j:
                deaf += self._total[j] - self._total[i]
                deaf -= max(0, since_ms - starts[i]) + max(0, ends[j - 1] - heard_to)
        return deaf

    def silent_ms(self, since_ms: int, now_ms: int) -> int:
        """Clock time from ``since_ms`` to ``now_ms`` in which the hub could have heard a
        device and did not."""
        return max(0, now_ms - since_ms - self.deaf_ms(since_ms, now_ms))

    def spans(self) -> list[tuple[int, int]]:
        """The recorded stall spans, oldest first (for tests and diagnostics)."""
        with self._lock:
            return list(zip(self._starts, self._ends, strict=True))
