"""joins the three 0009 heads (signer rate limits, leases, releases and rollouts) into one
line again

Revision ID: 0010_join
Revises: 0009_certrate, 0009_leases, 0009_releases
"""

from __future__ import annotations

revision = "0010_join"
down_revision = ("0009_certrate", "0009_leases", "0009_releases")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the heads touch different tables."""


def downgrade() -> None:
    """Nothing to undo."""
