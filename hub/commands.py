"""Commands to devices, queued durably in the hub's database (the ``device_commands`` table).

The first user is the camera's tamper latch. A pole keeps a covered, blurred or displaced
camera event active until the hub acknowledges it (``ack_tamper``), then clears it once the
condition has gone, as tamper detection in IP cameras does. So when a person acknowledges,
takes on or resolves a ticket with such an alarm, the hub queues ``ack_tamper`` for that
camera: without it the pole would hold the event for ever and could not report the next
tamper. :class:`hub.command_sender.CommandSender` delivers the queue over MQTT.

Everything here works on a caller's SQL session, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.db import Alarm, Asset, DeviceCommand, Ticket
from trygg import contract as c

ACK_TAMPER: Final = "ack_tamper"
LATCHED: Final = frozenset({"cameraCovered", "cameraBlurred", "cameraDisplaced"})
MAX_ATTEMPTS: Final = 10
ArgValue = str | float | int | bool


def queue(
    s: Session,
    *,
    device: str,
    name: c.CommandName,
    args: Mapping[str, ArgValue],
    now: datetime,
    reason: str = "",
) -> DeviceCommand:
    """Add one command to the outbox; it is sent once the transaction commits."""
    cmd = DeviceCommand(
        command_id=uuid.uuid4().hex[:16],
        device_id=device,
        name=name,
        args=dict(args),
        reason=reason[:200],
        created_at=now,
        attempts=0,
        message="",
    )
    s.add(cmd)
    return cmd


def acknowledge_tamper(s: Session, ticket: Ticket, *, now: datetime) -> list[DeviceCommand]:
    """Queue ``ack_tamper`` for every latched camera alarm behind ``ticket`` (one per camera
    and type while an earlier one is still pending)."""
    alarms = s.scalars(
        select(Alarm).where(Alarm.ticket_id == ticket.id, Alarm.type.in_(LATCHED))
    ).all()
    out: list[DeviceCommand] = []
    for alarm in alarms:
        asset = s.get(Asset, alarm.asset_id)
        if asset is None:
            continue
        args = {"asset": alarm.asset_id, "type": alarm.type}
        pending = select(DeviceCommand).where(
            DeviceCommand.device_id == asset.device_id,
            DeviceCommand.name == ACK_TAMPER,
            DeviceCommand.done_at.is_(None),
        )
        if any(p.args == args for p in s.scalars(pending)):
            continue
        reason = f"ticket {ticket.id} {ticket.status}"
        out.append(
            queue(s, device=asset.device_id, name=ACK_TAMPER, args=args, now=now, reason=reason)
        )
    return out


def due(s: Session, *, now: datetime, retry: timedelta, limit: int = 500) -> list[DeviceCommand]:
    """Unanswered commands to send now: never sent, or sent ``retry`` ago without an answer.
    Those out of attempts are closed as failed instead."""
    rows = s.scalars(
        select(DeviceCommand)
        .where(
            DeviceCommand.done_at.is_(None),
            or_(DeviceCommand.sent_at.is_(None), DeviceCommand.sent_at <= now - retry),
        )
        .order_by(DeviceCommand.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # several hub processes: each row to one sender
    ).all()
    out: list[DeviceCommand] = []
    for cmd in rows:
        if cmd.attempts >= MAX_ATTEMPTS:
            cmd.done_at, cmd.ok = now, False
            cmd.message = f"no answer after {cmd.attempts} attempts"
            continue
        cmd.attempts += 1
        cmd.sent_at = now
        out.append(cmd)
    return out


def message(cmd: DeviceCommand, *, now_ms: int) -> tuple[str, bytes]:
    """The topic and payload that carry ``cmd`` to its device."""
    body = c.Command.model_validate(
        {"id": cmd.command_id, "name": cmd.name, "args": cmd.args, "ts": now_ms}
    )
    return c.topic_for(cmd.device_id, c.Kind.CMD), c.encode(body)


def record_result(s: Session, result: c.CommandResult, *, device: str, now: datetime) -> bool:
    """``device`` (the topic's) answered; False when the result is not for a command queued
    for it (a rebirth the ingest asked for, one answered already, another device's)."""
    cmd = s.scalars(
        select(DeviceCommand).where(
            DeviceCommand.command_id == result.id, DeviceCommand.device_id == device
        )
    ).first()
    if cmd is None or cmd.done_at is not None:
        return False
    cmd.done_at, cmd.ok, cmd.message = now, result.ok, result.message[:500]
    return True
