""""That's not me": disputes of listed entries by the person they name.

One row per dispute sent through the public form, holding the disputer's address until the
moderators settle it (see ``app.services.disputes``). Flags gain the kind ``dispute``; their
kind is stored as a plain string, so that needs no change here.

Revision ID: f3a9d1c7b2e4
Revises: a4c7e2d9b1f3
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3a9d1c7b2e4"
down_revision: str | None = "a4c7e2d9b1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flag_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["flag_id"], ["flags.id"], name=op.f("fk_disputes_flag_id_flags"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_disputes_letter_id_letters"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"], ["signatures.id"], name=op.f("fk_disputes_signature_id_signatures"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_disputes_token_hash")),
    )
    op.create_index(op.f("ix_disputes_signature_id"), "disputes", ["signature_id"], unique=False)


def downgrade() -> None:
    """Drop the table; flags of kind ``dispute`` stay, and read as their stored facts."""
    op.drop_index(op.f("ix_disputes_signature_id"), table_name="disputes")
    op.drop_table("disputes")
