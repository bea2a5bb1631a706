"""partner organisations, the places each sees and the users tied to each

Revision ID: 0007_partners
Revises: 0006_join
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_partners"
down_revision = "0006_join"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_orgs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "partner_places",
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("partner_orgs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "place",
            sa.String(64),
            sa.ForeignKey("places.name", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_partner_places_place", "partner_places", ["place"])
    op.create_table(
        "partner_users",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("partner_orgs.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_partner_users_org_id", "partner_users", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_partner_users_org_id", table_name="partner_users")
    op.drop_table("partner_users")
    op.drop_index("ix_partner_places_place", table_name="partner_places")
    op.drop_table("partner_places")
    op.drop_table("partner_orgs")
