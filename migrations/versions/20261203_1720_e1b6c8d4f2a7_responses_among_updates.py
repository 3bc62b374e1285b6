"""The addressee's response, among a letter's updates.

``letter_updates`` learns whether an entry is the organisers' own news (``update``, every
existing row) or the addressee's response (``response``), and for a response the day it was
given and where it was published; a response's title is who answered.

Revision ID: e1b6c8d4f2a7
Revises: d9f3a7c2e5b8
Create Date: 2026-12-03 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e1b6c8d4f2a7"
down_revision: str | None = "d9f3a7c2e5b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns; every update so far is the organisers' own."""
    op.add_column("letter_updates", sa.Column("kind", sa.String(length=20), nullable=False, server_default="update"))
    op.add_column("letter_updates", sa.Column("responded_on", sa.Date(), nullable=True))
    op.add_column("letter_updates", sa.Column("source_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    """Drop them: responses stay as plain updates, titled with who answered."""
    op.drop_column("letter_updates", "source_url")
    op.drop_column("letter_updates", "responded_on")
    op.drop_column("letter_updates", "kind")
