"""joins the two 0007 heads (follow-up day and month grain, partner organisations) into one
line again

Revision ID: 0008_join
Revises: 0007_grain, 0007_partners
"""

from __future__ import annotations

revision = "0008_join"
down_revision = ("0007_grain", "0007_partners")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the heads touch different tables."""


def downgrade() -> None:
    """Nothing to undo."""
