"""Privacy after a letter ends: per-letter settings, and when the names were hidden or the data erased.

``letters.sensitive`` limits the downloads to the count and the tiers; ``noindex_signers`` asks
search engines not to index the list and the signers' pages; ``hide_names_after_close`` takes
the names off every public surface once signing closes (``names_hidden_at`` says when it was
done); ``personal_data_until`` is the day after which the purge erases the signers' personal
data (``personal_data_erased_at`` says when it was done). Every letter already there keeps its
names and data: all false or empty.

Revision ID: c4e8b2d6f1a3
Revises: b8e2f4a6c9d1
Create Date: 2026-12-03 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4e8b2d6f1a3"
down_revision: str | None = "b8e2f4a6c9d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLAGS = ("sensitive", "noindex_signers", "hide_names_after_close")


def upgrade() -> None:
    """Add the settings (off for every letter) and the two moments (empty)."""
    for name in _FLAGS:
        op.add_column("letters", sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("letters", sa.Column("personal_data_until", sa.Date(), nullable=True))
    op.add_column("letters", sa.Column("names_hidden_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("letters", sa.Column("personal_data_erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop them (SQLite drops a column in place: no batch copy of the table everything points to)."""
    for name in ("personal_data_erased_at", "names_hidden_at", "personal_data_until", *reversed(_FLAGS)):
        op.drop_column("letters", name)
