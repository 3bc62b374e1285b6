"""Letter versions: every published text of a letter, and the version each signature was signed under.

Every existing letter gets version 1 from its current text; every existing signature was signed
under it (the server default), and every translation was made for it.

Revision ID: 5e8a1c3f9b24
Revises: 5d2a9c7e4b10
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8a1c3f9b24"
down_revision: str | None = "5d2a9c7e4b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "letter_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_letter_versions_letter_id_letters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_versions")),
        # One row per number and letter; also the index for the history page and a version's page.
        sa.UniqueConstraint("letter_id", "number", name=op.f("uq_letter_versions_letter_id_number")),
    )
    # Plain ADD COLUMN (no batch mode): a batch migration would rebuild the signatures table on
    # SQLite and drop the text-search triggers with it. The server defaults stay: they are what
    # every row written before this revision means (version 1).
    op.add_column("letters", sa.Column("current_version", sa.Integer(), nullable=False, server_default="1"))
    op.add_column(
        "letter_translations", sa.Column("letter_version", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column("signatures", sa.Column("letter_version", sa.Integer(), nullable=False, server_default="1"))
    op.execute(
        "INSERT INTO letter_versions "
        "(letter_id, number, lang, title, summary, body_markdown, body_html, published_at, material, note) "
        "SELECT id, 1, lang, title, summary, body_markdown, body_html, published_at, false, '' FROM letters"
    )


def downgrade() -> None:
    op.drop_column("signatures", "letter_version")
    op.drop_column("letter_translations", "letter_version")
    op.drop_column("letters", "current_version")
    op.drop_table("letter_versions")
