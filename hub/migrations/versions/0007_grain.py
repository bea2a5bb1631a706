"""per-asset state seconds summed over Stockholm calendar days and months, so long periods
are reported from a few rows per asset

Revision ID: 0007_grain
Revises: 0006_join
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_grain"
down_revision = "0006_join"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asset_spans",
        sa.Column("asset", sa.String(length=64), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("first", sa.Date(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("asset", "span", "first", "field", "value"),
    )
    op.create_index("ix_asset_spans_span_first", "asset_spans", ["span", "first"])


def downgrade() -> None:
    op.drop_index("ix_asset_spans_span_first", table_name="asset_spans")
    op.drop_table("asset_spans")
