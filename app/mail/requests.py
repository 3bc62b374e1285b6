"""Requests for a new link, answered by the mail worker rather than in the request.

"Send me a new confirmation link", "send me a link that withdraws my signature" and the signing
form used again by an address that has signed must answer alike, in content and in time,
whether or not the address has signed. So the web
request does the same small thing every time, one outbox row naming the letter and the
address, and the worker looks the signer up later: it turns the row into the real mail,
or discards it when there is nobody to write to.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from flask import current_app
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from app.mail import compose, outbox
from app.models import (
    Letter,
    LetterUpdate,
    LetterVersion,
    OutboxMessage,
    OutboxStatus,
    Signature,
    SignatureStatus,
    TokenPurpose,
)
from app.services import updates, versions
from app.services.tokens import TokenLifetimes, issue_token
from app.services.withdrawal import CONFIRMED_BY_EMAIL, LIVE_STATUSES
from app.urls import external_url

RESEND = "resend_request"
WITHDRAW = "withdraw_request"
# The signing form, used again by an address that has signed: "you have signed already".
ALREADY_SIGNED = "already_signed_request"
REQUEST_KINDS = (RESEND, WITHDRAW, ALREADY_SIGNED)
# Who can be sent each kind of link.
ELIGIBLE = {
    RESEND: (SignatureStatus.UNCONFIRMED,),
    WITHDRAW: LIVE_STATUSES,
    ALREADY_SIGNED: CONFIRMED_BY_EMAIL,
}


def queue_request(
    session: Session, kind: str, letter: Letter, address: str, key: str, *, now: datetime, allowed: bool = True
) -> None:
    """Record a request for ``kind`` of link; ``allowed=False`` records it already discarded.

    The row stands in for the mail until the worker expands it; it holds the address the
    person typed and the letter, nothing else.
    """
    session.execute(
        _INSERT,
        {
            "kind": kind,
            "recipient": address,
            "subject": key,
            "body_text": str(letter.id),
            "body_html": "",
            "message_id": outbox.new_message_id(),
            "status": OutboxStatus.PENDING if allowed else OutboxStatus.DISCARDED,
            "created_at": now,
            "next_attempt_at": now,
        },
    )


# Built once: a statement made per call costs more than the INSERT itself on SQLite.
_INSERT = insert(cast(Table, OutboxMessage.__table__))


def expand_request(session: Session, row: OutboxMessage, *, now: datetime) -> bool:
    """Turn a request row into the mail it asks for; False (and discarded) if nobody qualifies."""
    signature = session.scalar(
        select(Signature).where(
            Signature.letter_id == int(row.body_text),
            Signature.email_key == row.subject,
            Signature.status.in_(ELIGIBLE[row.kind]),
        )
    )
    ttl = TokenLifetimes.from_config(current_app.config)
    if signature is None or (row.kind == RESEND and signature.letter.is_closed(now)):
        row.status = OutboxStatus.DISCARDED
        row.subject = row.body_text = ""
        row.claimed_until = row.claimed_by = None
        return False
    if row.kind == RESEND:
        # The link confirms the details this mail shows (the signature's submission now), and
        # stops confirming if the address signs again.
        confirm_token = issue_token(session, signature, TokenPurpose.CONFIRM, now=now, ttl=ttl.confirm)
        withdraw_token = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
        email, kind = compose.confirmation(signature, signature.letter, confirm_token, withdraw_token), "confirm"
    elif row.kind == ALREADY_SIGNED:
        raw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
        email, kind = compose.already_signed(signature, raw), "already_signed"
    else:
        raw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
        email, kind = compose.withdrawal_link(signature, raw), "withdraw"
    row.kind = kind
    row.signature = signature
    row.recipient = signature.email
    row.subject, row.body_text, row.body_html = email.subject, email.text, email.html
    return True


def _sender_domain() -> str:
    return outbox.sender_domain(current_app.config["MAIL_DEFAULT_SENDER"])


def expand_update(session: Session, row: OutboxMessage, *, now: datetime, batch_size: int) -> int:
    """Queue the update's mail for the next ``batch_size`` opted-in signers; the row keeps its place.

    The row holds the update's id (``body_text``) and the id of the last signer reached
    (``subject``); it stays pending until a batch comes up short, then it is done. Each batch
    is its own transaction, so an update to a million signers never holds one giant one.
    Returns how many messages were queued.
    """
    letter_update = session.get(LetterUpdate, int(row.body_text))
    after = int(row.subject or 0)
    recipients: list[Signature] = []
    if letter_update is not None:
        recipients = list(
            session.scalars(
                select(Signature)
                .where(
                    Signature.letter_id == letter_update.letter_id,
                    Signature.wants_updates.is_(True),
                    Signature.id > after,
                    Signature.status == SignatureStatus.CONFIRMED,
                )
                .order_by(Signature.id)
                .limit(batch_size)
            )
        )
    secret = current_app.config["SECRET_KEY"]
    for signature in recipients:
        url = external_url(
            "signing.unsubscribe", token=updates.unsubscribe_token(secret, signature), lang=signature.locale
        )
        email = compose.update(signature, letter_update, url)  # type: ignore[arg-type]
        outbox.enqueue(
            session,
            signature.email,
            email,
            kind=updates.UPDATE_MAIL,
            now=now,
            signature=signature,
            headers=compose.list_headers(signature.letter, url, _sender_domain()),
        )
    row.claimed_until = row.claimed_by = None
    if len(recipients) < batch_size:
        # Every opted-in signer has their message: the request is done.
        row.status = OutboxStatus.SENT
        row.sent_at = now
    else:
        row.subject = str(recipients[-1].id)
        row.next_attempt_at = now
    session.flush()
    return len(recipients)


def expand_material_change(
    session: Session, row: OutboxMessage, *, now: datetime, limit: int, worker_id: str, lease_until: datetime
) -> list[OutboxMessage]:
    """Turn the next ``limit`` opted-in signers of a material change into their mail, leased to this worker.

    The request row remembers the last signature mailed and stays due until a batch comes
    up short; then it is done. Each batch is its own short transaction, however many signed.
    """
    letter_id, _, number = row.subject.partition(":")
    version = session.scalar(
        select(LetterVersion).where(LetterVersion.letter_id == int(letter_id), LetterVersion.number == int(number))
    )
    row.claimed_until = row.claimed_by = None
    if version is None:  # the letter was deleted meanwhile
        row.status = OutboxStatus.DISCARDED
        return []
    signatures = versions.signers_to_notify(
        session, version.letter_id, version.number, after_id=int(row.body_text), limit=limit
    )
    ttl = TokenLifetimes.from_config(current_app.config).withdraw
    secret = current_app.config["SECRET_KEY"]
    messages = []
    for signature in signatures:
        raw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl)
        url = external_url(
            "signing.unsubscribe", token=updates.unsubscribe_token(secret, signature), lang=signature.locale
        )
        email = compose.material_change(signature, version, raw, url)
        headers = compose.list_headers(signature.letter, url, _sender_domain())
        message = outbox.enqueue(
            session, signature.email, email, kind="material_change", now=now, signature=signature, headers=headers
        )
        message.claimed_by, message.claimed_until = worker_id, lease_until
        messages.append(message)
    if signatures:
        row.body_text = str(signatures[-1].id)
    if len(signatures) < limit:
        row.status = OutboxStatus.SENT
        row.sent_at = now
    session.flush()
    return messages
