"""What the simulator reads back from the hub: its tickets (from the hub's database) and
its own signals of an outage (from the in-process hub object)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Device, Ticket
from sim.score import TicketView


def tickets(sessions: sessionmaker[Session]) -> list[TicketView]:
    """Every ticket the hub has opened, as the score needs it."""
    with sessions() as s:
        return [
            TicketView(
                id=t.id,
                kind=t.kind,
                asset_id=t.asset_id,
                device_id=t.device_id,
                status=t.status,
                created_at=t.created_at,
                resolved_at=t.resolved_at,
            )
            for t in s.scalars(select(Ticket).order_by(Ticket.id))
        ]


def devices_online(sessions: sessionmaker[Session], *, now: datetime, within_s: float) -> int:
    """Devices the hub has heard from in the last ``within_s`` simulated seconds."""
    since = now - timedelta(seconds=within_s)
    with sessions() as s:
        q = select(func.count()).select_from(Device).where(Device.last_seen >= since)
        return int(s.scalar(q) or 0)


def broker_signal(hub: Any) -> bool:
    """The hub's ingest has lost its MQTT session."""
    return not hub.ingest.connected.is_set()


def influx_signal(hub: Any) -> Any:
    """A closure that is True once the hub has had to retry (or spool) InfluxDB writes since
    it was made; counters named like ``*retr*`` or ``*spool*`` are the hub's own signals."""

    def total() -> int:
        rows: dict[str, int] = hub.ingest.counters.as_rows()
        return sum(v for k, v in rows.items() if "retr" in k or "spool" in k)

    base = total()
    return lambda: total() > base
