"""Text search over signers: FTS5 (trigram) on SQLite, pg_trgm GIN indexes on PostgreSQL.

Revision ID: 3b1e0c7d9a2f
Revises: 6fadebd11c8e
Create Date: 2026-11-26 09:00:00.000000

Both give case-insensitive substring search for queries of three characters or more, so a
search never reads the whole table. The objects are made here only (the models cannot describe
them); migrations/env.py keeps autogenerate from proposing to drop them.

SQLite: an external-content FTS5 table over signatures(name, affiliation, email_key), kept in
sync by triggers. A batch migration that recreates the signatures table drops these triggers:
such a migration must recreate them (see SQLITE_TRIGGERS), and tests/test_search.py checks
that the index follows inserts, updates and deletes at head.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3b1e0c7d9a2f"
down_revision: str | None = "6fadebd11c8e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "name, affiliation, email_key"
NEW = "new.id, new.name, new.affiliation, new.email_key"
OLD = "'delete', old.id, old.name, old.affiliation, old.email_key"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER signatures_fts_insert AFTER INSERT ON signatures BEGIN
        INSERT INTO signatures_fts(rowid, {COLUMNS}) VALUES ({NEW});
    END""",
    f"""CREATE TRIGGER signatures_fts_delete AFTER DELETE ON signatures BEGIN
        INSERT INTO signatures_fts(signatures_fts, rowid, {COLUMNS}) VALUES ({OLD});
    END""",
    f"""CREATE TRIGGER signatures_fts_update AFTER UPDATE OF {COLUMNS} ON signatures BEGIN
        INSERT INTO signatures_fts(signatures_fts, rowid, {COLUMNS}) VALUES ({OLD});
        INSERT INTO signatures_fts(rowid, {COLUMNS}) VALUES ({NEW});
    END""",
)

POSTGRES_INDEXES = {
    "ix_signatures_name_trgm": "name",
    "ix_signatures_affiliation_trgm": "affiliation",
    "ix_signatures_email_key_trgm": "email_key",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE signatures_fts USING fts5({COLUMNS}, "
            "content='signatures', content_rowid='id', tokenize='trigram')"
        )
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute("INSERT INTO signatures_fts(signatures_fts) VALUES ('rebuild')")
        # Queries of one or two characters match names by prefix (LIKE 'ab%' uses this index).
        op.execute("CREATE INDEX ix_signatures_name_nocase ON signatures (letter_id, name COLLATE NOCASE)")
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for index, column in POSTGRES_INDEXES.items():
            op.execute(f"CREATE INDEX {index} ON signatures USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP INDEX ix_signatures_name_nocase")
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER signatures_fts_{name}")
        op.execute("DROP TABLE signatures_fts")
    elif dialect == "postgresql":
        for index in POSTGRES_INDEXES:
            op.execute(f"DROP INDEX {index}")
        # The extension stays: other objects in the database may use it, and it holds no data.
