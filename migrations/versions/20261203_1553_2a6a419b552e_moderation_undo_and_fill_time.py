"""Undo for moderators, and what a moderator needs to judge a held signature.

- ``moderation_undos``: the states an undoable action changed, kept while it can be undone.
- ``audit_entries.undoes_id``: an undo's audit entry names the entry it undid; a unique index,
  so that one entry is undone at most once.
- ``signatures.fill_seconds``: how long the form was open before it was sent (the "sent 1.2 s
  after the form loaded" a moderator reads); unknown (NULL) for every signature before this.
- ``ix_signatures_network``: the other signatures of a letter from one network, in time order
  (a burst, the seconds since the previous one), without a scan of the letter.

Revision ID: 2a6a419b552e
Revises: b7c3e9a1d2f4
Create Date: 2026-12-03 15:53:49
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2a6a419b552e"
down_revision: str | None = "b7c3e9a1d2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moderation_undos",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["audit_entries.id"], name=op.f("fk_moderation_undos_entry_id_audit_entries")
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_moderation_undos_letter_id_letters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_moderation_undos")),
    )
    op.create_index(op.f("ix_moderation_undos_letter_id"), "moderation_undos", ["letter_id"], unique=False)
    # Plain ADD COLUMN and CREATE INDEX (no batch mode): a batch migration would rebuild the tables
    # on SQLite and drop their triggers (the audit log's append-only ones, the text search's).
    op.add_column("audit_entries", sa.Column("undoes_id", sa.Integer(), nullable=True))
    op.create_index("ix_audit_entries_undoes_id", "audit_entries", ["undoes_id"], unique=True)
    op.add_column("signatures", sa.Column("fill_seconds", sa.Float(), nullable=True))
    op.create_index("ix_signatures_network", "signatures", ["letter_id", "network_hash", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_signatures_network", table_name="signatures")
    op.drop_column("signatures", "fill_seconds")
    op.drop_index("ix_audit_entries_undoes_id", table_name="audit_entries")
    op.drop_column("audit_entries", "undoes_id")
    op.drop_index(op.f("ix_moderation_undos_letter_id"), table_name="moderation_undos")
    op.drop_table("moderation_undos")
