"""Letters written on the web start as drafts: seen by moderators only until an admin publishes them.

Every letter stored so far is published.

Revision ID: a4c7e2d9b1f3
Revises: e1b6c8d4f2a7
Create Date: 2026-12-03 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a4c7e2d9b1f3"
down_revision: str | None = "e1b6c8d4f2a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``letters.draft``, false for every letter already there."""
    op.add_column("letters", sa.Column("draft", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Drop it: drafts become public letters."""
    # SQLite drops a column in place (3.35 and later): a batch copy of ``letters`` would have to
    # drop the table every other table points to.
    op.drop_column("letters", "draft")
