"""joins the five 0005 heads (administration, alerts, alert webhooks, idempotency keys,
follow-up history) into one line again

Revision ID: 0006_join
Revises: 0005_admin, 0005_alerts, 0005_alert_webhooks, 0005_idempotency, 0005_followup
"""

from __future__ import annotations

revision = "0006_join"
down_revision = (
    "0005_admin",
    "0005_alerts",
    "0005_alert_webhooks",
    "0005_idempotency",
    "0005_followup",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the heads touch different tables."""


def downgrade() -> None:
    """Nothing to undo."""
