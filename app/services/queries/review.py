"""What moderators look at: the review queue and a search over every signature of a letter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import Session

from app.errors import BadCursor
from app.models import AuditEntry, Flag, Signature, SignatureStatus
from app.services.queries import search as text_search
from app.services.queries.listing import escape_like

PAGE_SIZE = 50
VIEWS = ("review", "flagged", "held", "all")
_CURSOR = re.compile(r"^(\d{1,18})$")


@dataclass(frozen=True)
class Search:
    """A moderator's search: which view, and what to match."""

    view: str = "review"
    text: str = ""  # name or affiliation
    email: str = ""  # the address, or its start
    domain: str = ""  # the address's domain
    status: SignatureStatus | None = None
    since: date | None = None
    until: date | None = None

    def as_args(self) -> dict[str, str]:
        """The search as query-string arguments (to repeat it in links and forms)."""
        values = {
            "view": self.view,
            "q": self.text,
            "email": self.email,
            "domain": self.domain,
            "status": str(self.status or ""),
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class QueuePage:
    """One page of signatures with their open flags, and the cursor of the next page."""

    signatures: Sequence[Signature]
    flags: dict[int, list[Flag]] = field(default_factory=dict)
    next_cursor: str | None = None


def _flagged_ids(letter_id: int) -> Select[int]:
    """Ids of signatures with an open flag (from the flags' own index, not a scan of signatures)."""
    return select(Flag.signature_id).where(Flag.letter_id == letter_id, Flag.resolved_at.is_(None))


def _pending_ids(letter_id: int) -> Select[int]:
    return select(Signature.id).where(Signature.letter_id == letter_id, Signature.status == SignatureStatus.PENDING)


def matching(session: Session, letter_id: int, search: Search) -> Select[Signature]:
    """Every signature of the letter that the search matches (no order, no limit)."""
    stmt = select(Signature).where(Signature.letter_id == letter_id)
    # The queues are small even on a large letter: start from what is in them, by index.
    if search.view == "review":
        stmt = stmt.where(Signature.id.in_(union(_pending_ids(letter_id), _flagged_ids(letter_id))))
        stmt = stmt.where(Signature.status.not_in((SignatureStatus.WITHDRAWN, SignatureStatus.REMOVED)))
    elif search.view == "flagged":
        stmt = stmt.where(Signature.id.in_(_flagged_ids(letter_id)))
    elif search.view == "held":
        stmt = stmt.where(Signature.status == SignatureStatus.SUSPECT)
    text = text_search.clean_query(search.text)
    if text:
        # The database's text index (FTS5 on SQLite, pg_trgm on PostgreSQL), as for the public list.
        stmt = stmt.where(text_search.matching(session, text, text_search.PUBLIC_FIELDS))
    if search.email:
        # A prefix of the folded address: served by the (letter_id, email_key) unique index.
        stmt = stmt.where(Signature.email_key.like(f"{escape_like(search.email.strip().lower())}%", escape="\\"))
    if search.domain:
        stmt = stmt.where(Signature.email_domain == search.domain.strip().lower().lstrip("@"))
    if search.status:
        stmt = stmt.where(Signature.status == search.status)
    if search.since:
        stmt = stmt.where(Signature.created_at >= datetime.combine(search.since, time.min, tzinfo=UTC))
    if search.until:
        stmt = stmt.where(
            Signature.created_at < datetime.combine(search.until + timedelta(days=1), time.min, tzinfo=UTC)
        )
    return stmt


def queue_page(session: Session, letter_id: int, search: Search, *, cursor: str | None = None) -> QueuePage:
    """A page of matching signatures, newest first (keyset on id), with their open flags."""
    stmt = matching(session, letter_id, search)
    if cursor:
        match = _CURSOR.match(cursor)
        if not match:
            raise BadCursor()
        stmt = stmt.where(Signature.id < int(match.group(1)))
    rows = list(session.scalars(stmt.order_by(Signature.id.desc()).limit(PAGE_SIZE + 1)))
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    flags: dict[int, list[Flag]] = {}
    if page:
        open_flags = select(Flag).where(Flag.signature_id.in_([s.id for s in page]), Flag.resolved_at.is_(None))
        for flag in session.scalars(open_flags.order_by(Flag.id)):
            flags.setdefault(flag.signature_id, []).append(flag)
    return QueuePage(page, flags, str(page[-1].id) if more else None)


def matching_ids(session: Session, letter_id: int, search: Search, *, limit: int) -> list[int]:
    """The ids of up to ``limit`` + 1 matching signatures (one more, to tell that there are too many)."""
    stmt = matching(session, letter_id, search).with_only_columns(Signature.id).order_by(Signature.id).limit(limit + 1)
    return list(session.scalars(stmt))


def queue_counts(session: Session, letter_id: int) -> dict[str, int]:
    """How many signatures wait in each view (for the tabs)."""
    counts = {}
    for view in ("review", "flagged", "held"):
        stmt = matching(session, letter_id, Search(view=view)).with_only_columns(func.count())
        counts[view] = session.scalar(stmt) or 0
    return counts


@dataclass(frozen=True)
class AuditFilter:
    """What to show of the audit log."""

    letter_id: int | None = None
    action: str = ""
    moderator: str = ""


def audit_page(
    session: Session, criteria: AuditFilter, *, cursor: str | None = None
) -> tuple[list[AuditEntry], str | None]:
    """Audit entries, newest first, a page at a time."""
    stmt = select(AuditEntry)
    if criteria.letter_id:
        stmt = stmt.where(AuditEntry.letter_id == criteria.letter_id)
    if criteria.action:
        stmt = stmt.where(AuditEntry.action == criteria.action)
    if criteria.moderator:
        stmt = stmt.where(AuditEntry.moderator_email == criteria.moderator.strip().lower())
    if cursor:
        match = _CURSOR.match(cursor)
        if not match:
            raise BadCursor()
        stmt = stmt.where(AuditEntry.id < int(match.group(1)))
    rows = list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], (str(rows[PAGE_SIZE - 1].id) if len(rows) > PAGE_SIZE else None)
