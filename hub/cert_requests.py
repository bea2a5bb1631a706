"""Whether the hub may sign a pole's certificate request now. Pure: no I/O, no clock.

The checks that need no cryptography come first (who asks, how often), so a device that
floods the hub with requests costs it no ``openssl`` run; what the request itself holds is
judged by :func:`trygg.certs.request_refusal` once openssl has read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Limits:
    request_gap: timedelta  # between two requests of one device that the hub looks at
    sign_gap: timedelta  # between two certificates signed for one device


@dataclass
class History:
    """When each device last had a request looked at and a certificate signed."""

    asked: dict[str, datetime] = field(default_factory=dict)
    signed: dict[str, datetime] = field(default_factory=dict)


def admission(
    device: str,
    *,
    known: frozenset[str],
    blocked: frozenset[str],
    history: History,
    limits: Limits,
    now: datetime,
) -> str | None:
    """Why the request of ``device`` is refused before it is read, or None to read it.

    A refusal for asking too often is not recorded as a request, so a device that keeps
    asking is answered again once the gap has passed."""
    if device in blocked:
        return "device is blocked"
    if device not in known:
        return "device is not registered"
    asked = history.asked.get(device)
    if asked is not None and now - asked < limits.request_gap:
        return f"too many requests: wait {_seconds(limits.request_gap - (now - asked))} s"
    signed = history.signed.get(device)
    if signed is not None and now - signed < limits.sign_gap:
        return f"renewed recently: wait {_seconds(limits.sign_gap - (now - signed))} s"
    return None


def _seconds(left: timedelta) -> int:
    return max(1, int(left.total_seconds() + 0.999))
