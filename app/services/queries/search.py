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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import Signature, listed_terms

MAX_QUERY_LENGTH = 100
# Up to this many matches are fetched by id and sorted; more, and the caller walks its
# ordered index with the condition instead, which finds a page of common matches at once.
FEW_MATCHES = 2000
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

# FTS5 tables (SQLite) and their columns: addresses have an index of their own.
_FTS_TABLES = {
    SearchField.NAME: ("signatures_fts", "name"),
    SearchField.AFFILIATION: ("signatures_fts", "affiliation"),
    SearchField.EMAIL: ("signatures_email_fts", "email_key"),
}
_COLUMNS = {
    SearchField.NAME: Signature.name,
    SearchField.AFFILIATION: Signature.affiliation,
    SearchField.EMAIL: Signature.email_key,
}


def clean_query(text: str | None) -> str:
    """The query as searched: control characters dropped, trimmed, at most MAX_QUERY_LENGTH long."""
    kept = "".join(char for char in (text or "") if unicodedata.category(char) != "Cc")
    return kept.strip()[:MAX_QUERY_LENGTH].strip()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_ids(query: str, fields: Sequence[SearchField]) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """The rowids (signature ids) the FTS5 indexes match for ``query`` as one phrase, in any letter."""
    phrase = '"%s"' % query.replace('"', '""')  # noqa: UP031 (FTS5 quoting: quotes doubled)
    selects = []
    for table in dict.fromkeys(_FTS_TABLES[field][0] for field in fields):
        columns = " ".join(_FTS_TABLES[field][1] for field in fields if _FTS_TABLES[field][0] == table)
        fts = sa.table(table, sa.column("rowid"))
        match = sa.literal_column(table).op("MATCH")("{%s} : %s" % (columns, phrase))  # noqa: UP031
        selects.append(sa.select(fts.c.rowid).where(match))
    return selects[0] if len(selects) == 1 else sa.union(*selects)


def _name_prefix(dialect: str, query: str, *, indexed: bool = False) -> ColumnElement[bool]:
    """Names beginning with ``query`` (a short query); ``indexed`` lets SQLite use its name index."""
    pattern = _escape_like(query) + "%"
    if dialect == "sqlite":
        # LIKE is case-insensitive (ASCII) on SQLite either way; with NOCASE it becomes a range
        # scan of ix_signatures_name_nocase, without it the newest-first listing index is kept.
        name = Signature.name.collate("NOCASE") if indexed else Signature.name
        return name.like(pattern, escape="\\")
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
        return Signature.id.in_(_fts_ids(query, fields))
    pattern = f"%{_escape_like(query)}%"
    return sa.or_(*(_COLUMNS[field].ilike(pattern, escape="\\") for field in fields))


def few_matching_ids(
    session: Session, letter_id: int, query: str, fields: Sequence[SearchField] = PUBLIC_FIELDS
) -> list[int] | None:
    """Ids of a letter's listed signatures matching ``query`` when there are at most FEW_MATCHES, else None.

    A rare term is answered from the text index alone, and a short list of ids is cheap to
    sort. Without this a database may walk its newest-first index testing every row, which
    for a term that matches nothing reads the whole letter. Only confirmed, public signatures
    of the letter are counted (``Signature.listed``): a name that belongs to a hidden, unlisted,
    unconfirmed or awaiting-review signer
    gives the same empty list as a name nobody has, so the caller does the same work for both
    (anything else would tell, by the time the answer takes, who signed without being listed).
    """
    listed = listed_terms()
    stmt: sa.Select[Any]
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite" and len(query) >= MIN_SUBSTRING:
        # The text index drives, and each rowid it finds is looked up by primary key. Written as
        # "id IN (...) AND letter_id = ?" (or as a plain join), SQLite would rather walk the
        # letter's listing index and test every row against the matches: a whole-letter read.
        found = _fts_ids(query, fields).subquery()
        stmt = sa.select(found.c.rowid).where(
            sa.exists().where(Signature.id == found.c.rowid, Signature.letter_id == letter_id, *listed)
        )
    elif dialect == "sqlite":
        prefix = _name_prefix(dialect, query, indexed=True)
        stmt = sa.select(Signature.id).where(Signature.letter_id == letter_id, prefix, *listed)
    else:
        short = len(query) < MIN_SUBSTRING
        condition = _name_prefix(dialect, query) if short else matching(session, query, fields)
        # The letter's matches come from the trigram indexes; OFFSET 0 has that part planned on
        # its own. Without it the generic plan of the prepared statement (which knows neither the
        # pattern nor the status) reads the whole table: 0.1 ms became 0.8 s with 200,000 signers.
        matches = sa.select(Signature.id, Signature.status, Signature.public, Signature.unlisted_until_review).where(
            Signature.letter_id == letter_id, condition
        )
        found = matches.offset(sa.literal_column("0")).subquery()
        stmt = sa.select(found.c.id).where(*listed_terms(found.c))
    ids: list[int] = list(session.scalars(stmt.limit(FEW_MATCHES + 1)))
    return ids if len(ids) <= FEW_MATCHES else None
