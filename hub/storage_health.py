"""Whether InfluxDB currently stores what the hub writes, and if not, why — in words.

The ingest reports every write's outcome here; :meth:`StorageHealth.problem` is what the
hub's readiness and self-alarm read. A refusal of points for their content is not a
storage problem (InfluxDB works; those points are dead letters); a refusal for any other
reason, or no answer at all, is one until a write is stored again.
"""

from __future__ import annotations

import logging

from hub.influx_answer import WriteAnswer

log = logging.getLogger(__name__)


class StorageHealth:
    def __init__(self) -> None:
        self._answer: WriteAnswer | None = None
        self.since_ms: int | None = None

    def stored(self) -> None:
        """A write was stored."""
        if self._answer is not None:
            log.info("InfluxDB stores writes again (after: %s)", self._answer.reason())
        self._answer = None
        self.since_ms = None

    def not_stored(self, answer: WriteAnswer, *, now_ms: int) -> None:
        """A write was not stored for ``answer``'s reason (not the data's fault)."""
        if answer.stored or answer.refused_data:
            return
        if self._answer is None or self._answer.reason() != answer.reason():
            log.warning("%s; keeping the data and retrying", answer.reason())
        if self._answer is None:
            self.since_ms = now_ms
        self._answer = answer

    def problem(self) -> str | None:
        """None while InfluxDB stores writes; else why not (the latest failed write)."""
        return self._answer.reason() if self._answer is not None else None
