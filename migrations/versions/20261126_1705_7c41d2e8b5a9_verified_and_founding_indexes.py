"""Partial indexes for the verified and founding signatories shown on the letter page.

Without them, a letter with no (or few) verified or founding signatories made the page walk
every confirmed signature to find none.

Revision ID: 7c41d2e8b5a9
Revises: 3b1e0c7d9a2f
Create Date: 2026-11-26 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c41d2e8b5a9"
down_revision: str | None = "3b1e0c7d9a2f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain CREATE INDEX (no batch mode): a batch migration would rebuild the signatures table on
    # SQLite and drop the text-search triggers with it.
    op.create_index(
        "ix_signatures_verified",
        "signatures",
        ["letter_id", "status", "confirmed_at", "id"],
        sqlite_where=sa.text("verified_at IS NOT NULL"),
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )
    op.create_index(
        "ix_signatures_founding",
        "signatures",
        ["letter_id", "status", "confirmed_at", "id"],
        sqlite_where=sa.text("founding = 1"),
        postgresql_where=sa.text("founding = true"),
    )


def downgrade() -> None:
    op.drop_index("ix_signatures_founding", table_name="signatures")
    op.drop_index("ix_signatures_verified", table_name="signatures")
