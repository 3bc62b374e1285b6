"""Signing and confirming: one signature per address and letter, counted once confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.mail import compose, outbox
from app.models import Flag, Letter, Signature, SignatureStatus, SuspectReason, Token, TokenPurpose
from app.services import counting, domains, log
from app.services.errors import N_, LetterClosed, TokenExpired, TokenProblem
from app.services.flags import Raised
from app.services.tokens import find_token, issue_token


@dataclass(frozen=True)
class SignatureInput:
    """A signer's validated, normalised details."""

    name: str
    email: str
    email_key: str
    affiliation: str | None = None
    country: str | None = None
    city: str | None = None
    comment: str | None = None
    public: bool = True
    locale: str = "en"
    # Show the domain of the address once confirmed ("confirmed via @example.edu").
    show_domain: bool = False
    # Email me updates about this letter.
    wants_updates: bool = False


@dataclass(frozen=True)
class Screening:
    """What the site noticed about a signing request, beyond its fields."""

    # Why it looks like a bot or a flood (the signature is held), or None.
    suspect_reason: SuspectReason | None = None
    # A keyed hash of the signer's network, for abuse checks; never the raw address.
    network_hash: str | None = None
    # False when the address has had its share of mail for now: answer as usual, send nothing.
    may_mail: bool = True
    # Reasons for a moderator to look at the signature (see app.services.flags); never hide it.
    flags: tuple[Raised, ...] = ()


@dataclass(frozen=True)
class TokenLifetimes:
    """How long the links in a confirmation mail work."""

    confirm: timedelta
    withdraw: timedelta


def email_key(normalised_email: str) -> str:
    """The form of an address that decides whether two signatures are the same person's."""
    return normalised_email.strip().lower()


def _find_signature(session: Session, letter_id: int, key: str) -> Signature | None:
    return session.scalar(select(Signature).where(Signature.letter_id == letter_id, Signature.email_key == key))


def _apply(signature: Signature, data: SignatureInput) -> None:
    signature.name = data.name
    signature.email = data.email
    signature.email_domain = data.email_key.rpartition("@")[2]
    signature.affiliation = data.affiliation or None
    signature.country = data.country or None
    signature.city = data.city or None
    signature.comment = data.comment or None
    signature.public = data.public
    signature.locale = data.locale
    signature.show_domain = data.show_domain
    signature.wants_updates = data.wants_updates


def _send_confirmation(session: Session, signature: Signature, *, now: datetime, ttl: TokenLifetimes) -> None:
    confirm_token = issue_token(session, signature, TokenPurpose.CONFIRM, now=now, ttl=ttl.confirm)
    withdraw_token = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
    email = compose.confirmation(signature, confirm_token, withdraw_token)
    outbox.enqueue(session, signature.email, email, kind="confirm", now=now, signature=signature)


def _raise_flags(session: Session, signature: Signature, flags: tuple[Raised, ...], *, now: datetime) -> None:
    for raised in flags:
        session.add(
            Flag(
                letter_id=signature.letter_id,
                signature=signature,
                kind=raised.kind,
                detail=raised.detail,
                created_at=now,
            )
        )


def release_held(session: Session, signature: Signature, *, now: datetime) -> None:
    """Release a signature held as suspect: it becomes unconfirmed and its owner gets the link."""
    from flask import current_app

    config = current_app.config
    signature.status = SignatureStatus.UNCONFIRMED
    signature.suspect_reason = None
    ttl = TokenLifetimes(
        confirm=timedelta(days=config["CONFIRM_TOKEN_DAYS"]), withdraw=timedelta(days=config["WITHDRAW_TOKEN_DAYS"])
    )
    _send_confirmation(session, signature, now=now, ttl=ttl)


def sign(
    session: Session,
    letter: Letter,
    data: SignatureInput,
    *,
    now: datetime,
    ttl: TokenLifetimes,
    screening: Screening | None = None,
) -> None:
    """Record a signature (unconfirmed, or held as suspect) and queue the mail that confirms it.

    The caller's answer must not depend on what happened here: a new address, an
    unconfirmed one, a confirmed one and a held one all look the same to the person at the
    form; only the mail to the address's owner differs.
    """
    if letter.is_closed(now):
        raise LetterClosed()
    screening = screening or Screening()
    suspect = screening.suspect_reason
    signature = _find_signature(session, letter.id, data.email_key)
    if signature is None:
        signature = Signature(
            letter_id=letter.id,
            email_key=data.email_key,
            created_at=now,
            status=SignatureStatus.SUSPECT if suspect else SignatureStatus.UNCONFIRMED,
            suspect_reason=suspect,
            network_hash=screening.network_hash,
            # The text in force now; the letter's row keeps the number, so no query for it.
            letter_version=letter.current_version,
        )
        _apply(signature, data)
        try:
            with session.begin_nested():
                session.add(signature)
        except IntegrityError:
            # The same address signed at the same moment in another request.
            signature = _find_signature(session, letter.id, data.email_key)
            if signature is None:
                raise
        else:
            _raise_flags(session, signature, screening.flags, now=now)
            if not suspect and screening.may_mail:
                _send_confirmation(session, signature, now=now, ttl=ttl)
            return
    if suspect:
        # A suspect request changes nothing that exists and mails no one.
        return
    if signature.status in (SignatureStatus.UNCONFIRMED, SignatureStatus.SUSPECT):
        # The latest details win until confirmed; the mail shows them to the owner. A clean
        # request releases a held signature: the false positive recovers by itself.
        _apply(signature, data)
        signature.status = SignatureStatus.UNCONFIRMED
        signature.suspect_reason = None
        signature.letter_version = letter.current_version
        signature.network_hash = screening.network_hash or signature.network_hash
        _raise_flags(session, signature, screening.flags, now=now)
        if screening.may_mail:
            _send_confirmation(session, signature, now=now, ttl=ttl)
    elif screening.may_mail:
        withdraw_token = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=ttl.withdraw)
        email = compose.already_signed(signature, withdraw_token)
        outbox.enqueue(session, signature.email, email, kind="already_signed", now=now, signature=signature)
    session.flush()


@dataclass(frozen=True)
class Confirmation:
    """The outcome of a confirmation: the signature, and whether it had been confirmed already."""

    signature: Signature
    already_confirmed: bool


def check_confirmation_token(session: Session, raw: str, *, now: datetime) -> Confirmation:
    """What confirming with ``raw`` would do, without doing it (for the page with the button)."""
    token = find_token(session, raw, TokenPurpose.CONFIRM)
    if token is None:
        raise TokenProblem()
    signature = token.signature
    slug = signature.letter.slug
    if signature.status != SignatureStatus.UNCONFIRMED:
        # Confirmed before (and perhaps since approved, hidden or waiting for review).
        return Confirmation(signature, already_confirmed=True)
    if token.used_at is not None:
        raise TokenProblem(N_("This link has already been used."), letter_slug=slug)
    if token.expires_at <= now:
        raise TokenExpired(letter_slug=slug)
    if signature.letter.is_closed(now):
        raise LetterClosed()
    return Confirmation(signature, already_confirmed=False)


def confirm(session: Session, raw: str, *, now: datetime) -> Confirmation:
    """Confirm the signature behind ``raw`` and count it, once, however often it is called."""
    outcome = check_confirmation_token(session, raw, now=now)
    if outcome.already_confirmed:
        return outcome
    signature = outcome.signature
    # In pre-moderation a confirmed address waits for a moderator before it counts.
    pre = signature.letter.moderation_mode == "pre"
    status = SignatureStatus.PENDING if pre else SignatureStatus.CONFIRMED
    # The address that confirmed is at this domain: shown if the signer asked (never the address).
    shown = domains.shown_domain(signature.email_domain, signature.show_domain)
    # Conditional updates, so two clicks racing each other count the signature once.
    confirmed = session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status == SignatureStatus.UNCONFIRMED)
        .values(status=status, confirmed_at=now, confirmed_domain=shown)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Token)
        .where(Token.signature_id == signature.id, Token.purpose == TokenPurpose.CONFIRM, Token.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if confirmed.rowcount == 1:  # type: ignore[attr-defined]
        # What the UPDATE stored, without reading the row back after commit (a second query
        # and transaction for the page that follows).
        set_committed_value(signature, "status", status)
        set_committed_value(signature, "confirmed_at", now)
        set_committed_value(signature, "confirmed_domain", shown)
        # The public log's event: an insert no other confirmation waits for.
        log.on_move(session, signature, SignatureStatus.UNCONFIRMED, status, now=now)
        # The rows other confirmations may share come last, so their locks are held the shortest
        # time: the count's shard first, then the tallies (the order moderation takes them in).
        if pre:
            counting.add_to_tally(session, signature.letter_id, counting.PENDING_TALLY, +1)
        else:
            counting.add_to_count(session, signature.letter_id, +1, now=now, version=signature.letter_version)
            if shown:
                counting.add_to_domain_tally(session, signature.letter_id, shown, +1)
    else:
        session.expire(signature)
    return Confirmation(signature, already_confirmed=confirmed.rowcount != 1)  # type: ignore[attr-defined]
