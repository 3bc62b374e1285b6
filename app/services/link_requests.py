"""Requests for a new link, answered by a background job rather than in the request.

"Send me a new confirmation link", "send me a link that withdraws my signature" and the signing
form used again by an address that has signed must answer alike, in content and in time,
whether or not the address has signed. So the web request does the same small thing every
time, one job naming the letter and the address, and the worker looks the signer up later:
it writes the real mail to the outbox, or discards the job when there is nobody to write to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.mail import compose, outbox
from app.mail.message import Email
from app.models import JobStatus, Letter, Signature, SignatureStatus, TokenLifetimes, TokenPurpose
from app.services import jobs
from app.services.tokens import issue_token
from app.services.withdrawal import CONFIRMED_BY_EMAIL, LIVE_STATUSES

RESEND = "resend_request"
WITHDRAW = "withdraw_request"
# The signing form, used again by an address that has signed: "you have signed already".
ALREADY_SIGNED = "already_signed_request"
KINDS = (RESEND, WITHDRAW, ALREADY_SIGNED)
# Who can be sent each kind of link.
ELIGIBLE = {
    RESEND: (SignatureStatus.UNCONFIRMED,),
    WITHDRAW: LIVE_STATUSES,
    ALREADY_SIGNED: CONFIRMED_BY_EMAIL,
}


def queue_request(
    session: Session, kind: str, letter: Letter, key: str, *, now: datetime, allowed: bool = True
) -> None:
    """Record a request for ``kind`` of link; ``allowed=False`` records it already discarded.

    The job holds the letter and the address's key (``signing.email_key``), nothing else.
    """
    status = JobStatus.PENDING if allowed else JobStatus.DISCARDED
    jobs.add(session, kind, {"letter_id": letter.id, "email_key": key}, now=now, status=status)


def eligible_signature(session: Session, kind: str, payload: dict[str, Any], *, now: datetime) -> Signature | None:
    """The signature a request of ``kind`` may be answered for, or None: nobody gets a mail."""
    signature = session.scalar(
        select(Signature).where(
            Signature.letter_id == int(payload["letter_id"]),
            Signature.email_key == str(payload["email_key"]),
            Signature.status.in_(ELIGIBLE[kind]),
        )
    )
    if signature is None or (kind == RESEND and signature.letter.is_closed(now)):
        return None
    return signature


def answer(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    ttl: TokenLifetimes,
) -> bool:
    """Write the mail a request asks for to the outbox; False if nobody qualifies (nothing written)."""
    signature = eligible_signature(session, kind, payload, now=now)
    if signature is None:
        return False
    email: Email
    if kind == RESEND:
        # The link confirms the details this mail shows (the signature's submission now), and
        # stops confirming if the address signs again.
        confirm_token = issue_token(session, signature, TokenPurpose.CONFIRM, now=now, ttl=ttl.confirm)
        withdraw_token = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
        email, mail_kind = (
            compose.confirmation(
                signature,
                signature.letter,
                confirm_token,
                withdraw_token,
                days=ttl.confirm.days,
                page_key=signature.page_key,
            ),
            "confirm",
        )
    elif kind == ALREADY_SIGNED:
        raw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
        email, mail_kind = compose.already_signed(signature, raw), "already_signed"
    else:
        raw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
        email, mail_kind = compose.withdrawal_link(signature, raw, days=ttl.withdraw.days), "withdraw"
    outbox.enqueue(session, signature.email, email, kind=mail_kind, now=now, signature=signature)
    return True
