"""Organiser notifications: each admin's choice of emails, and the milestones already mailed.

``notification_settings`` holds, per moderator account, whether it wants a mail when a letter's
count reaches a round number and a daily summary, the language of those mails, and the day of
the last summary. ``letter_milestones`` records each round number a letter reached once its
admins were mailed, so that no milestone is mailed twice.

Revision ID: a7c3e9f1b4d6
Revises: f3a9c1d7e5b2
Create Date: 2026-12-03 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "a7c3e9f1b4d6"
down_revision: str | None = "f3a9c1d7e5b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Make the two tables."""
    op.create_table(
        "notification_settings",
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("milestones", sa.Boolean(), nullable=False),
        sa.Column("daily_summary", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("last_summary_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_notification_settings_moderator_id_moderators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("moderator_id", name=op.f("pk_notification_settings")),
    )
    op.create_table(
        "letter_milestones",
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_letter_milestones_letter_id_letters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("letter_id", "number", name=op.f("pk_letter_milestones")),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("letter_milestones")
    op.drop_table("notification_settings")
