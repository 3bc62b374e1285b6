"""Signatures held as suspect or withdrawn, a hashed network per signature, mail linked to signatures.

Revision ID: 6fadebd11c8e
Revises: fc993718dc9c
Create Date: 2026-11-25 14:58:01.314121
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6fadebd11c8e"
down_revision: str | None = "fc993718dc9c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUSPECT_REASONS = ("honeypot", "too_fast", "no_form_time", "network_flood", "captcha")


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_messages_signature_id"), ["signature_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_messages_signature_id_signatures"),
            "signatures",
            ["signature_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "suspect_reason",
                sa.Enum(*SUSPECT_REASONS, name="suspectreason", native_enum=False, length=20),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("network_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        # The purge: unconfirmed and suspect signatures by age; network hashes by age.
        batch_op.create_index("ix_signatures_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index("ix_signatures_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_index("ix_signatures_created")
        batch_op.drop_index("ix_signatures_status_created")
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("network_hash")
        batch_op.drop_column("suspect_reason")

    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbox_messages_signature_id_signatures"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_outbox_messages_signature_id"))
        batch_op.drop_column("signature_id")
