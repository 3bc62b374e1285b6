"""The public list of signers: newest first, keyset (cursor) pagination, search."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app.errors import BadCursor, DomainError
from app.models import MAX_ROW_ID, Letter, Signature, listed_terms
from app.services.queries import search

MAX_LIMIT = 100
MAX_QUERY_LENGTH = search.MAX_QUERY_LENGTH
_CURSOR = re.compile(r"([0-9]{1,17})-([0-9]{1,18})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Page:
    """One page of signatures and the cursor of the next, if there is one."""

    signatures: Sequence[Signature]
    next_cursor: str | None


def encode_cursor(signature: Signature) -> str:
    """An opaque cursor after ``signature``: its confirmation time in microseconds and its id."""
    assert signature.confirmed_at is not None
    micros = (signature.confirmed_at - _EPOCH) // _MICROSECOND
    return f"{micros}-{signature.id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The position a cursor stands for (a time and the last id before it at that time), or BadCursor."""
    match = _CURSOR.fullmatch(cursor)
    if not match:
        raise BadCursor()
    micros, signature_id = int(match.group(1)), int(match.group(2))
    try:
        # Only an edited cursor holds an id beyond any row's: it means every row of that instant.
        return _EPOCH + micros * _MICROSECOND, min(signature_id - 1, MAX_ROW_ID)
    except OverflowError:
        raise BadCursor() from None


class BadFilter(DomainError):
    """A yes/no filter with a value other than 1, 0, true or false."""

    code = "bad_parameter"


def parse_flag(name: str, raw: str | None) -> bool | None:
    """A yes/no query parameter: None when absent or empty, else True or False, or BadFilter."""
    if raw is None or raw == "":
        return None
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes"}:
        return True
    if lowered in {"0", "false", "no"}:
        return False
    raise BadFilter(f"{name} must be 1 or 0.")


def escape_like(text: str) -> str:
    """``text`` for a LIKE pattern, with its wildcards taken literally (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def names_hidden(session: Session, letter_id: int) -> bool:
    """Whether the letter's names are off every public surface (hidden after it closed, or erased).

    The one check every public reader of the list makes beside ``Signature.listed``; the letter
    is nearly always in the session already, so it costs no query.
    """
    letter = session.get(Letter, letter_id)
    return letter is not None and letter.names_hidden


def public_signatures(
    session: Session,
    letter_id: int,
    *,
    limit: int,
    cursor: str | None = None,
    query: str | None = None,
    with_comments: bool = False,
    verified: bool | None = None,
    founding: bool | None = None,
    domain_confirmed: bool | None = None,
) -> Page:
    """Listed signatures of a letter (``Signature.listed``), newest first, after ``cursor``, matching ``query``.

    ``with_comments`` keeps only the signers who left a comment. ``verified`` and ``founding``
    keep only signatures that are (True) or are not (False) verified or founding, and
    ``domain_confirmed`` those that show (or do not show) the domain they confirmed with; None
    keeps both. The order, and so the cursors, are the same with or without them.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    if names_hidden(session, letter_id):
        # (A bad cursor is still refused, as on any list.)
        if cursor:
            decode_cursor(cursor)
        return Page([], None)
    stmt = select(Signature).where(Signature.letter_id == letter_id, *listed_terms())
    if with_comments:
        stmt = stmt.where(Signature.comment.is_not(None), Signature.comment != "")
    if verified is not None:
        stmt = stmt.where(Signature.verified_at.is_not(None) if verified else Signature.verified_at.is_(None))
    if founding is not None:
        # "= true" (not "IS true"), so that the databases use the partial index of founders.
        stmt = stmt.where(Signature.founding == (sa.true() if founding else sa.false()))
    if domain_confirmed is not None:
        # IS NOT NULL: the condition of the partial index of domain-confirmed signers.
        column = Signature.confirmed_domain
        stmt = stmt.where(column.is_not(None) if domain_confirmed else column.is_(None))
    if cursor:
        when, last_id = decode_cursor(cursor)
        # A row-value comparison: both databases seek their listing index to it (an OR of two
        # conditions would make SQLite walk the index from the newest signature down).
        stmt = stmt.where(tuple_(Signature.confirmed_at, Signature.id) <= tuple_(when, last_id))
    # (The cursor is read first: a bad one is refused even when the search finds nothing.)
    query = search.clean_query(query)
    if query:
        ids = search.few_matching_ids(session, letter_id, query, search.PUBLIC_FIELDS)
        if ids == []:
            return Page([], None)
        stmt = stmt.where(search.matching(session, query) if ids is None else Signature.id.in_(ids))
    stmt = stmt.order_by(Signature.confirmed_at.desc(), Signature.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def public_signature(session: Session, letter_id: int, signature_id: int) -> Signature | None:
    """One listed signature of a letter (for its own page and the API), or None."""
    if names_hidden(session, letter_id):
        return None
    return session.scalar(
        select(Signature).where(Signature.id == signature_id, Signature.letter_id == letter_id, *listed_terms())
    )
