"""administration: an audit trail, unregistered devices, retired devices, a registry version

Revision ID: 0005_admin
Revises: 0004_public_comments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_admin"
down_revision = "0004_public_comments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False, index=True),
        sa.Column("target", sa.String(200), nullable=False, index=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    )
    op.create_table(
        "unregistered_devices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "registry_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute("INSERT INTO registry_version (id, version) VALUES (1, 0)")
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("retired")
    op.drop_table("registry_version")
    op.drop_table("unregistered_devices")
    op.drop_table("audit_log")
