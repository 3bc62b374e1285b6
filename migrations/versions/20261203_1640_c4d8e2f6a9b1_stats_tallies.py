"""Where and when counted signers signed: country, hour and language tallies, filled from the signatures.

From now on each counted signature adds one to ``country:XX``, ``hour:YYYY-MM-DDTHH`` and
``lang:xx`` in ``letter_tallies`` (app.services.stats); this fills them for the signatures
counted so far. The downgrade removes them.

Revision ID: c4d8e2f6a9b1
Revises: 2a6a419b552e
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4d8e2f6a9b1"
down_revision: str | None = "2a6a419b552e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Count the confirmed signatures of every letter by country, hour of confirmation and language."""
    if op.get_bind().dialect.name == "postgresql":
        hour = """to_char(coalesce(confirmed_at, created_at), 'YYYY-MM-DD"T"HH24')"""
    else:
        hour = "strftime('%Y-%m-%dT%H', coalesce(confirmed_at, created_at))"
    for name in ("'country:' || coalesce(country, '-')", f"'hour:' || {hour}", "'lang:' || locale"):
        op.execute(
            f"INSERT INTO letter_tallies (letter_id, name, value) "  # noqa: S608 (no input: fixed fragments)
            f"SELECT letter_id, {name}, count(*) FROM signatures WHERE status = 'confirmed' "
            f"GROUP BY letter_id, {name}"
        )


def downgrade() -> None:
    """Remove the tallies (the older code neither keeps nor reads them)."""
    op.execute(
        "DELETE FROM letter_tallies WHERE name LIKE 'country:%' OR name LIKE 'hour:%' OR name LIKE 'lang:%'"
    )
