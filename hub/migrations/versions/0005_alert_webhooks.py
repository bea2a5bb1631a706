"""webhook deliveries of alert states (CAP XML or JSON) beside ticket events

Revision ID: 0005_alert_webhooks
Revises: 0004_public_comments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_alert_webhooks"
down_revision = "0004_public_comments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("history_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("alert_key", sa.String(length=80), nullable=True))
        batch.add_column(
            sa.Column(
                "media_type",
                sa.String(length=40),
                nullable=False,
                server_default="application/json",
            )
        )
        batch.create_unique_constraint(
            "uq_webhook_deliveries_alert", ["subscription_id", "alert_key"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM webhook_deliveries WHERE history_id IS NULL")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint("uq_webhook_deliveries_alert", type_="unique")
        batch.drop_column("media_type")
        batch.drop_column("alert_key")
        batch.alter_column("history_id", existing_type=sa.Integer(), nullable=False)
