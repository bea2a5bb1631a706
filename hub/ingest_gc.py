"""Garbage-collector settings for a draining hub.

Why: the ingest allocates several objects per reading (the validated message, its
readings, their lines) and keeps a few batches of them alive in the pipeline. With
CPython's default threshold (a young collection every 700 net allocations) and the hub's
large long-lived heap (SQLAlchemy, FastAPI, pydantic schemas), a replayed backlog spent
a large share of its time in the cyclic collector (profile ``python -m bench.ingest`` to
see it). So while the ingest
runs: everything that exists at start-up is frozen out of the collector's scans, and young
collections run every ``_GEN0`` allocations (older generations at the default ratios, so a
full collection still comes every few million allocations, a few seconds of draining).
Reference counting still frees nearly all of the hot path's objects at once; only cycles
wait a little longer, so memory stays bounded.

Process-wide and reference-counted: the settings are restored when the last ingest using
them stops (tests run several hubs in one process).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Final

_GEN0: Final = 50_000
_users = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def tuned() -> Iterator[None]:
    global _users, _saved  # noqa: PLW0603 - one process-wide setting, counted
    if _users == 0:
        _saved = gc.get_threshold()
        # No full collection first: on the hub's heap it took 0.12-0.15 s of every start
        # (the drain's clock runs from the start). Cyclic garbage from before the start is
        # frozen with the rest and kept until the unfreeze: a bounded, one-time amount.
        gc.freeze()
        gc.set_threshold(_GEN0, _saved[1], _saved[2])
    _users += 1
    try:
        yield
    finally:
        _users -= 1
        if _users == 0 and _saved is not None:
            gc.set_threshold(*_saved)
            gc.unfreeze()
            _saved = None
