"""Withdrawal and erasure: a signer takes their signature back; their personal data goes with it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.mail import compose, outbox
from app.models import Letter, OutboxMessage, Signature, SignatureStatus, Token, TokenPurpose
from app.services import counting
from app.services.errors import N_, TokenExpired, TokenProblem
from app.services.tokens import find_token, issue_token

# Signatures that still hold personal data and can be withdrawn.
LIVE_STATUSES = (SignatureStatus.UNCONFIRMED, SignatureStatus.SUSPECT, SignatureStatus.CONFIRMED)


def request_withdrawal(session: Session, letter: Letter, key: str, *, now: datetime, ttl: timedelta) -> bool:
    """Mail a single-use withdrawal link to the signer of ``letter`` with address ``key``, if any.

    Returns whether a mail was queued; the caller answers the same either way.
    """
    signature = session.scalar(
        select(Signature).where(
            Signature.letter_id == letter.id,
            Signature.email_key == key,
            Signature.status.in_(LIVE_STATUSES),
        )
    )
    if signature is None:
        return False
    raw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl)
    email = compose.withdrawal_link(signature, raw)
    outbox.enqueue(session, signature.email, email, kind="withdraw", now=now, signature=signature)
    session.flush()
    return True


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


def erase_signature(session: Session, signature: Signature, *, now: datetime) -> None:
    """Remove a signature's personal data for good, and correct the count if it was counted.

    An unconfirmed or held signature is deleted outright. A confirmed one leaves a tombstone
    (letter, when signed, when withdrawn) so the count's history still adds up.
    """
    session.execute(delete(OutboxMessage).where(OutboxMessage.signature_id == signature.id))
    session.execute(delete(Token).where(Token.signature_id == signature.id))
    if signature.status != SignatureStatus.CONFIRMED:
        session.delete(signature)
        session.flush()
        return
    counting.add_to_count(session, signature.letter_id, -1, now=now)
    signature.status = SignatureStatus.WITHDRAWN
    signature.withdrawn_at = now
    signature.name = ""
    signature.email = ""
    # Frees the address: its owner may sign again later.
    signature.email_key = f"withdrawn:{signature.id}"
    signature.affiliation = None
    signature.country = None
    signature.city = None
    signature.comment = None
    signature.public = False
    signature.suspect_reason = None
    signature.network_hash = None
    session.flush()
    session.expire(signature, ["tokens"])


def balance_timing(letter: Letter, kind: str) -> None:
    """Do the work of composing a mail without sending it, so that "no such signer" takes as
    long to answer as "mail queued" and response times say nothing about who signed."""
    stand_in = Signature(name="", email="nobody@example.invalid", letter=letter, locale="en")
    if kind == "withdraw":
        compose.withdrawal_link(stand_in, "x" * 43)
    else:
        compose.confirmation(stand_in, "x" * 43, "x" * 43)
