"""Alarm suppression/acknowledgement, ticket lifecycle columns, comments, crews

Revision ID: 0002_rules
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_rules"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        batch.add_column(sa.Column("suppressed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", _TS, nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=64), nullable=True))
        batch.create_index("ix_alarms_suppressed_by", ["suppressed_by"])
    # One active alarm per asset and type, enforced by the database itself.
    op.create_index(
        "ux_alarms_one_active",
        "alarms",
        ["asset_id", "type"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column(
                "severity", sa.String(length=16), nullable=False, server_default="indeterminate"
            )
        )
        batch.add_column(sa.Column("alarm_count", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("area", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hold_until", _TS, nullable=True))
        batch.add_column(sa.Column("acknowledged_at", _TS, nullable=True))
        batch.add_column(sa.Column("duplicate_of", sa.Integer(), nullable=True))
        batch.create_index("ix_tickets_area", ["area"])
        batch.create_index("ix_tickets_hold_until", ["hold_until"])
    op.create_table(
        "ticket_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_comments_ticket_id", "ticket_comments", ["ticket_id"])
    op.create_table(
        "crews",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("polygon", sa.JSON(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("crews")
    op.drop_index("ix_ticket_comments_ticket_id", table_name="ticket_comments")
    op.drop_table("ticket_comments")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_hold_until")
        batch.drop_index("ix_tickets_area")
        for col in ("duplicate_of", "acknowledged_at", "hold_until", "area", "alarm_count"):
            batch.drop_column(col)
        batch.drop_column("severity")
    op.drop_index("ux_alarms_one_active", table_name="alarms")
    with op.batch_alter_table("alarms") as batch:
        batch.drop_index("ix_alarms_suppressed_by")
        for col in ("acknowledged_by", "acknowledged_at", "suppressed_by"):
            batch.drop_column(col)
