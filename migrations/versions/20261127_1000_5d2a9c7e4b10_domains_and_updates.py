"""Domain-confirmed affiliations and updates to signers.

Signatures: whether to show the domain of the confirmed address, the domain shown once
confirmed, and consent to updates by email; partial indexes for the list filtered to
domain-confirmed signers and for the recipients of an update. A per-letter tally of signers by
confirmed domain. Dated updates to a letter. Per-message headers in the outbox (List-Unsubscribe).

Revision ID: 5d2a9c7e4b10
Revises: 7c41d2e8b5a9
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2a9c7e4b10"
down_revision: str | None = "7c41d2e8b5a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX on signatures (no batch mode): a batch migration would
    # rebuild the table on SQLite and drop the text-search triggers with it. The server defaults
    # stay (SQLite cannot drop one without a rebuild); the models declare them too.
    op.add_column("signatures", sa.Column("show_domain", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("signatures", sa.Column("confirmed_domain", sa.String(length=255), nullable=True))
    op.add_column("signatures", sa.Column("wants_updates", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index(
        "ix_signatures_confirmed_domain",
        "signatures",
        ["letter_id", "status", "confirmed_at", "id"],
        sqlite_where=sa.text("confirmed_domain IS NOT NULL"),
        postgresql_where=sa.text("confirmed_domain IS NOT NULL"),
    )
    op.create_index(
        "ix_signatures_update_recipients",
        "signatures",
        ["letter_id", "id"],
        sqlite_where=sa.text("wants_updates = 1"),
        postgresql_where=sa.text("wants_updates = true"),
    )
    op.add_column("outbox_messages", sa.Column("headers", sa.Text(), nullable=True))
    op.create_table(
        "letter_domain_tallies",
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"],
            ["letters.id"],
            name=op.f("fk_letter_domain_tallies_letter_id_letters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("letter_id", "domain", name=op.f("pk_letter_domain_tallies")),
    )
    op.create_index("ix_letter_domain_tallies_top", "letter_domain_tallies", ["letter_id", "value"])
    op.create_table(
        "letter_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_letter_updates_letter_id_letters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_updates")),
    )
    op.create_index("ix_letter_updates_letter_published", "letter_updates", ["letter_id", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_letter_updates_letter_published", table_name="letter_updates")
    op.drop_table("letter_updates")
    op.drop_index("ix_letter_domain_tallies_top", table_name="letter_domain_tallies")
    op.drop_table("letter_domain_tallies")
    op.drop_column("outbox_messages", "headers")
    op.drop_index("ix_signatures_update_recipients", table_name="signatures")
    op.drop_index("ix_signatures_confirmed_domain", table_name="signatures")
    op.drop_column("signatures", "wants_updates")
    op.drop_column("signatures", "confirmed_domain")
    op.drop_column("signatures", "show_domain")
