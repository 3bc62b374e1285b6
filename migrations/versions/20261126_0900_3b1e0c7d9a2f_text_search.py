"""Text search over signers: FTS5 (trigram) on SQLite, pg_trgm GIN indexes on PostgreSQL.

Revision ID: 3b1e0c7d9a2f
Revises: 290587710537
Create Date: 2026-11-26 09:00:00.000000

Both give case-insensitive substring search for queries of three characters or more, so a
search never reads the whole table. The objects are made here only (the models cannot describe
them); migrations/env.py keeps autogenerate from proposing to drop them.

SQLite: external-content FTS5 tables over signatures(name, affiliation) and (email_key), kept in
sync by triggers. A batch migration that recreates the signatures table drops these triggers:
such a migration must recreate them (see SQLITE_TRIGGERS), and tests/test_search.py checks
that the index follows inserts, updates and deletes at head.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3b1e0c7d9a2f"
down_revision: str | None = "290587710537"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Two indexes: names and affiliations (public search), and addresses (moderators only), so
# that a public query never reads the address index's long lists ("org", digits).
FTS_TABLES = {"signatures_fts": ("name", "affiliation"), "signatures_email_fts": ("email_key",)}


def _triggers(table: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    return (
        f"""CREATE TRIGGER {table}_insert AFTER INSERT ON signatures BEGIN
            INSERT INTO {table}(rowid, {cols}) VALUES (new.id, {new});
        END""",
        f"""CREATE TRIGGER {table}_delete AFTER DELETE ON signatures BEGIN
            INSERT INTO {table}({table}, rowid, {cols}) VALUES ('delete', old.id, {old});
        END""",
        f"""CREATE TRIGGER {table}_update AFTER UPDATE OF {cols} ON signatures BEGIN
            INSERT INTO {table}({table}, rowid, {cols}) VALUES ('delete', old.id, {old});
            INSERT INTO {table}(rowid, {cols}) VALUES (new.id, {new});
        END""",
    )


SQLITE_TRIGGERS = tuple(trigger for table, columns in FTS_TABLES.items() for trigger in _triggers(table, columns))

POSTGRES_INDEXES = {
    "ix_signatures_name_trgm": "name",
    "ix_signatures_affiliation_trgm": "affiliation",
    "ix_signatures_email_key_trgm": "email_key",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table, columns in FTS_TABLES.items():
            op.execute(
                f"CREATE VIRTUAL TABLE {table} USING fts5({', '.join(columns)}, "
                "content='signatures', content_rowid='id', tokenize='trigram')"
            )
            op.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
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
        for table in FTS_TABLES:
            for name in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {table}_{name}")
            op.execute(f"DROP TABLE {table}")
    elif dialect == "postgresql":
        for index in POSTGRES_INDEXES:
            op.execute(f"DROP INDEX {index}")
        # The extension stays: other objects in the database may use it, and it holds no data.
