"""Private launches: invitations to sign a letter before it is public, and its opening time.

Revision ID: b8e2f4a6c9d1
Revises: b8d2f4a6c1e3
Create Date: 2026-12-03 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b8e2f4a6c9d1"
down_revision: str | None = "b8d2f4a6c1e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add letters.opens_at and the invitations table."""
    op.add_column("letters", sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("personal", "shared", name="invitationkind", native_enum=False, create_constraint=False, length=20), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_invitations_letter_id_letters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index("ix_invitations_letter", "invitations", ["letter_id", "created_at"], unique=False)


def downgrade() -> None:
    """Drop the table and the column."""
    op.drop_index("ix_invitations_letter", table_name="invitations")
    op.drop_table("invitations")
    # SQLite drops a column in place (3.35 and later): a batch copy of ``letters`` would have to
    # drop the table every other table points to.
    op.drop_column("letters", "opens_at")
