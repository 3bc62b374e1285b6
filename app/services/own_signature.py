"""A signer's own page: where their signature stands, and the changes they may make to it there.

The page is reached by the link in every mail a signer gets (``app.mail.links``), which names
the signature's ``page_key``. From it a signer changes what the list shows of them (name,
affiliation, comment, whether the name is listed, whether their domain is shown), chooses
whether to get updates, or withdraws. A change goes the way moderators' changes go: the count
and tallies stay exact (``counting``), the public log records it, and the automatic flags look
at a new name or affiliation. In pre-moderation, a change that shows something new takes the
signature off the list until a moderator has looked at it again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import log
from app.errors import N_, DomainError, TokenProblem
from app.models import FlagKind, Letter, RemovalReason, Signature, SignatureStatus
from app.services import counting, domains, flags, updates
from app.services.signing import raise_flags
from app.services.withdrawal import LIVE_STATUSES, erase_signature

# What a signer may change: their details once confirmed and not hidden by the moderators.
CHANGEABLE = (SignatureStatus.CONFIRMED, SignatureStatus.PENDING)
# The flags a changed name, or a changed affiliation, may earn (the address has not changed).
NAME_FLAGS = (FlagKind.WATCHLIST, FlagKind.SIMILAR_NAMES)
AFFILIATION_FLAGS = (FlagKind.AFFILIATION,)


class Standing(enum.StrEnum):
    """Where a signature stands, as its signer's page says it."""

    # Not confirmed by email yet (or held back by the bot checks, which the page never says).
    UNCONFIRMED = "unconfirmed"
    # Counted and on the public list.
    LISTED = "listed"
    # Counted; the name is not on the list, as the signer chose.
    COUNTED = "counted"
    # Counted, and off the list until a moderator has looked at it (a flag held it, or the person
    # the name belongs to said "that's not me").
    COUNTED_AWAITING_REVIEW = "counted_awaiting_review"
    # Confirmed, waiting for a moderator (pre-moderation).
    AWAITING_REVIEW = "awaiting_review"
    # Taken off the list by the moderators (``hidden_reason`` says why).
    HIDDEN = "hidden"


class Outcome(enum.StrEnum):
    """What a change of details did."""

    NOTHING = "nothing"
    # Saved; what the list shows changed at once (or the signature is not on it).
    SAVED = "saved"
    # Saved, and off the list until a moderator approves it again (pre-moderation).
    REVIEW = "review"
    # Saved and still counted, but off the list until a moderator has looked at it: the new name
    # (or affiliation) earned a flag that holds a signature for review, as at signing.
    FLAGGED = "flagged"


class NotChangeable(DomainError):
    """A change the signature's state does not allow (not confirmed yet, or hidden by the moderators)."""

    status_code = 409
    code = "not_changeable"
    message = N_(
        "This signature cannot be changed now: it is not confirmed yet, or the moderators took it off the list. "
        "You can still withdraw it."
    )


@dataclass(frozen=True)
class Details:
    """What a signer may change of what the list shows."""

    name: str
    affiliation: str | None
    comment: str | None
    public: bool
    show_domain: bool


def find(session: Session, page_key: str) -> Signature:
    """The live signature with ``page_key``, or a TokenProblem (withdrawn, erased, or never there)."""
    signature = session.scalar(select(Signature).where(Signature.page_key == page_key))
    if signature is None or signature.status not in LIVE_STATUSES:
        raise TokenProblem(
            N_(
                "This link does not lead to a signature any more. It may have been withdrawn, or the link is "
                "incomplete."
            ),
            purpose="page",
        )
    return signature


def standing(signature: Signature) -> Standing:
    """Where ``signature`` stands, in the page's terms."""
    if signature.status == SignatureStatus.CONFIRMED:
        if not signature.public:
            return Standing.COUNTED
        return Standing.COUNTED_AWAITING_REVIEW if signature.unlisted_until_review else Standing.LISTED
    if signature.status == SignatureStatus.PENDING:
        return Standing.AWAITING_REVIEW
    if signature.status == SignatureStatus.HIDDEN:
        return Standing.HIDDEN
    return Standing.UNCONFIRMED


def hidden_reason(signature: Signature) -> RemovalReason | None:
    """Why the moderators hid ``signature`` (the category only: their note stays theirs)."""
    if signature.status != SignatureStatus.HIDDEN:
        return None
    return signature.removal_reason or RemovalReason.OTHER


def may_change(signature: Signature) -> bool:
    """Whether the signer may change their details now."""
    return signature.status in CHANGEABLE


def may_choose_updates(signature: Signature) -> bool:
    """Whether the signer may turn update mail on or off now (confirmed, and not hidden: hidden signers get none)."""
    return signature.status in CHANGEABLE


def _listed_view(signature: Signature) -> dict[str, Any] | None:
    """What the public list and the log show of ``signature``: its public fields, or None if unnamed."""
    return log.public_fields(signature) if signature.public else None


def _shows_more(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    """Whether ``after`` shows anything ``before`` did not (a new name, text or listing; not a removal)."""
    if after is None:
        return False
    if before is None:
        return True
    return any(
        after[name] and after[name] != before[name] for name in ("name", "affiliation", "country", "city", "comment")
    )


def change_details(
    session: Session,
    signature: Signature,
    details: Details,
    *,
    now: datetime,
    over_limit: Callable[[str, str], bool],
    list_flagged: bool = False,
) -> Outcome:
    """Change what the list shows of ``signature``, as its signer asked, in the caller's transaction.

    ``over_limit`` is the flags' shared counter (see ``flags.assess``). A listed change is
    logged as an ``update``; in pre-moderation a change that shows something new takes the
    signature back to the moderators (off the list and the count, a ``hide`` in the log). A new
    name that earns a holding flag (a watch-listed name) keeps it counted but off the list until
    reviewed, exactly as at signing, unless ``list_flagged`` (LIST_FLAGGED).
    """
    if not may_change(signature):
        raise NotChangeable()
    before = _listed_view(signature)
    name_changed = details.name != signature.name
    affiliation = details.affiliation or None
    affiliation_changed = affiliation != signature.affiliation
    comment = details.comment or None
    if not (
        name_changed
        or affiliation_changed
        or comment != signature.comment
        or details.public != signature.public
        or details.show_domain != signature.show_domain
    ):
        return Outcome.NOTHING
    counted = signature.status == SignatureStatus.CONFIRMED
    signature.name = details.name
    signature.affiliation = affiliation
    signature.comment = comment
    signature.public = details.public
    if details.show_domain != signature.show_domain:
        signature.show_domain = details.show_domain
        # The address confirmed at its domain: showing it needs no new proof, hiding it none either.
        domain = domains.shown_domain(signature.email_domain, details.show_domain)
        if counted and domain != signature.confirmed_domain:
            if signature.confirmed_domain:
                counting.add_to_domain_tally(session, signature.letter_id, signature.confirmed_domain, -1)
            if domain:
                counting.add_to_domain_tally(session, signature.letter_id, domain, +1)
        signature.confirmed_domain = domain
    raised = _flag(session, signature, name=name_changed, affiliation=affiliation_changed, now=now, over=over_limit)
    if flags.holds(raised, list_flagged=list_flagged):
        if counted:
            # Off the list before the new name is logged: the log records an update naming no one.
            counting.start_review(session, signature, now=now)
        else:
            signature.unlisted_until_review = True
        session.flush()
        return Outcome.FLAGGED
    after = _listed_view(signature)
    if not counted or after == before:
        session.flush()
        return Outcome.SAVED
    if signature.letter.moderation_mode == "pre" and _shows_more(before, after):
        counting.move(session, signature, SignatureStatus.PENDING, now=now)
        session.flush()
        return Outcome.REVIEW
    log.on_own_change(session, signature, now=now)
    return Outcome.SAVED


def _flag(
    session: Session,
    signature: Signature,
    *,
    name: bool,
    affiliation: bool,
    now: datetime,
    over: Callable[[str, str], bool],
) -> tuple[flags.Raised, ...]:
    """Raise the flags a new name (``name``) or affiliation (``affiliation``) earns, as signing does; those raised."""
    kinds = (NAME_FLAGS if name else ()) + (AFFILIATION_FLAGS if affiliation else ())
    if not kinds:
        return ()
    found = flags.assess(
        session,
        signature.letter,
        name=signature.name,
        email_domain=signature.email_domain,
        affiliation=signature.affiliation,
        over_limit=over,
    )
    raised = tuple(r for r in found if r.kind in kinds)
    raise_flags(session, signature.letter_id, signature.id, raised, now=now)
    return raised


def choose_updates(session: Session, signature: Signature, *, wanted: bool) -> None:
    """Start or stop update mail to ``signature``'s signer (stopping also drops what is not sent yet)."""
    if not may_choose_updates(signature):
        raise NotChangeable()
    if wanted:
        signature.wants_updates = True
        session.flush()
    else:
        updates.unsubscribe(session, signature)


def withdraw(session: Session, signature: Signature, *, now: datetime) -> Letter:
    """Withdraw ``signature``: off the count and the list at once, its details erased (as a withdrawal link does)."""
    letter = signature.letter
    erase_signature(session, signature, now=now)
    return letter
