"""A signer's own page: each signature that still holds personal data gets a random page key.

The link to the signer's page names the key, with an HMAC of it made with SECRET_KEY (so the
key alone opens nothing). Tombstones (withdrawn, removed) get none; erasing a signature clears it.

Revision ID: d9f3a7c2e5b8
Revises: 18b0d24cc0cb
Create Date: 2026-12-03 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d9f3a7c2e5b8"
down_revision: str | None = "18b0d24cc0cb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "('unconfirmed', 'suspect', 'confirmed', 'pending', 'hidden')"


def upgrade() -> None:
    """Add the column (plain ADD COLUMN: a batch rebuild would drop the text-search triggers) and fill it."""
    op.add_column("signatures", sa.Column("page_key", sa.String(length=32), nullable=True))
    # 128 random bits per live signature, made in the database: no row travels to Python and back.
    if op.get_bind().dialect.name == "postgresql":
        key = "replace(gen_random_uuid()::text, '-', '')"
    else:
        key = "lower(hex(randomblob(16)))"
    op.execute(f"UPDATE signatures SET page_key = {key} WHERE status IN {LIVE}")  # noqa: S608 (fixed fragments)
    op.create_index("ix_signatures_page_key", "signatures", ["page_key"], unique=True)


def downgrade() -> None:
    """Drop the keys: every link to a signer's page stops working."""
    op.drop_index("ix_signatures_page_key", table_name="signatures")
    op.drop_column("signatures", "page_key")
