"""What changed since the last look: the pure part of the live ticket stream.

A :class:`Watermark` remembers the newest ``updated_at`` seen and each ticket's state at that
instant, so a poll that returns every visible ticket updated at or after it reports exactly
the tickets that are new or changed (several changes can share one timestamp).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Row(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def alarm_count(self) -> int: ...
    @property
    def assignee(self) -> str | None: ...


def _state(r: Row) -> tuple[object, ...]:
    return (r.status, r.updated_at, r.alarm_count, r.assignee)


@dataclass
class Watermark:
    since: datetime | None = None
    seen: dict[int, tuple[object, ...]] = field(default_factory=dict)

    def changed(self, rows: Iterable[Row]) -> list[int]:
        """Ids among ``rows`` (all updated at or after ``since``) not seen in this state."""
        rows = list(rows)
        out = [r.id for r in rows if self.seen.get(r.id) != _state(r)]
        if rows:
            newest = max(r.updated_at for r in rows)
            if self.since is None or newest > self.since:
                self.since = newest
                self.seen = {}
            for r in rows:
                if r.updated_at == self.since:
                    self.seen[r.id] = _state(r)
        return out
