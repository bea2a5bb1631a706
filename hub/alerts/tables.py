"""The alerts' SQL tables (migrations ``0005_alerts``, ``0011_alert_notices``): alerts, their
audit trail (which is also the durable queue of alert notices to deliver), events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base


class AlertRow(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    zone: Mapped[str] = mapped_column(String(64), index=True)
    place: Mapped[str | None] = mapped_column(String(200))
    event: Mapped[str | None] = mapped_column(String(100))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)


class AlertHistory(Base):
    __tablename__ = "alert_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    old: Mapped[str] = mapped_column(String(16))
    new: Mapped[str] = mapped_column(String(16))
    # The alert after this step as the API shows it, so its notice can be delivered exactly
    # as it was even when a later step changed the alert before delivery.
    alert: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When the notice was handed to delivery (webhook outbox rows committed, mails sent or
    # given up); NULL: still to deliver, by whichever hub holds the alert-delivery duty.
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)


class CrowdEvent(Base):
    __tablename__ = "crowd_events"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    place: Mapped[str] = mapped_column(String(200))
    zones: Mapped[list[str]] = mapped_column(JSON)
    expected_attendance: Mapped[int] = mapped_column(Integer)
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
