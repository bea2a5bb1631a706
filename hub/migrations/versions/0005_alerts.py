"""alerts apart from tickets: alerts, their audit trail and crowd events

Revision ID: 0005_alerts
Revises: 0004_public_comments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_alerts"
down_revision = "0004_public_comments"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("place", sa.String(200), nullable=True),
        sa.Column("event", sa.String(100), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=False),
        _when("raised_at"),
        _when("acknowledged_at", nullable=True),
        _when("escalated_at", nullable=True),
        _when("resolved_at", nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
    )
    for col in ("raised_at", "status", "zone"):
        op.create_index(f"ix_alerts_{col}", "alerts", [col])
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        _when("at"),
        sa.Column("old", sa.String(16), nullable=False),
        sa.Column("new", sa.String(16), nullable=False),
    )
    op.create_index("ix_alert_history_alert_id", "alert_history", ["alert_id"])
    op.create_table(
        "crowd_events",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("expected_attendance", sa.Integer(), nullable=False),
        sa.Column("phases", sa.JSON(), nullable=False),
        _when("updated_at"),
    )


def downgrade() -> None:
    op.drop_table("crowd_events")
    op.drop_index("ix_alert_history_alert_id", "alert_history")
    op.drop_table("alert_history")
    for col in ("raised_at", "status", "zone"):
        op.drop_index(f"ix_alerts_{col}", "alerts")
    op.drop_table("alerts")
