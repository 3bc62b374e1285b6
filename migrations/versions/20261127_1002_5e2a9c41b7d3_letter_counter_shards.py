"""A letter's count split over a few counter rows, so concurrent confirmations rarely share a lock.

The count is letters.signature_count (what a recount folded there, and every count made before
this revision) plus the sum of the letter's shards. Downgrading folds the shards back.

Revision ID: 5e2a9c41b7d3
Revises: 5e8a1c3f9b24
Create Date: 2026-11-26 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e2a9c41b7d3"
down_revision: str | None = "5e8a1c3f9b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "letter_counter_shards",
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letters.id"],
            name=op.f("fk_letter_counter_shards_letter_id_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("letter_id", "shard", name=op.f("pk_letter_counter_shards")),
    )


def downgrade() -> None:
    op.execute(
        "UPDATE letters SET signature_count = signature_count + COALESCE("
        "(SELECT SUM(value) FROM letter_counter_shards WHERE letter_counter_shards.letter_id = letters.id), 0)"
    )
    op.drop_table("letter_counter_shards")
