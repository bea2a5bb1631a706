"""hourly state durations and event counts per asset, kept for the follow-up figures;
named places with their polygons

Revision ID: 0005_followup
Revises: 0004_public_comments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_followup"
down_revision = "0004_public_comments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asset_hours",
        sa.Column("asset", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("asset", "hour", "field", "value"),
    )
    op.create_index("ix_asset_hours_hour", "asset_hours", ["hour"])
    op.create_index("ix_asset_hours_kind", "asset_hours", ["kind"])
    op.create_index("ix_asset_hours_site", "asset_hours", ["site"])
    op.create_table(
        "places",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("places")
    op.drop_index("ix_asset_hours_site", table_name="asset_hours")
    op.drop_index("ix_asset_hours_kind", table_name="asset_hours")
    op.drop_index("ix_asset_hours_hour", table_name="asset_hours")
    op.drop_table("asset_hours")
