"""alert notices from the audit trail: each alert_history row keeps the alert as it was after
its step and when that notice was handed to delivery, so any hub can deliver what a dead
one left undelivered

Revision ID: 0011_alert_notices
Revises: 0010_join
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_alert_notices"
down_revision = "0010_join"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alert_history", sa.Column("alert", sa.JSON(), nullable=True))
    op.add_column(
        "alert_history", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Changes made before this revision were delivered (or lost) by the hub that made them:
    # an upgrade must not send them again.
    op.execute(sa.text("UPDATE alert_history SET delivered_at = CURRENT_TIMESTAMP"))
    op.create_index("ix_alert_history_delivered_at", "alert_history", ["delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_history_delivered_at", "alert_history")
    op.drop_column("alert_history", "delivered_at")
    op.drop_column("alert_history", "alert")
