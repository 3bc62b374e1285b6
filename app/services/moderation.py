"""Moderation: actions on signatures, one or many at once, each written to the audit log."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import log
from app.errors import DomainError
from app.models import (
    AuditEntry,
    Flag,
    Letter,
    Moderator,
    RemovalReason,
    Signature,
    SignatureStatus,
)
from app.services import counting
from app.services.signing import release_held
from app.services.tokens import TokenLifetimes
from app.services.withdrawal import LIVE_STATUSES, erase_signature

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
# Actions that settle the reasons a signature is in the queue (its open flags). Those that leave
# it on the list (or put it there) also end a review that kept it off the list: they run first.
SETTLES = (Action.DISMISS, Action.APPROVE, Action.HIDE, Action.DELETE, Action.RESTORE)
LISTS_AFTER_REVIEW = (Action.APPROVE, Action.DISMISS, Action.RESTORE)


def applies(action: Action, signature: Signature) -> bool:
    """Whether ``action`` would change ``signature``.

    Approving applies to signatures waiting for approval (pre-moderation), and to confirmed ones
    counted but kept off the public list until reviewed (a watch-list or disposable-address flag).
    """
    if action == Action.APPROVE and signature.status == SignatureStatus.CONFIRMED:
        return signature.unlisted_until_review
    return signature.status in APPLIES_TO[action]


# Actions that need a reason category, and those that need a note.
NEEDS_REASON = {Action.HIDE, Action.DELETE}
NEEDS_NOTE = {Action.VERIFY}


class TooMany(DomainError):
    """A bulk action on more signatures than one action may change."""

    status_code = 400
    code = "too_many"
    message = "That is more signatures than one action may change. Narrow the search and try again."


class BadAction(DomainError):
    """An action without what it needs (a reason, a note) or on nothing."""

    status_code = 400
    code = "bad_action"


@dataclass(frozen=True)
class Outcome:
    """What an action did."""

    action: Action
    changed: int
    skipped: int


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
    applicable = [s for s in rows if applies(action, s)]
    changed_ids = [s.id for s in applicable]
    for signature in applicable:
        if action in LISTS_AFTER_REVIEW:
            # Listed from now (a confirmed one is opened in the log before anything else happens).
            counting.end_review(session, signature, now=now)
            _apply(session, signature, action, now=now, reason=reason, note=note, ttl=ttl)
        else:
            _apply(session, signature, action, now=now, reason=reason, note=note, ttl=ttl)
            if action in SETTLES:
                # Hidden or deleted first: off the list anyway, so its name is never opened.
                counting.end_review(session, signature, now=now)
    if action in SETTLES and changed_ids:
        # Deciding on a signature settles the reasons it was in the queue.
        session.execute(
            update(Flag)
            .where(Flag.signature_id.in_(changed_ids), Flag.resolved_at.is_(None))
            .values(resolved_at=now)
            .execution_options(synchronize_session=False)
        )
    detail = " ".join(part for part in (str(reason) if reason else "", note.strip()) if part)
    _audit(session, moderator, str(action), now=now, letter_id=letter.id, signature_ids=changed_ids, reason=detail)
    session.flush()
    return Outcome(action, len(changed_ids), len(signature_ids) - len(changed_ids))


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
        if signature.status == SignatureStatus.CONFIRMED:
            # Counted since it was confirmed, listed from now (end_review did it): its time stays.
            return
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
