"""Reminders before a letter closes: to the organisers who asked, and one to each signer who never confirmed.

A letter with ``remind_before_close`` is due once ``closes_at`` is less than ``days``
(REMINDER_DAYS_BEFORE_CLOSE) away and signing is still open. Then, run by the hourly
organiser-notifications job:

- the admins who chose "closing reminders" on their notification settings get one mail per letter
  ("N days left, count X"); ``Letter.closing_reminded_at`` makes it once;
- each signature of that letter still unconfirmed gets one mail with a fresh confirmation link (a new
  token, for the details as they stand) and a withdrawal link; ``Signature.reminded_at`` makes it once per
  signature, and the mail says it is the only reminder. An address past its mail quota
  (RATELIMIT_MAIL_PER_ADDRESS, asked through ``may_mail``) is skipped, and not tried again.
  Nobody who withdrew is written to: withdrawing deletes an unconfirmed signature (and leaves a
  confirmed one an anonymous tombstone without an address), and an address that signed again and
  confirmed has a confirmed signature, never an unconfirmed one (one signature per address and letter).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.mail import compose, outbox
from app.models import Letter, Signature, SignatureStatus, TokenLifetimes, TokenPurpose
from app.services import notifications
from app.services.tokens import issue_token

ORGANISER_MAIL = "closing_reminder"
SIGNER_MAIL = "reminder"


@dataclass(frozen=True)
class Reminded:
    """What one run sent: organiser mails, signer reminders, and signers skipped for the mail quota."""

    organisers: int = 0
    signers: int = 0
    over_quota: int = 0


def days_left(letter: Letter, now: datetime) -> int:
    """Whole days (rounded up) until the letter closes."""
    assert letter.closes_at is not None
    return max(1, math.ceil((letter.closes_at - now) / timedelta(days=1)))


def due_letters(session: Session, *, now: datetime, days: int) -> list[Letter]:
    """Open, published letters with reminders on whose closing date is less than ``days`` away."""
    return list(
        session.scalars(
            select(Letter)
            .where(
                Letter.remind_before_close.is_(True),
                Letter.draft.is_(False),
                Letter.closed_at.is_(None),
                Letter.closes_at.is_not(None),
                Letter.closes_at > now,
                Letter.closes_at <= now + timedelta(days=days),
            )
            .order_by(Letter.id)
        )
    )


def send_reminders(
    session: Session,
    *,
    now: datetime,
    days: int,
    secret: str,
    ttl: TokenLifetimes,
    may_mail: Callable[[str], bool],
) -> Reminded:
    """Write the reminders due now to the outbox (each at most once); what was written."""
    organisers = signers = over_quota = 0
    for letter in due_letters(session, now=now, days=days):
        left = days_left(letter, now)
        if letter.closing_reminded_at is None:
            letter.closing_reminded_at = now
            for moderator, chosen in notifications.closing_reminder_recipients(session):
                token = notifications.unsubscribe_token(secret, moderator)
                email = compose.closing_reminder(
                    letter, left, letter.signature_count, locale=chosen.locale, token=token
                )
                outbox.enqueue(session, moderator.email, email, kind=ORGANISER_MAIL, now=now)
                organisers += 1
        waiting = session.scalars(
            select(Signature)
            .where(
                Signature.letter_id == letter.id,
                Signature.status == SignatureStatus.UNCONFIRMED,
                Signature.reminded_at.is_(None),
                Signature.email != "",
            )
            .order_by(Signature.id)
        )
        for signature in list(waiting):
            signature.reminded_at = now
            if not may_mail(signature.email_key):
                over_quota += 1
                continue
            confirm = issue_token(session, signature, TokenPurpose.CONFIRM, now=now, ttl=ttl.confirm)
            withdraw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
            email = compose.signer_reminder(signature, letter, confirm, withdraw, days_left=left)
            outbox.enqueue(session, signature.email, email, kind=SIGNER_MAIL, now=now, signature=signature)
            signers += 1
    session.flush()
    return Reminded(organisers, signers, over_quota)
