"""An alert's lifecycle as a pure state machine, with the audit line of each step.

=============  ===============================================  =========================
from           step                                             to
=============  ===============================================  =========================
raised         acknowledge (an operator)                        acknowledged
raised,        escalate (nobody acknowledged within the         escalated, level + 1
escalated      timeout; at most once per contact in the chain)
raised,        acknowledge                                      acknowledged
escalated
any open       resolve (an operator, or the condition cleared)  resolved
resolved       anything                                         refused (LifecycleError)
=============  ===============================================  =========================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from hub.alerts.model import Alert

Step = Literal["acknowledge", "escalate", "resolve"]


class LifecycleError(ValueError):
    """The step is not allowed from the alert's status; nothing changed."""


@dataclass(frozen=True, slots=True)
class Audit:
    """One line of an alert's history: who did what, when, from which status to which."""

    step: str
    by: str
    at: datetime
    old: str
    new: str


def advance(alert: Alert, step: Step, *, now: datetime, by: str) -> tuple[Alert, Audit]:
    """The alert after ``step`` and the audit line; LifecycleError when not allowed."""
    if not alert.open:
        raise LifecycleError(f"alert {alert.id} is {alert.status}: cannot {step}")
    if step == "acknowledge":
        if alert.status == "acknowledged":
            raise LifecycleError(f"alert {alert.id} is already acknowledged")
        new = replace(alert, status="acknowledged", acknowledged_at=now)
    elif step == "escalate":
        if alert.status == "acknowledged":
            raise LifecycleError(f"alert {alert.id} is acknowledged: no escalation")
        new = replace(
            alert,
            status="escalated",
            escalated_at=now,
            escalation_level=alert.escalation_level + 1,
        )
    else:
        new = replace(alert, status="resolved", resolved_at=now)
    return new, Audit(step, by, now, alert.status, new.status)


def escalation_due(alert: Alert, *, now: datetime, ack_timeout_s: float, chain: int) -> bool:
    """Whether nobody acknowledged ``alert`` within ``ack_timeout_s`` of its raise or last
    escalation, and a further contact is left in a chain of ``chain`` contacts."""
    if alert.status not in ("raised", "escalated") or alert.escalation_level >= chain:
        return False
    since = alert.escalated_at or alert.raised_at
    return now - since >= timedelta(seconds=ack_timeout_s)
