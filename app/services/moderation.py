"""Moderation: actions on signatures, one or many at once, each written to the audit log."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import log
from app.errors import N_, DomainError
from app.models import (
    AuditEntry,
    Flag,
    Letter,
    ModerationUndo,
    Moderator,
    RemovalReason,
    Signature,
    SignatureStatus,
)
from app.services import counting
from app.services.signing import release_held
from app.services.tokens import TokenLifetimes
from app.services.withdrawal import LIVE_STATUSES, erase_signature
from app.timestamps import iso

# The most signatures one action may change; a larger "all matching" asks for a narrower search.
MAX_BULK = 10_000


class Action(enum.StrEnum):
    """What a moderator can do to signatures."""

    APPROVE = "approve"
    HIDE = "hide"
    RESTORE = "restore"
    DELETE = "delete"
    VERIFY = "verify"
    UNVERIFY = "unverify"
    DISMISS = "dismiss"
    RELEASE = "release"


# Which states each action applies to; signatures in other states are skipped and reported.
APPLIES_TO: dict[Action, tuple[SignatureStatus, ...]] = {
    Action.APPROVE: (SignatureStatus.PENDING,),
    Action.HIDE: (SignatureStatus.CONFIRMED, SignatureStatus.PENDING),
    Action.RESTORE: (SignatureStatus.HIDDEN,),
    Action.DELETE: LIVE_STATUSES,
    Action.VERIFY: (SignatureStatus.CONFIRMED, SignatureStatus.PENDING, SignatureStatus.HIDDEN),
    Action.UNVERIFY: (SignatureStatus.CONFIRMED, SignatureStatus.PENDING, SignatureStatus.HIDDEN),
    Action.DISMISS: LIVE_STATUSES,
    Action.RELEASE: (SignatureStatus.SUSPECT,),
}
# Actions that need a reason category, and those that need a note.
NEEDS_REASON = {Action.HIDE, Action.DELETE}
NEEDS_NOTE = {Action.VERIFY}
# Actions that can be undone for a while (MODERATION_UNDO_MINUTES): each changes only what it can put
# back exactly. Deleting for good erases personal data and releasing mails a link: both are final.
UNDOABLE = frozenset({Action.HIDE, Action.RESTORE, Action.APPROVE, Action.VERIFY, Action.UNVERIFY, Action.DISMISS})
# Actions that settle the open flags of the signatures they change.
SETTLES_FLAGS = frozenset({Action.DISMISS, Action.APPROVE, Action.HIDE, Action.DELETE, Action.RESTORE})
# The audit entry's action for an undo.
UNDO = "undo"
# How many names a preview shows.
PREVIEW_NAMES = 10


class TooMany(DomainError):
    """A bulk action on more signatures than one action may change."""

    status_code = 400
    code = "too_many"
    message = "That is more signatures than one action may change. Narrow the search and try again."


class BadAction(DomainError):
    """An action without what it needs (a reason, a note) or on nothing."""

    status_code = 400
    code = "bad_action"


class NotUndoable(DomainError):
    """An undo that cannot be done: the action is final, already undone, or too old."""

    status_code = 409
    code = "not_undoable"
    message = N_("This action cannot be undone.")


class AlreadyUndone(NotUndoable):
    """The action was undone before."""

    message = N_("This action was undone already.")


class UndoExpired(NotUndoable):
    """The time to undo the action has passed."""

    message = N_("The time to undo this action has passed.")


@dataclass(frozen=True)
class Outcome:
    """What an action did; ``entry_id`` is its audit entry, which undoes it while it may."""

    action: Action
    changed: int
    skipped: int
    entry_id: int | None = None
    undoable: bool = False


@dataclass(frozen=True)
class UndoOutcome:
    """What an undo did: the entry undone, how many signatures went back, how many had changed since."""

    entry: AuditEntry
    restored: int
    skipped: int
    undo_entry_id: int


@dataclass(frozen=True)
class Preview:
    """What an action would do, shown before a bulk or final action: how many, whom, and the count's change.

    ``digest`` stands for exactly the signatures previewed, so that the confirmation applies to
    them or to nothing (a search may match others by the time it is confirmed).
    """

    action: Action
    ids: list[int]
    applicable: int
    skipped: int
    first: list[tuple[int, str, str]]
    count_change: int
    digest: str


def digest_of(ids: Sequence[int]) -> str:
    """A short fingerprint of a set of signature ids (order and repeats do not matter)."""
    text = ",".join(str(i) for i in sorted(set(ids)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _audit(
    session: Session,
    moderator: Moderator,
    action: str,
    *,
    now: datetime,
    letter_id: int | None,
    signature_ids: Sequence[int] = (),
    reason: str = "",
) -> AuditEntry:
    """Add an audit entry (flushed by the caller)."""
    entry = AuditEntry(
        at=now,
        moderator_id=moderator.id,
        moderator_email=moderator.email,
        action=action,
        letter_id=letter_id,
        signature_ids=" ".join(str(i) for i in signature_ids),
        signature_count=len(signature_ids),
        reason=reason,
    )
    session.add(entry)
    return entry


def record(
    session: Session, moderator: Moderator, action: str, *, now: datetime, letter: Letter | None, detail: str
) -> None:
    """Write an audit entry for an action that is not on signatures (letters, accounts)."""
    _audit(session, moderator, action, now=now, letter_id=letter.id if letter else None, reason=detail)


def act(
    session: Session,
    moderator: Moderator,
    letter: Letter,
    action: Action,
    signature_ids: Sequence[int],
    *,
    now: datetime,
    reason: RemovalReason | None = None,
    note: str = "",
    ttl: TokenLifetimes | None = None,
) -> Outcome:
    """Apply ``action`` to the signatures of ``letter`` with these ids, in the caller's transaction.

    Ids of other letters' signatures are ignored; signatures not in a state the action applies
    to are skipped. The audit entry lists the signatures that changed.
    """
    if not signature_ids:
        raise BadAction("Choose at least one signature.")
    if len(signature_ids) > MAX_BULK:
        raise TooMany()
    if action in NEEDS_REASON and reason is None:
        raise BadAction("Choose a reason.")
    if action in NEEDS_NOTE and not note.strip():
        raise BadAction("Say how the identity was checked (only moderators see this note).")
    rows = list(
        session.scalars(
            select(Signature)
            .where(Signature.letter_id == letter.id, Signature.id.in_(list(signature_ids)))
            .order_by(Signature.id)
            .with_for_update()
        )
    )
    applicable = [s for s in rows if s.status in APPLIES_TO[action]]
    changed_ids = [s.id for s in applicable]
    undoable = action in UNDOABLE and bool(changed_ids)
    before = [_state(s) for s in applicable] if undoable else []
    settled: list[int] = []
    if action in SETTLES_FLAGS and changed_ids:
        settled = list(
            session.scalars(select(Flag.id).where(Flag.signature_id.in_(changed_ids), Flag.resolved_at.is_(None)))
        )
    for signature in applicable:
        _apply(session, signature, action, now=now, reason=reason, note=note, ttl=ttl)
    if settled:
        # Deciding on a signature settles the reasons it was in the queue.
        session.execute(
            update(Flag)
            .where(Flag.id.in_(settled))
            .values(resolved_at=now)
            .execution_options(synchronize_session=False)
        )
    detail = " ".join(part for part in (str(reason) if reason else "", note.strip()) if part)
    entry = _audit(
        session, moderator, str(action), now=now, letter_id=letter.id, signature_ids=changed_ids, reason=detail
    )
    session.flush()
    if undoable:
        state = {
            "signatures": [b | {"after": _check(s)} for b, s in zip(before, applicable, strict=True)],
            "flags": settled,
        }
        session.add(ModerationUndo(entry_id=entry.id, letter_id=letter.id, at=now, state=state))
        session.flush()
    return Outcome(action, len(changed_ids), len(signature_ids) - len(changed_ids), entry.id, undoable)


def _state(signature: Signature) -> dict[str, Any]:
    """What an undo puts back: every field an undoable action changes."""
    return {
        "id": signature.id,
        "status": str(signature.status),
        "removal_reason": str(signature.removal_reason) if signature.removal_reason else None,
        "moderator_note": signature.moderator_note,
        "confirmed_at": iso(signature.confirmed_at),
        "verified_at": iso(signature.verified_at),
        "verified_note": signature.verified_note,
    }


def _check(signature: Signature) -> dict[str, Any]:
    """What an action left: an undo puts back only a signature nobody has changed since."""
    return {
        "status": str(signature.status),
        "removal_reason": str(signature.removal_reason) if signature.removal_reason else None,
        "verified": signature.verified_at is not None,
    }


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def undo_deadline(entry: AuditEntry, window: timedelta) -> datetime:
    """Until when ``entry``'s action may be undone."""
    return entry.at + window


def undoable_entries(session: Session, entry_ids: Sequence[int], *, now: datetime, window: timedelta) -> set[int]:
    """Which of these audit entries can still be undone (an undo state kept, not undone, in time)."""
    if not entry_ids:
        return set()
    rows = session.execute(
        select(ModerationUndo.entry_id).where(
            ModerationUndo.entry_id.in_(list(entry_ids)), ModerationUndo.at > now - window
        )
    )
    return {entry_id for (entry_id,) in rows}


def undo(session: Session, moderator: Moderator, entry_id: int, *, now: datetime, window: timedelta) -> UndoOutcome:
    """Undo the action of audit entry ``entry_id``, in the caller's transaction; the undo is audited too.

    Every signature goes back to its state before the action (status, reason, notes, times, the
    verified mark) through the same paths as any change, so the count, the tallies and the public
    log follow; flags the action settled are open again. A signature changed since by anyone is
    left as it is and reported as skipped. Refused once undone, or after ``window``.
    """
    entry = session.get(AuditEntry, entry_id)
    if entry is None:
        raise NotUndoable()
    record = session.scalars(
        select(ModerationUndo).where(ModerationUndo.entry_id == entry_id).with_for_update()
    ).one_or_none()
    if session.scalar(select(AuditEntry.id).where(AuditEntry.undoes_id == entry_id)) is not None:
        raise AlreadyUndone()
    if record is None:
        raise UndoExpired() if entry.action in {str(a) for a in UNDOABLE} else NotUndoable()
    if now - entry.at > window:
        raise UndoExpired()
    states = {int(item["id"]): item for item in record.state.get("signatures", [])}
    signatures = list(
        session.scalars(
            select(Signature).where(Signature.id.in_(list(states))).order_by(Signature.id).with_for_update()
        )
    )
    restored: list[int] = []
    for signature in signatures:
        state = states[signature.id]
        if _check(signature) != state["after"]:
            continue  # changed since by someone: their decision stands
        _put_back(session, signature, state, now=now)
        restored.append(signature.id)
    flags = [int(i) for i in record.state.get("flags", [])]
    if flags and restored:
        session.execute(
            update(Flag)
            .where(Flag.id.in_(flags), Flag.signature_id.in_(restored))
            .values(resolved_at=None)
            .execution_options(synchronize_session=False)
        )
    undo_entry = _audit(session, moderator, UNDO, now=now, letter_id=entry.letter_id, signature_ids=restored)
    undo_entry.undoes_id = entry.id
    session.delete(record)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AlreadyUndone() from None
    return UndoOutcome(entry, len(restored), len(states) - len(restored), undo_entry.id)


def _put_back(session: Session, signature: Signature, state: dict[str, Any], *, now: datetime) -> None:
    """Give ``signature`` the fields of ``state`` again, through counting.move and the log."""
    status = SignatureStatus(state["status"])
    reason = RemovalReason(state["removal_reason"]) if state["removal_reason"] else None
    confirmed_at = _moment(state["confirmed_at"])
    if signature.status == SignatureStatus.CONFIRMED and status != SignatureStatus.CONFIRMED:
        # Out of the count: as it was counted (the stats tally of the hour it was listed in).
        counting.move(session, signature, status, now=now, reason=reason)
        signature.confirmed_at = confirmed_at
    else:
        # The listing time first: a restore's log entry commits to the signature as it is listed,
        # and it is counted in that hour's tally.
        signature.confirmed_at = confirmed_at
        if signature.status != status:
            counting.move(session, signature, status, now=now, reason=reason)
    signature.moderator_note = state["moderator_note"]
    verified_at = _moment(state["verified_at"])
    if (signature.verified_at, signature.verified_note) != (verified_at, state["verified_note"]):
        signature.verified_at = verified_at
        signature.verified_note = state["verified_note"]
        log.on_update(session, signature, now=now)


def preview(session: Session, letter: Letter, action: Action, signature_ids: Sequence[int]) -> Preview:
    """What ``action`` on these signatures of ``letter`` would change, without changing anything."""
    if not signature_ids:
        raise BadAction("Choose at least one signature.")
    if len(signature_ids) > MAX_BULK:
        raise TooMany()
    ids = sorted(set(signature_ids))
    in_letter = (Signature.letter_id == letter.id, Signature.id.in_(ids))
    applies = Signature.status.in_(APPLIES_TO[action])
    applicable = session.scalar(select(func.count()).select_from(Signature).where(*in_letter, applies)) or 0
    first = [
        (row.id, row.name, row.email)
        for row in session.execute(
            select(Signature.id, Signature.name, Signature.email)
            .where(*in_letter, applies)
            .order_by(Signature.id)
            .limit(PREVIEW_NAMES)
        )
    ]
    counted = (
        session.scalar(
            select(func.count())
            .select_from(Signature)
            .where(*in_letter, applies, Signature.status == SignatureStatus.CONFIRMED)
        )
        or 0
    )
    change = {Action.HIDE: -counted, Action.DELETE: -counted, Action.APPROVE: applicable, Action.RESTORE: applicable}
    return Preview(
        action,
        ids,
        applicable,
        len(ids) - applicable,
        first,
        change.get(action, 0),
        digest_of(ids),
    )


def _apply(
    session: Session,
    signature: Signature,
    action: Action,
    *,
    now: datetime,
    reason: RemovalReason | None,
    note: str,
    ttl: TokenLifetimes | None,
) -> None:
    if action == Action.APPROVE:
        # Listed from now: the log records the time the list shows.
        signature.confirmed_at = now
        counting.move(session, signature, SignatureStatus.CONFIRMED, now=now)
    elif action == Action.HIDE:
        counting.move(session, signature, SignatureStatus.HIDDEN, now=now, reason=reason)
        signature.moderator_note = note.strip() or None
    elif action == Action.RESTORE:
        counting.move(session, signature, SignatureStatus.CONFIRMED, now=now)
    elif action == Action.DELETE:
        erase_signature(session, signature, now=now, status=SignatureStatus.REMOVED, reason=reason)
    elif action == Action.VERIFY:
        signature.verified_at = now
        signature.verified_note = note.strip()
        log.on_update(session, signature, now=now)
    elif action == Action.UNVERIFY:
        signature.verified_at = None
        signature.verified_note = None
        log.on_update(session, signature, now=now)
    elif action == Action.RELEASE:
        if ttl is None:
            raise ValueError("releasing a held signature mails a link: pass the token lifetimes (ttl)")
        release_held(session, signature, now=now, ttl=ttl)
