"""Letter translations: a letter's title, summary and text in other languages.

Signatures, the count, the dates and the goal stay on the letter, so every translation shares them.

Revision ID: 290587710537
Revises: 3b05f134c923
Create Date: 2026-11-25 15:20:23.140170
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "290587710537"
down_revision: str | None = "3b05f134c923"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "letter_translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_letter_translations_letter_id_letters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_translations")),
        # One text per language and letter; also the index for looking a translation up.
        sa.UniqueConstraint("letter_id", "lang", name=op.f("uq_letter_translations_letter_id_lang")),
    )


def downgrade() -> None:
    op.drop_table("letter_translations")
