"""The public list of signers: newest first, keyset (cursor) pagination, search."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.models import Signature, SignatureStatus
from app.services.errors import BadCursor, DomainError

MAX_LIMIT = 100
MAX_QUERY_LENGTH = 100
_CURSOR = re.compile(r"^(\d{1,17})-(\d{1,18})$")
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
    """The position a cursor stands for, or BadCursor."""
    match = _CURSOR.match(cursor)
    if not match:
        raise BadCursor()
    micros, signature_id = int(match.group(1)), int(match.group(2))
    try:
        return _EPOCH + micros * _MICROSECOND, signature_id
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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def public_signatures(
    session: Session,
    letter_id: int,
    *,
    limit: int,
    cursor: str | None = None,
    query: str | None = None,
    verified: bool | None = None,
    founding: bool | None = None,
) -> Page:
    """Confirmed, public signatures of a letter, newest first, after ``cursor``, matching ``query``.

    ``verified`` and ``founding`` keep only signatures that are (True) or are not (False) verified
    or founding; None keeps both. The order, and so the cursors, are the same with or without them.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = select(Signature).where(
        Signature.letter_id == letter_id,
        Signature.status == SignatureStatus.CONFIRMED,
        Signature.public.is_(True),
    )
    if verified is not None:
        stmt = stmt.where(Signature.verified_at.is_not(None) if verified else Signature.verified_at.is_(None))
    if founding is not None:
        stmt = stmt.where(Signature.founding.is_(founding))
    query = "".join(char for char in (query or "") if unicodedata.category(char) != "Cc").strip()
    if query:
        pattern = f"%{_escape_like(query[:MAX_QUERY_LENGTH])}%"
        stmt = stmt.where(
            or_(Signature.name.ilike(pattern, escape="\\"), Signature.affiliation.ilike(pattern, escape="\\"))
        )
    if cursor:
        when, signature_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                Signature.confirmed_at < when,
                and_(Signature.confirmed_at == when, Signature.id < signature_id),
            )
        )
    stmt = stmt.order_by(Signature.confirmed_at.desc(), Signature.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)
