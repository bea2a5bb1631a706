"""signed releases, staged rollouts with their stages and per-device progress, and the
release each device's birth says it runs

Revision ID: 0009_releases
Revises: 0008_join
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_releases"
down_revision = "0008_join"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("release", sa.String(64), nullable=True))
    op.create_table(
        "releases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
    )
    op.create_index("ix_releases_version", "releases", ["version"])
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.String(64), sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("failure_share", sa.Float(), nullable=False),
        sa.Column("deadline_s", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rollouts_release_id", "rollouts", ["release_id"])
    op.create_index("ix_rollouts_status", "rollouts", ["status"])
    op.create_table(
        "rollout_stages",
        sa.Column(
            "rollout_id",
            sa.Integer(),
            sa.ForeignKey("rollouts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("max_failures", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "rollout_devices",
        sa.Column(
            "rollout_id",
            sa.Integer(),
            sa.ForeignKey("rollouts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rollout_devices_device_id", "rollout_devices", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_rollout_devices_device_id", table_name="rollout_devices")
    op.drop_table("rollout_devices")
    op.drop_table("rollout_stages")
    op.drop_index("ix_rollouts_status", table_name="rollouts")
    op.drop_index("ix_rollouts_release_id", table_name="rollouts")
    op.drop_table("rollouts")
    op.drop_index("ix_releases_version", table_name="releases")
    op.drop_table("releases")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("release")
