"""Reminders before a letter closes: the letter's choice, and each reminder sent once.

``letters.remind_before_close`` turns the reminders on (REMINDER_DAYS_BEFORE_CLOSE days before
``closes_at``); ``letters.closing_reminded_at`` records that its organisers were reminded;
``signatures.reminded_at`` that an unconfirmed signer was sent their one reminder;
``notification_settings.closing_reminders`` is an admin's choice of the organisers' reminder.

Revision ID: d9f2a6c3e8b1
Revises: c4e8b2d6f1a3
Create Date: 2026-12-03 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d9f2a6c3e8b1"
down_revision: str | None = "c4e8b2d6f1a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns: reminders off, nothing sent."""
    op.add_column("letters", sa.Column("remind_before_close", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("letters", sa.Column("closing_reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("signatures", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "notification_settings",
        sa.Column("closing_reminders", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Drop them (in place: no batch copy of the tables everything points to)."""
    op.drop_column("notification_settings", "closing_reminders")
    op.drop_column("signatures", "reminded_at")
    op.drop_column("letters", "closing_reminded_at")
    op.drop_column("letters", "remind_before_close")
