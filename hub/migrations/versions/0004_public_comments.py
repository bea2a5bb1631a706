"""a ticket comment may be published to Open311's anonymous readers (default: private)

Revision ID: 0004_public_comments
Revises: 0003_commands
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_public_comments"
down_revision = "0003_commands"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_comments") as batch:
        batch.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_comments") as batch:
        batch.drop_column("public")
