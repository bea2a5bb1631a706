"""During a CA rollover, the hub asks each registered pole that has no certificate from
the next issuing CA yet to renew now (the ``renew_certificate`` command, through the
durable command outbox), so the whole fleet moves during the overlap instead of at each
pole's own renewal date, months later.

A pole is asked again once its last request is ``again`` old without a certificate from
the next CA (it was offline, or refused); ``trygg provision ca-rollover status`` lists
those still missing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import commands, registry
from hub.db import DeviceCommand
from trygg.pki import Pki

RENEW: Final = "renew_certificate"
AGAIN: Final = timedelta(hours=6)
PER_PASS: Final = 200  # a fleet moves in batches, not all in one burst of signatures


def nudge(
    s: Session,
    *,
    issuing: Path,
    now: datetime,
    again: timedelta = AGAIN,
    limit: int = PER_PASS,
) -> list[str]:
    """Queue ``renew_certificate`` for poles not yet on the next issuing CA; returns their
    ids. Nothing while no rollover is under way."""
    upcoming = Pki(issuing).next
    if not upcoming.exists():
        return []
    moved = set(upcoming.issued())
    last: dict[str, datetime] = {}
    for device, created in s.execute(
        select(DeviceCommand.device_id, DeviceCommand.created_at).where(DeviceCommand.name == RENEW)
    ):
        if device not in last or created > last[device]:
            last[device] = created
    asked: list[str] = []
    for dev in registry.devices(s):
        if len(asked) >= limit:
            break
        if dev.id in moved or (dev.id in last and now - last[dev.id] < again):
            continue
        commands.queue(s, device=dev.id, name=RENEW, args={}, now=now, reason="CA rollover")
        asked.append(dev.id)
    return asked
