"""Who hears of an alert, and when: ordered contact levels with delays. Pure.

Level 0 is told when an alert is raised; level ``n`` when nobody acknowledged the alert
within the delays of levels 1..n (the alert's ``escalationLevel`` is then ``n``). When an
alert is acknowledged or resolved, everyone told so far hears it, so nobody keeps acting on
an alert that is handled. The levels come from a contacts file
(:mod:`hub.alert_delivery.contacts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.alert_delivery.notice import AlertNotice


@dataclass(frozen=True, slots=True)
class Contact:
    """One escalation level: who, by e-mail and/or which webhook subscription, after what delay."""

    name: str
    email: str | None
    webhook: int | None
    delay_s: float


@dataclass(frozen=True, slots=True)
class Recipients:
    """What one notice goes to: the contacts' e-mails and webhook subscription ids."""

    emails: tuple[str, ...]
    webhooks: tuple[int, ...]


def level_due(levels: Sequence[Contact], *, raised_at: datetime, now: datetime) -> int:
    """The escalation level an unacknowledged alert raised at ``raised_at`` has reached."""
    level, waited = 0, timedelta(0)
    for i, c in enumerate(levels[1:], start=1):
        waited += timedelta(seconds=c.delay_s)
        if now - raised_at < waited:
            break
        level = i
    return level


def recipients(levels: Sequence[Contact], notice: AlertNotice) -> Recipients:
    """Whom ``notice`` goes to: the new level when raised or escalated, all told so far
    when acknowledged or resolved. A level beyond the last contact means the last one."""
    if not levels:
        return Recipients((), ())
    top = min(notice.escalation_level, len(levels) - 1)
    if notice.status in ("raised", "escalated"):
        chosen: Sequence[Contact] = [levels[top]]
    else:
        chosen = levels[: top + 1]
    emails = tuple(dict.fromkeys(c.email for c in chosen if c.email is not None))
    hooks = tuple(dict.fromkeys(c.webhook for c in chosen if c.webhook is not None))
    return Recipients(emails, hooks)


def contact_webhooks(levels: Sequence[Contact]) -> frozenset[int]:
    """Webhook subscriptions named by a level: they get an alert only through its level."""
    return frozenset(c.webhook for c in levels if c.webhook is not None)
