"""The alert notices still to deliver, in SQL: ``alert_history`` rows without ``delivered_at``.

Every alert change commits its history row with the alert as it became (see
:mod:`hub.alerts.store`), so the row *is* the notice's durable record: whichever hub holds
the delivery duty reads the rows not yet marked, delivers them and marks each. The mark is
per row rather than a shared "delivered up to" id, so a row that PostgreSQL commits after
a higher id (ids are drawn before commit) is still found, with no look-back window to size.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from hub.alerts import store
from hub.alerts.tables import AlertHistory, AlertRow


@dataclass(frozen=True, slots=True)
class Pending:
    """One alert change still to deliver: its history row and the alert as the API's object."""

    history_id: int
    alert: dict[str, Any]


def take(s: Session, *, limit: int, skip: Collection[int] = ()) -> list[Pending]:
    """Up to ``limit`` undelivered changes, oldest first, leaving out the ids in ``skip``
    (those already under way). A row without its alert (written by an older hub) comes
    with its alert's current state."""
    q = (
        select(AlertHistory.id, AlertHistory.alert, AlertRow)
        .join(AlertRow, AlertRow.id == AlertHistory.alert_id)
        .where(AlertHistory.delivered_at.is_(None))
        .order_by(AlertHistory.id)
        .limit(limit + len(skip))
    )
    out = [
        Pending(history_id, dict(alert) if alert else store.to_alert(row).to_json())
        for history_id, alert, row in s.execute(q)
        if history_id not in skip
    ]
    return out[:limit]


def mark_delivered(s: Session, history_id: int, *, now: datetime) -> bool:
    """Mark one change delivered; False when it was marked already (by another holder)."""
    done = s.execute(
        update(AlertHistory)
        .where(AlertHistory.id == history_id, AlertHistory.delivered_at.is_(None))
        .values(delivered_at=now)
    )
    return cast(CursorResult[Any], done).rowcount == 1


def backlog(s: Session) -> int:
    """How many alert changes wait for delivery."""
    return int(s.scalar(select(func.count()).where(AlertHistory.delivered_at.is_(None))) or 0)
