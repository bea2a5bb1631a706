"""The ingest's backlog: arrival times of received batches not fully handled yet.

A batch enters when the consumer takes its first messages from the connection and leaves
once its effects are handled (device state committed and the rules fed). Until then, its
devices' signs of life are unknown to the hub, so the hub has heard the fleet only up to the
oldest arrival here (:meth:`Backlog.oldest`, watched by the attention monitor).
"""

from __future__ import annotations

import itertools


class Backlog:
    """Monotonic arrival times by token, in the order they entered. Event-loop use only."""

    def __init__(self) -> None:
        self._arrivals: dict[int, float] = {}
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return len(self._arrivals)

    def enter(self, arrived: float) -> int:
        """A batch whose oldest message arrived at ``arrived``; returns its token."""
        token = next(self._tokens)
        self._arrivals[token] = arrived
        return token

    def leave(self, token: int | None) -> None:
        """The batch is handled (again: nothing happens)."""
        if token is not None:
            self._arrivals.pop(token, None)

    def clear(self) -> None:
        """A new broker session: what was not handled is re-delivered and enters again."""
        self._arrivals.clear()

    def oldest(self) -> float | None:
        """The earliest arrival still waiting; None when the backlog is empty."""
        return min(self._arrivals.values(), default=None)
