"""Withdrawal and erasure: a signer takes their signature back; their personal data goes with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.errors import N_, TokenExpired, TokenProblem
from app.models import Letter, OutboxMessage, RemovalReason, Signature, SignatureStatus, Token, TokenPurpose
from app.services import counting
from app.services.tokens import find_token

# Signatures that still hold personal data and can be withdrawn.
LIVE_STATUSES = (
    SignatureStatus.UNCONFIRMED,
    SignatureStatus.SUSPECT,
    SignatureStatus.CONFIRMED,
    SignatureStatus.PENDING,
    SignatureStatus.HIDDEN,
)
# Signatures that were confirmed by email: erasing them leaves a tombstone for the count history.
CONFIRMED_BY_EMAIL = (SignatureStatus.CONFIRMED, SignatureStatus.PENDING, SignatureStatus.HIDDEN)


def check_withdrawal_token(session: Session, raw: str, *, now: datetime) -> Signature:
    """The signature that ``raw`` would withdraw, or a TokenProblem that says why not."""
    token = find_token(session, raw, TokenPurpose.WITHDRAW)
    if token is None or token.used_at is not None or token.signature.status not in LIVE_STATUSES:
        # Withdrawal deletes its tokens, so a used link is simply unknown.
        raise TokenProblem(
            N_("This link is not valid. It may have been used already, or copied incompletely."), purpose="withdraw"
        )
    if token.expires_at <= now:
        raise TokenExpired(letter_slug=token.signature.letter.slug, purpose="withdraw")
    return token.signature


def withdraw(session: Session, raw: str, *, now: datetime) -> Letter:
    """Withdraw the signature behind ``raw``: off the count and the list, its data erased."""
    signature = check_withdrawal_token(session, raw, now=now)
    letter = signature.letter
    erase_signature(session, signature, now=now)
    return letter


def erase_details(signature: Signature) -> None:
    """Blank what identifies a signer, on a signature that keeps its row (a tombstone, or a letter's retention).

    Status, country, verified mark and confirmed domain are the caller's to keep or clear: the
    count, the statistics and the tiers may still need them.
    """
    signature.name = ""
    signature.email = ""
    signature.email_domain = ""
    # Frees the address: its owner may sign again later.
    signature.email_key = f"erased:{signature.id}"
    signature.affiliation = None
    signature.city = None
    signature.comment = None
    signature.public = False
    signature.network_hash = None
    signature.moderator_note = None
    signature.verified_note = None
    signature.show_domain = False
    signature.wants_updates = False
    signature.fill_seconds = None
    # The link to the signer's page stops working.
    signature.page_key = None


def erase_signature(
    session: Session,
    signature: Signature,
    *,
    now: datetime,
    status: SignatureStatus = SignatureStatus.WITHDRAWN,
    reason: RemovalReason | None = None,
) -> None:
    """Remove a signature's personal data for good, keeping the count and tallies exact.

    An unconfirmed or held signature is deleted outright. One confirmed by email leaves a
    tombstone (letter, when signed, when withdrawn or removed, and why) so the count's history
    still adds up: ``status`` is WITHDRAWN when the signer takes it back, REMOVED when a
    moderator deletes it, with ``reason``.
    """
    session.execute(delete(OutboxMessage).where(OutboxMessage.signature_id == signature.id))
    session.execute(delete(Token).where(Token.signature_id == signature.id))
    if signature.status not in CONFIRMED_BY_EMAIL:
        session.delete(signature)
        session.flush()
        return
    counting.move(session, signature, status, now=now, reason=reason)
    signature.withdrawn_at = now
    erase_details(signature)
    # A tombstone keeps no trace of where the signer was or what the moderators knew of them.
    signature.country = None
    signature.suspect_reason = None
    signature.verified_at = None
    signature.confirmed_domain = None
    signature.unlisted_until_review = False
    session.flush()
    session.expire(signature, ["tokens"])
