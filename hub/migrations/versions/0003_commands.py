"""the command outbox to devices (ack_tamper after a crew acknowledged a camera ticket);
merges the three 0002 heads

Revision ID: 0003_commands
Revises: 0002_api, 0002_ingest, 0002_rules
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_commands"
down_revision = ("0002_api", "0002_ingest", "0002_rules")
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "device_commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("done_at", _TS, nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("command_id"),
    )
    op.create_index("ix_device_commands_device_id", "device_commands", ["device_id"])
    op.create_index("ix_device_commands_done_at", "device_commands", ["done_at"])


def downgrade() -> None:
    op.drop_index("ix_device_commands_done_at", table_name="device_commands")
    op.drop_index("ix_device_commands_device_id", table_name="device_commands")
    op.drop_table("device_commands")
