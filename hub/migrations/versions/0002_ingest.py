"""Fused device state (why it last changed, last sequence gap)

Revision ID: 0002_ingest
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ingest"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column(
                "state_reason", sa.String(length=16), nullable=False, server_default="unknown"
            )
        )
        batch.add_column(sa.Column("last_gap_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("last_gap_at")
        batch.drop_column("state_reason")
