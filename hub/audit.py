"""The audit trail: every administrative change, who made it, when, and before/after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import AuditEntry


def record(
    s: Session,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction, so the change and its record commit
    together or not at all."""
    entry = AuditEntry(
        at=now,
        actor=actor[:64],
        action=action[:64],
        target=target[:200],
        before=before,
        after=after,
    )
    s.add(entry)
    return entry


def entries(
    s: Session, *, limit: int = 100, action: str | None = None, target: str | None = None
) -> list[AuditEntry]:
    """The newest entries first, optionally of one action or one target."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action is not None:
        q = q.where(AuditEntry.action == action)
    if target is not None:
        q = q.where(AuditEntry.target == target)
    return list(s.scalars(q))
