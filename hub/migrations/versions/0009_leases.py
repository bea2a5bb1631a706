"""leases: named, expiring ownership of work shared by several hubs, with a fencing token

Revision ID: 0009_leases
Revises: 0008_join
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_leases"
down_revision = "0008_join"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
