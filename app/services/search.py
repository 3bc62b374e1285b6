"""Searching signers by name, affiliation or email with the database's own text index.

One interface over two implementations, both case-insensitive substring search that never
reads the whole table: SQLite's FTS5 with the trigram tokenizer (the ``signatures_fts``
table) and PostgreSQL's pg_trgm GIN indexes (ILIKE uses them). Trigrams need three
characters; a shorter query matches names that begin with it, through an index too.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import Signature

MAX_QUERY_LENGTH = 100
# Trigram indexes find substrings of at least this many characters.
MIN_SUBSTRING = 3


class SearchField(enum.StrEnum):
    """What a search looks in."""

    NAME = "name"
    AFFILIATION = "affiliation"
    # The folded address (email_key): a whole address, a part of one, or a domain.
    EMAIL = "email"


PUBLIC_FIELDS: tuple[SearchField, ...] = (SearchField.NAME, SearchField.AFFILIATION)
MODERATOR_FIELDS: tuple[SearchField, ...] = (SearchField.NAME, SearchField.AFFILIATION, SearchField.EMAIL)

_FTS_COLUMNS = {SearchField.NAME: "name", SearchField.AFFILIATION: "affiliation", SearchField.EMAIL: "email_key"}
_COLUMNS = {
    SearchField.NAME: Signature.name,
    SearchField.AFFILIATION: Signature.affiliation,
    SearchField.EMAIL: Signature.email_key,
}
_FTS = sa.table("signatures_fts", sa.column("rowid"))


def clean_query(text: str | None) -> str:
    """The query as searched: control characters dropped, trimmed, at most MAX_QUERY_LENGTH long."""
    kept = "".join(char for char in (text or "") if unicodedata.category(char) != "Cc")
    return kept.strip()[:MAX_QUERY_LENGTH].strip()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_phrase(query: str, fields: Sequence[SearchField]) -> str:
    """An FTS5 query for ``query`` as one phrase (quotes doubled) in ``fields``' columns only."""
    columns = " ".join(_FTS_COLUMNS[field] for field in fields)
    return '{%s} : "%s"' % (columns, query.replace('"', '""'))  # noqa: UP031 (braces are FTS5 syntax)


def _name_prefix(dialect: str, query: str) -> ColumnElement[bool]:
    """Names beginning with ``query`` (a short query), through an index on each database."""
    pattern = _escape_like(query) + "%"
    if dialect == "sqlite":
        # Uses ix_signatures_name_nocase(letter_id, name COLLATE NOCASE) as a range scan.
        return Signature.name.collate("NOCASE").like(pattern, escape="\\")
    return Signature.name.ilike(pattern, escape="\\")


def matching(session: Session, query: str, fields: Sequence[SearchField] = PUBLIC_FIELDS) -> ColumnElement[bool]:
    """A condition on ``Signature`` that holds for signatures matching ``query`` in ``fields``.

    ``query`` should come from :func:`clean_query` and not be empty. Queries shorter than
    MIN_SUBSTRING characters match names by prefix only.
    """
    if not query:
        raise ValueError("an empty query matches everything; leave the condition out instead")
    dialect = session.get_bind().dialect.name
    if len(query) < MIN_SUBSTRING:
        return _name_prefix(dialect, query)
    if dialect == "sqlite":
        phrase = _fts_phrase(query, fields)
        matches = sa.select(_FTS.c.rowid).where(sa.literal_column("signatures_fts").op("MATCH")(phrase))
        return Signature.id.in_(matches)
    pattern = f"%{_escape_like(query)}%"
    return sa.or_(*(_COLUMNS[field].ilike(pattern, escape="\\") for field in fields))
