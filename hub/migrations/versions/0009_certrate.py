"""certificate signer's rate limit: when each device last had a request looked at and a
certificate signed, so a restarted hub (or another hub) keeps the limit

Revision ID: 0009_certrate
Revises: 0008_join
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_certrate"
down_revision = "0008_join"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cert_rates",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("device_id"),
    )


def downgrade() -> None:
    op.drop_table("cert_rates")
