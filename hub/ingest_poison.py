"""One message the SQL database refuses for its content must not wedge the ingest.

The contract and text hygiene refuse bad content before it reaches SQL, but a database can
still refuse something they let through (a value its column type cannot hold, a constraint).
Such a refusal is the data's fault, not the database's: retrying the same batch fails for
ever, and the broker re-delivers it after every restart. So when a batch's commit fails for
its content, each birth and dead letter of the batch is tried alone (rolled back); the ones
refused are replaced by a dead letter of their own (reason ``sql_refused``, the database's
error in words) and the rest of the batch is committed and acknowledged as usual.
Operational errors (database down, deadlock, timeout) are not content: they propagate, and
the batch is retried by the caller's own means.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Final

from sqlalchemy.exc import DBAPIError, OperationalError, StatementError

from hub.health import describe
from hub.ingest_batch import Rejected
from hub.ingest_store import BatchWrite, IngestStore
from trygg import contract as c

log = logging.getLogger(__name__)

REASON: Final = "sql_refused"


def refused_for_content(exc: BaseException) -> bool:
    """True when the database refused the data itself (DataError, IntegrityError, a value
    it cannot bind), False for an unreachable, busy or restarted database."""
    if isinstance(exc, OperationalError):
        return False
    if isinstance(exc, DBAPIError):
        return not exc.connection_invalidated
    return isinstance(exc, StatementError | ValueError | OverflowError)


def write(store: IngestStore, batch: BatchWrite, *, at_ms: int) -> list[Rejected]:
    """Commit ``batch``; if the database refuses it for its content, commit it without the
    refused births and dead letters, and with a ``sql_refused`` dead letter for each.
    Returns those new dead letters (their count is in the committed counters too)."""
    try:
        store.write(batch)
    except Exception as exc:
        if not refused_for_content(exc):
            raise
        log.warning("SQL refused a batch for its content, isolating: %s", describe(exc))
    else:
        return []
    clean, poison = isolate(store, batch, at_ms=at_ms)
    store.write(clean)
    return poison


def isolate(
    store: IngestStore, batch: BatchWrite, *, at_ms: int
) -> tuple[BatchWrite, list[Rejected]]:
    """``batch`` without what the database refuses, and the dead letters replacing it."""
    births: list[c.Birth] = []
    letters: list[Rejected] = []
    poison: list[Rejected] = []
    for birth in batch.births:
        if (why := _refusal(store, [birth], [])) is None:
            births.append(birth)
        else:
            payload = birth.model_dump_json().encode()
            topic = c.topic_for(birth.device, c.Kind.BIRTH)
            poison.append(Rejected(topic, birth.device, REASON, why, len(payload), payload, at_ms))
    for letter in batch.rejected:
        if (why := _refusal(store, [], [letter])) is None:
            letters.append(letter)
        else:
            size = len(letter.payload)  # the recorded size may be what was refused
            poison.append(replace(letter, reason=REASON, detail=why, size=size, at_ms=at_ms))
    # A replacement whose payload is refused too keeps only its size and reason.
    poison = [p if _refusal(store, [], [p]) is None else replace(p, payload=b"") for p in poison]
    for p in poison:
        log.warning("SQL refused a message from %s on %s: dead-lettered", p.device, p.topic)
    counters = dict(batch.counters)
    counters[f"dead.{REASON}"] = counters.get(f"dead.{REASON}", 0) + len(poison)
    clean = BatchWrite(
        births=births, devices=batch.devices, rejected=letters + poison, counters=counters
    )
    return clean, poison


def _refusal(store: IngestStore, births: list[c.Birth], rejected: list[Rejected]) -> str | None:
    try:
        store.probe(births, rejected)
    except Exception as exc:
        if not refused_for_content(exc):
            raise
        return describe(exc)
    return None
