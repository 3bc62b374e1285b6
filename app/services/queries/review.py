"""What moderators look at: the review queue and a search over every signature of a letter."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import overload

from sqlalchemy import ColumnElement, Select, false, func, select, union
from sqlalchemy.orm import Session, aliased

from app.errors import BadCursor
from app.models import AuditEntry, Flag, Letter, ModerationUndo, Signature, SignatureStatus
from app.services.queries import search as text_search
from app.services.queries.listing import escape_like
from app.text import name_key

PAGE_SIZE = 50
VIEWS = ("review", "flagged", "held", "all")
_CURSOR = re.compile(r"^(\d{1,18})$")
# "A near-identical name in a window": the same name (ignoring case, accents and punctuation)
# signed this long before or after, looked for among at most SIMILAR_NAME_SCAN signatures.
SIMILAR_NAME_WINDOW = timedelta(hours=24)
SIMILAR_NAME_SCAN = 20_000
# How many signatures of an audit entry are named on the log's page (the rest are counted).
AUDIT_NAMES = 5


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
    signature: int | None = None  # one signature, by id
    same_network: int | None = None  # the signatures from the network this one came from
    same_name: int | None = None  # the signatures with a near-identical name, signed near this one

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
            "signature": str(self.signature or ""),
            "same_network": str(self.same_network or ""),
            "same_name": str(self.same_name or ""),
        }
        return {key: value for key, value in values.items() if value}

    @property
    def unfiltered(self) -> bool:
        """Whether the search names nothing but a view (on "all", that is every signature of the letter)."""
        return self.as_args().keys() <= {"view"}


@dataclass(frozen=True)
class NetworkFacts:
    """What the other signatures from one network say about a signature (while network hashes are kept)."""

    # How many signatures of the letter came from its network, from the first to the last of them.
    count: int
    span: timedelta
    # How long after the previous signature from the same network this one was made, if any.
    after_previous: timedelta | None


@dataclass(frozen=True)
class QueuePage:
    """One page of signatures with their flags, and the cursor of the next page.

    ``flags`` are the open ones (why each is in the queue); ``settled`` the flags already dealt
    with (reports stay readable); ``networks`` what the signature's network says.
    """

    signatures: Sequence[Signature]
    flags: dict[int, list[Flag]] = field(default_factory=dict)
    next_cursor: str | None = None
    settled: dict[int, list[Flag]] = field(default_factory=dict)
    networks: dict[int, NetworkFacts] = field(default_factory=dict)


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
    if search.signature:
        stmt = stmt.where(Signature.id == search.signature)
    if search.same_network:
        network = (
            select(Signature.network_hash)
            .where(Signature.id == search.same_network, Signature.letter_id == letter_id)
            .scalar_subquery()
        )
        # Served by ix_signatures_network; no match once the hashes are cleared by the purge.
        stmt = stmt.where(Signature.network_hash.is_not(None), Signature.network_hash == network)
    if search.same_name:
        stmt = stmt.where(_similar_names(session, letter_id, search.same_name))
    return stmt


def _similar_names(session: Session, letter_id: int, signature_id: int) -> ColumnElement[bool]:
    """A condition: a near-identical name to that signature's, signed within SIMILAR_NAME_WINDOW of it."""
    found = session.execute(
        select(Signature.name, Signature.created_at).where(
            Signature.id == signature_id, Signature.letter_id == letter_id
        )
    ).first()
    key = name_key(found.name) if found else ""
    if found is None or not key:
        return false()
    # Names are compared as the flags compare them (app.text.name_key), over the window's signatures.
    nearby = session.execute(
        select(Signature.id, Signature.name)
        .where(
            Signature.letter_id == letter_id,
            Signature.created_at >= found.created_at - SIMILAR_NAME_WINDOW,
            Signature.created_at <= found.created_at + SIMILAR_NAME_WINDOW,
        )
        .order_by(Signature.created_at)
        .limit(SIMILAR_NAME_SCAN)
    )
    ids = [row.id for row in nearby if name_key(row.name) == key]
    return Signature.id.in_(ids)


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
    return _with_context(session, page, str(page[-1].id) if more else None)


def rows_page(session: Session, letter_id: int, ids: Sequence[int]) -> QueuePage:
    """These signatures of the letter (at most a page of them), as the queue shows them."""
    wanted = list(ids)[:PAGE_SIZE]
    page = list(
        session.scalars(
            select(Signature)
            .where(Signature.letter_id == letter_id, Signature.id.in_(wanted))
            .order_by(Signature.id.desc())
            .execution_options(populate_existing=True)
        )
    )
    return _with_context(session, page, None)


def _with_context(session: Session, page: list[Signature], next_cursor: str | None) -> QueuePage:
    """A page with each signature's flags (open and settled) and its network's facts."""
    flags: dict[int, list[Flag]] = {}
    settled: dict[int, list[Flag]] = {}
    if page:
        for flag in session.scalars(select(Flag).where(Flag.signature_id.in_([s.id for s in page])).order_by(Flag.id)):
            (flags if flag.resolved_at is None else settled).setdefault(flag.signature_id, []).append(flag)
    return QueuePage(page, flags, next_cursor, settled, network_facts(session, page))


def has_open_flags(session: Session, signature_id: int) -> bool:
    """Whether the signature is in the queue for a reason not yet dealt with."""
    stmt = select(Flag.id).where(Flag.signature_id == signature_id, Flag.resolved_at.is_(None)).limit(1)
    return session.scalar(stmt) is not None


def network_facts(session: Session, signatures: Sequence[Signature]) -> dict[int, NetworkFacts]:
    """For each signature with a network hash: its network's signatures on the letter, and the gap before it.

    Two queries for a page, each an index range per network (ix_signatures_network).
    """
    hashed = [s for s in signatures if s.network_hash]
    if not hashed:
        return {}
    letter_ids = {s.letter_id for s in hashed}
    groups = {
        (row.letter_id, row.network_hash): row
        for row in session.execute(
            select(
                Signature.letter_id,
                Signature.network_hash,
                func.count().label("number"),
                func.min(Signature.created_at).label("first"),
                func.max(Signature.created_at).label("last"),
            )
            .where(
                Signature.letter_id.in_(letter_ids),
                Signature.network_hash.in_({s.network_hash for s in hashed}),
            )
            .group_by(Signature.letter_id, Signature.network_hash)
        )
    }
    other = aliased(Signature)
    previous = (
        select(func.max(other.created_at))
        .where(
            other.letter_id == Signature.letter_id,
            other.network_hash == Signature.network_hash,
            other.created_at < Signature.created_at,
        )
        .correlate(Signature)
        .scalar_subquery()
    )
    before: dict[int, datetime | None] = {
        row[0]: row[1]
        for row in session.execute(select(Signature.id, previous).where(Signature.id.in_([s.id for s in hashed])))
    }
    facts = {}
    for signature in hashed:
        group = groups.get((signature.letter_id, signature.network_hash))
        if group is None:
            continue
        first, last, earlier = _aware(group.first), _aware(group.last), _aware(before.get(signature.id))
        facts[signature.id] = NetworkFacts(
            group.number, last - first, signature.created_at - earlier if earlier is not None else None
        )
    return facts


@overload
def _aware(moment: datetime) -> datetime: ...
@overload
def _aware(moment: None) -> None: ...
def _aware(moment: datetime | None) -> datetime | None:
    # Stored in UTC; an aggregate may come back without its zone.
    if moment is None or moment.tzinfo:
        return moment
    return moment.replace(tzinfo=UTC)


def matching_ids(session: Session, letter_id: int, search: Search, *, limit: int) -> list[int]:
    """The ids of up to ``limit`` + 1 matching signatures (one more, to tell that there are too many)."""
    stmt = matching(session, letter_id, search).with_only_columns(Signature.id).order_by(Signature.id).limit(limit + 1)
    return list(session.scalars(stmt))


def count_matching(session: Session, letter_id: int, search: Search, *, limit: int) -> int:
    """How many signatures the search matches, counting no further than ``limit`` + 1."""
    stmt = matching(session, letter_id, search).with_only_columns(Signature.id).limit(limit + 1).subquery()
    return session.scalar(select(func.count()).select_from(stmt)) or 0


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
    since: date | None = None
    until: date | None = None


def _audit_matching(criteria: AuditFilter) -> Select[AuditEntry]:
    stmt = select(AuditEntry)
    if criteria.letter_id:
        stmt = stmt.where(AuditEntry.letter_id == criteria.letter_id)
    if criteria.action:
        stmt = stmt.where(AuditEntry.action == criteria.action)
    if criteria.moderator:
        stmt = stmt.where(AuditEntry.moderator_email == criteria.moderator.strip().lower())
    if criteria.since:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(criteria.since, time.min, tzinfo=UTC))
    if criteria.until:
        stmt = stmt.where(AuditEntry.at < datetime.combine(criteria.until + timedelta(days=1), time.min, tzinfo=UTC))
    return stmt


def audit_page(
    session: Session, criteria: AuditFilter, *, cursor: str | None = None
) -> tuple[list[AuditEntry], str | None]:
    """Audit entries, newest first, a page at a time."""
    stmt = _audit_matching(criteria)
    if cursor:
        match = _CURSOR.match(cursor)
        if not match:
            raise BadCursor()
        stmt = stmt.where(AuditEntry.id < int(match.group(1)))
    rows = list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], (str(rows[PAGE_SIZE - 1].id) if len(rows) > PAGE_SIZE else None)


def audit_entries(session: Session, criteria: AuditFilter, *, batch_size: int = 500) -> Iterator[AuditEntry]:
    """Every matching audit entry, newest first, read in batches (for the CSV download)."""
    cursor: int | None = None
    while True:
        stmt = _audit_matching(criteria)
        if cursor is not None:
            stmt = stmt.where(AuditEntry.id < cursor)
        batch = list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(batch_size)))
        yield from batch
        if len(batch) < batch_size:
            return
        cursor = batch[-1].id


def entry_ids(entry: AuditEntry) -> list[int]:
    """The ids of the signatures an audit entry lists."""
    return [int(part) for part in entry.signature_ids.split() if part.isdigit()]


@dataclass(frozen=True)
class NamedSignature:
    """A signature an audit entry lists: its name, or None once erased (withdrawn or deleted)."""

    id: int
    name: str | None
    letter_slug: str | None


@dataclass(frozen=True)
class AuditRow:
    """An audit entry as the log shows it: whom it names, and how it stands with undo."""

    entry: AuditEntry
    signatures: list[NamedSignature]
    more: int
    undone_by: AuditEntry | None = None  # the undo of this entry
    undoes: AuditEntry | None = None  # for an undo: the entry it undid
    undoable: bool = False


def audit_rows(session: Session, entries: Sequence[AuditEntry], *, now: datetime, window: timedelta) -> list[AuditRow]:
    """The entries with the first AUDIT_NAMES signatures of each by name, and what undo can still do.

    A few queries for a page, whatever its entries list.
    """
    wanted = {i for entry in entries for i in entry_ids(entry)[:AUDIT_NAMES]}
    named: dict[int, NamedSignature] = {}
    if wanted:
        rows = session.execute(
            select(Signature.id, Signature.name, Signature.status, Letter.slug)
            .join(Letter, Letter.id == Signature.letter_id)
            .where(Signature.id.in_(wanted))
        )
        for row in rows:
            erased = row.status in (SignatureStatus.WITHDRAWN, SignatureStatus.REMOVED) or not row.name
            named[row.id] = NamedSignature(row.id, None if erased else row.name, row.slug)
    ids = [entry.id for entry in entries]
    undone_by = {
        undo.undoes_id: undo
        for undo in session.scalars(select(AuditEntry).where(AuditEntry.undoes_id.in_(ids)))
        if undo.undoes_id is not None
    }
    undid = {entry.undoes_id for entry in entries if entry.undoes_id}
    originals = {e.id: e for e in session.scalars(select(AuditEntry).where(AuditEntry.id.in_(undid)))} if undid else {}
    open_undos = set(
        session.scalars(
            select(ModerationUndo.entry_id).where(ModerationUndo.entry_id.in_(ids), ModerationUndo.at > now - window)
        )
    )
    result = []
    for entry in entries:
        listed = entry_ids(entry)
        shown = [named.get(i, NamedSignature(i, None, None)) for i in listed[:AUDIT_NAMES]]
        result.append(
            AuditRow(
                entry,
                shown,
                max(entry.signature_count, len(listed)) - len(shown),
                undone_by.get(entry.id),
                originals.get(entry.undoes_id) if entry.undoes_id else None,
                entry.id in open_undos and entry.id not in undone_by,
            )
        )
    return result


def audit_moderators(session: Session) -> list[str]:
    """Every moderator address in the audit log, for its filter."""
    return list(session.scalars(select(AuditEntry.moderator_email).distinct().order_by(AuditEntry.moderator_email)))
