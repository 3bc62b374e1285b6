"""Invitations to moderators: admins invite by email, the invitee sets their own password.

Revision ID: f3c1a5e7b9d2
Revises: a7c3e9f1b4d6
Create Date: 2026-12-03 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3c1a5e7b9d2"
down_revision: str | None = "a7c3e9f1b4d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the table of invitations (each link's token kept as its hash)."""
    op.create_table(
        "moderator_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.Enum("moderator", "admin", name="moderatorrole", native_enum=False, length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("invited_by_email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["moderators.id"],
            name=op.f("fk_moderator_invitations_invited_by_id_moderators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderator_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_moderator_invitations_token_hash")),
    )
    op.create_index(op.f("ix_moderator_invitations_email"), "moderator_invitations", ["email"], unique=False)


def downgrade() -> None:
    """Drop the table: invitations not yet used are lost (admins invite again)."""
    op.drop_index(op.f("ix_moderator_invitations_email"), table_name="moderator_invitations")
    op.drop_table("moderator_invitations")
