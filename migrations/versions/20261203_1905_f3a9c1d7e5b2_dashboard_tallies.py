"""The moderators' dashboard: tallies by hour signed and time to confirm, and two indexes.

From now on each counted signature also adds one to ``signed:YYYY-MM-DDTHH`` (the hour it was
signed in) and to ``delay:N`` (the range its time to confirm falls in, by its upper bound in
seconds, or ``delay:longer``) in ``letter_tallies`` (app.services.stats); this fills them for
the signatures counted so far. ``ix_signatures_unconfirmed`` (partial: unconfirmed signatures
only, a few at any time since the purge deletes them) counts the signatures awaiting
confirmation by hour; ``ix_flags_letter_created`` counts a letter's flags by day.

Revision ID: f3a9c1d7e5b2
Revises: f3a9d1c7b2e4
Create Date: 2026-12-03 19:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3a9c1d7e5b2"
down_revision: str | None = "f3a9d1c7b2e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As app.services.stats.DELAY_BOUNDS (copied: a migration does not change when the app does).
DELAY_BOUNDS = (60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800)


def upgrade() -> None:
    """Make the indexes and count the confirmed signatures by hour signed and time to confirm."""
    op.create_index(
        "ix_signatures_unconfirmed",
        "signatures",
        ["letter_id", "created_at"],
        sqlite_where=sa.text("status = 'unconfirmed'"),
        postgresql_where=sa.text("status = 'unconfirmed'"),
    )
    op.create_index("ix_flags_letter_created", "flags", ["letter_id", "created_at"])
    confirmed = "coalesce(confirmed_at, created_at)"
    if op.get_bind().dialect.name == "postgresql":
        hour = """to_char(timezone('UTC', created_at), 'YYYY-MM-DD"T"HH24')"""
        seconds = "(floor(extract(epoch FROM {}))::bigint)"
    else:
        hour = "strftime('%Y-%m-%dT%H', created_at)"
        seconds = "CAST(strftime('%s', {}) AS INTEGER)"
    delay = f"({seconds.format(confirmed)} - {seconds.format('created_at')})"
    ranges = " ".join(f"WHEN {delay} < {bound} THEN '{bound}'" for bound in DELAY_BOUNDS)
    for name in (f"'signed:' || {hour}", f"'delay:' || (CASE {ranges} ELSE 'longer' END)"):
        op.execute(
            f"INSERT INTO letter_tallies (letter_id, name, value) "  # noqa: S608 (no input: fixed fragments)
            f"SELECT letter_id, {name}, count(*) FROM signatures WHERE status = 'confirmed' "
            f"GROUP BY letter_id, {name}"
        )


def downgrade() -> None:
    """Remove the tallies and the indexes (the older code neither keeps nor reads them)."""
    op.execute("DELETE FROM letter_tallies WHERE name LIKE 'signed:%' OR name LIKE 'delay:%'")
    op.drop_index("ix_flags_letter_created", table_name="flags")
    op.drop_index("ix_signatures_unconfirmed", table_name="signatures")
