"""Signing and confirming: one signature per address and letter, counted once confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Boolean, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app import log
from app.db import upsert
from app.errors import N_, LetterClosed, TokenExpired, TokenProblem, TokenSuperseded
from app.mail import compose, outbox
from app.mail.message import Email
from app.models import Flag, Letter, Signature, SignatureStatus, SuspectReason, Token, TokenPurpose, new_page_key
from app.services import counting, domains, link_requests, milestones, stats
from app.services.flags import Raised, holds
from app.services.tokens import TokenLifetimes, find_token, new_token, store_tokens


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

    @property
    def email_domain(self) -> str:
        """The domain of the address (what "show my domain" would show, unless it is public mail)."""
        return self.email_key.rpartition("@")[2]


@dataclass(frozen=True)
class Screening:
    """What the site noticed about a signing request, beyond its fields."""

    # Why it looks like a bot or a flood (the signature is held), or None.
    suspect_reason: SuspectReason | None = None
    # A keyed hash of the signer's network, for abuse checks; never the raw address.
    network_hash: str | None = None
    # Seconds between the form being shown and sent back (None without a valid time stamp).
    fill_seconds: float | None = None
    # False when the address has had its share of mail for now: answer as usual, send nothing.
    may_mail: bool = True
    # Reasons for a moderator to look at the signature (see app.services.flags); never hide it.
    flags: tuple[Raised, ...] = ()


def email_key(normalised_email: str) -> str:
    """The form of an address that decides whether two signatures are the same person's."""
    return normalised_email.strip().lower()


def _fields(data: SignatureInput) -> dict[str, object]:
    """The signature's columns that come from the form (the latest details win until confirmed)."""
    return {
        "name": data.name,
        "email": data.email,
        "email_domain": data.email_domain,
        "affiliation": data.affiliation or None,
        "country": data.country or None,
        "city": data.city or None,
        "comment": data.comment or None,
        "public": data.public,
        "locale": data.locale,
        "show_domain": data.show_domain,
        "wants_updates": data.wants_updates,
    }


def raise_flags(
    session: Session, letter_id: int, signature_id: int, flags: tuple[Raised, ...], *, now: datetime
) -> None:
    """Put a signature in the moderators' queue for these reasons (nothing is hidden)."""
    if flags:
        session.execute(
            insert(Flag),
            [
                {
                    "letter_id": letter_id,
                    "signature_id": signature_id,
                    "kind": r.kind,
                    "detail": r.detail,
                    "created_at": now,
                }
                for r in flags
            ],
        )


@dataclass(frozen=True)
class Draft:
    """A new signer's confirmation mail and the raw tokens in its links, made before anything is stored.

    Writing it needs no write lock, so the view makes it before its write transaction begins
    (on SQLite, one writer at a time waits for whoever holds the lock). ``page_key`` is the key
    its link to the signer's own page names: the signature is stored with it.
    """

    confirm_token: str
    withdraw_token: str
    email: Email
    page_key: str | None = None


def draft_confirmation(
    letter: Letter, signer: compose.Signer, ttl: TokenLifetimes, *, page_key: str | None = None
) -> Draft:
    """The confirmation mail ``signer`` (the form's details, or a stored signature) gets, with fresh tokens.

    A new signer's page key is made here (none given); a stored signature's mail names its own.
    """
    confirm_token, withdraw_token = new_token(), new_token()
    page_key = page_key or new_page_key()
    return Draft(
        confirm_token,
        withdraw_token,
        compose.confirmation(signer, letter, confirm_token, withdraw_token, days=ttl.confirm.days, page_key=page_key),
        page_key,
    )


def _store_confirmation(
    session: Session,
    signature_id: int,
    submission: int,
    recipient: str,
    draft: Draft,
    *,
    now: datetime,
    ttl: TokenLifetimes,
) -> None:
    """Store the draft's links and queue its mail; its confirmation link confirms ``submission`` only."""
    tokens = [
        (TokenPurpose.CONFIRM, draft.confirm_token, ttl.confirm),
        (TokenPurpose.WITHDRAW, draft.withdraw_token, ttl.withdraw),
    ]
    store_tokens(session, signature_id, tokens, now=now, submission=submission)
    outbox.enqueue_for(session, signature_id, recipient, draft.email, kind="confirm", now=now)


def _insert_new(
    session: Session,
    letter: Letter,
    data: SignatureInput,
    *,
    now: datetime,
    screening: Screening,
    unlisted: bool,
    page_key: str,
) -> int | None:
    """Store a signature for an address new to the letter, in one statement; None if it signed before."""
    suspect = screening.suspect_reason
    values = {
        "letter_id": letter.id,
        "email_key": data.email_key,
        "page_key": page_key,
        "created_at": now,
        "status": SignatureStatus.SUSPECT if suspect else SignatureStatus.UNCONFIRMED,
        "suspect_reason": suspect,
        "network_hash": screening.network_hash,
        "unlisted_until_review": unlisted,
        "fill_seconds": screening.fill_seconds,
        # The text in force now; the letter's row keeps the number, so no query for it.
        "letter_version": letter.current_version,
        **_fields(data),
    }
    dialect = session.get_bind().dialect.name
    statement = _NEW_SIGNATURE.get(dialect)
    if statement is None:
        table = Signature.__table__
        statement = upsert(session, table).on_conflict_do_nothing(index_elements=["letter_id", "email_key"])
        _NEW_SIGNATURE[dialect] = statement = statement.returning(table.c.id)
    new_id: int | None = session.scalar(statement, values)
    return new_id


# The INSERT of a new signature per database, built once (building it costs more than running it).
_NEW_SIGNATURE: dict[str, Any] = {}
# A new signature's submission (the column's default).
FIRST_SUBMISSION = 1
_FORM_COLUMNS = tuple(_fields(SignatureInput(name="", email="", email_key="")))
# A signature not yet confirmed (or held) takes the latest details as a new submission, which
# its older confirmation links do not confirm; built once, like the INSERT.
_RESIGN = (
    update(cast(Table, Signature.__table__))
    .where(
        Signature.letter_id == bindparam("b_letter_id"),
        Signature.email_key == bindparam("b_email_key"),
        Signature.status.in_((SignatureStatus.UNCONFIRMED, SignatureStatus.SUSPECT)),
    )
    .values(
        status=SignatureStatus.UNCONFIRMED,
        suspect_reason=None,
        letter_version=bindparam("b_letter_version"),
        network_hash=func.coalesce(bindparam("b_network_hash"), Signature.network_hash),
        # A flag that keeps it off the list stays open (in the queue) when the details change.
        unlisted_until_review=or_(Signature.unlisted_until_review, bindparam("b_unlisted", type_=Boolean)),
        fill_seconds=bindparam("b_fill_seconds"),
        # The key the new submission's mail names, when one is mailed: the links in earlier mails
        # to the signer's page stop working, as their confirmation links do.
        page_key=func.coalesce(bindparam("b_page_key"), Signature.page_key),
        submission=Signature.submission + 1,
        **{column: bindparam(f"b_{column}") for column in _FORM_COLUMNS},
    )
    .returning(Signature.id, Signature.submission)
)


def release_held(session: Session, signature: Signature, *, now: datetime, ttl: TokenLifetimes) -> None:
    """Release a signature held as suspect: it becomes unconfirmed and its owner gets the link."""
    signature.status = SignatureStatus.UNCONFIRMED
    signature.suspect_reason = None
    draft = draft_confirmation(signature.letter, signature, ttl, page_key=signature.page_key)
    _store_confirmation(session, signature.id, signature.submission, signature.email, draft, now=now, ttl=ttl)


def sign(
    session: Session,
    letter: Letter,
    data: SignatureInput,
    *,
    now: datetime,
    ttl: TokenLifetimes,
    screening: Screening | None = None,
    draft: Draft | None = None,
    list_flagged: bool = False,
) -> None:
    """Record a signature (unconfirmed, or held as suspect) and queue the mail that confirms it.

    The caller's answer must not depend on what happened here: a new address, an
    unconfirmed one, a confirmed one and a held one all look the same to the person at the
    form; only the mail to the address's owner differs. ``draft`` is the mail a new address
    gets, if the caller made it before its transaction began. A watch-list or disposable-address
    flag keeps the signature off the public list until a moderator reviews it, unless
    ``list_flagged`` (LIST_FLAGGED).
    """
    if letter.is_closed(now):
        raise LetterClosed()
    screening = screening or Screening()
    suspect = screening.suspect_reason
    mails = not suspect and screening.may_mail
    unlisted = holds(screening.flags, list_flagged=list_flagged)
    # The key of the signer's page: the one the drafted mail names, else a new one.
    page_key = draft.page_key if draft and draft.page_key else new_page_key()
    # Nearly every request is an address new to the letter: one INSERT that does nothing if the
    # address signed before (or signs at this moment in another request), so the usual case
    # needs no lookup first and no savepoint.
    new_id = _insert_new(session, letter, data, now=now, screening=screening, unlisted=unlisted, page_key=page_key)
    if new_id is not None:
        raise_flags(session, letter.id, new_id, screening.flags, now=now)
        if mails:
            draft = draft or draft_confirmation(letter, data, ttl, page_key=page_key)
            _store_confirmation(session, new_id, FIRST_SUBMISSION, data.email, draft, now=now, ttl=ttl)
        return
    if suspect:
        # A suspect request changes nothing that exists and mails no one.
        return
    # Signed before and not yet confirmed (or held): the latest details win until confirmed, as a
    # new submission. Anyone may type anyone's address, so the links sent for earlier submissions
    # stop confirming, and this one's mail shows the owner every detail its link confirms. A
    # clean request releases a held signature, so a false positive recovers by itself.
    values = {
        "b_letter_id": letter.id,
        "b_email_key": data.email_key,
        "b_letter_version": letter.current_version,
        "b_network_hash": screening.network_hash,
        "b_unlisted": unlisted,
        "b_fill_seconds": screening.fill_seconds,
        "b_page_key": page_key if mails else None,
        **{f"b_{column}": value for column, value in _fields(data).items()},
    }
    unconfirmed = session.execute(_RESIGN, values).first()
    if unconfirmed is not None:
        signature_id, submission = unconfirmed
        raise_flags(session, letter.id, signature_id, screening.flags, now=now)
        if mails:
            draft = draft or draft_confirmation(letter, data, ttl, page_key=page_key)
            _store_confirmation(session, signature_id, submission, data.email, draft, now=now, ttl=ttl)
        return
    # Signed and confirmed before: the mail worker writes the "you have signed" note, so this
    # request costs what a new signature does and its time says nothing either. (If the
    # signature was withdrawn a moment ago, the worker finds nobody and sends nothing.)
    link_requests.queue_request(
        session, link_requests.ALREADY_SIGNED, letter, data.email_key, now=now, allowed=screening.may_mail
    )


@dataclass(frozen=True)
class Confirmation:
    """The outcome of a confirmation: the signature, and whether it had been confirmed already.

    ``place`` is the letter's count just after this confirmation counted it, read in the same
    transaction (None when nothing was counted: confirmed before, or waiting for review).
    """

    signature: Signature
    already_confirmed: bool
    place: int | None = None


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
    if token.submission != signature.submission:
        # The address signed again since this link was sent: its details may not be the ones
        # this link's mail showed, so only the newest mail's link confirms.
        raise TokenSuperseded(letter_slug=slug)
    if token.used_at is not None:
        raise TokenProblem(N_("This link has already been used."), letter_slug=slug)
    if token.expires_at <= now:
        raise TokenExpired(letter_slug=slug)
    if signature.letter.is_closed(now):
        raise LetterClosed()
    return Confirmation(signature, already_confirmed=False)


def confirm(session: Session, raw: str, *, now: datetime) -> Confirmation:
    """Confirm the signature behind ``raw`` and count it, once, however often it is called.

    It confirms the submission the link was sent for, or nothing: if the address signs again
    between the check and the UPDATE, the UPDATE finds no row and the link is refused.
    """
    outcome = check_confirmation_token(session, raw, now=now)
    if outcome.already_confirmed:
        return outcome
    signature = outcome.signature
    # In pre-moderation a confirmed address waits for a moderator before it counts.
    pre = signature.letter.moderation_mode == "pre"
    status = SignatureStatus.PENDING if pre else SignatureStatus.CONFIRMED
    # The address that confirmed is at this domain: shown if the signer asked (never the address).
    shown = domains.shown_domain(signature.email_domain, signature.show_domain)
    # Conditional updates, so two clicks racing each other count the signature once, and a
    # submission made meanwhile is never confirmed by a link sent for an earlier one.
    confirmed = session.execute(
        update(Signature)
        .where(
            Signature.id == signature.id,
            Signature.status == SignatureStatus.UNCONFIRMED,
            Signature.submission == signature.submission,
        )
        .values(status=status, confirmed_at=now, confirmed_domain=shown)
        .execution_options(synchronize_session=False)
    )
    if confirmed.rowcount == 1:  # type: ignore[attr-defined]
        session.execute(
            update(Token)
            .where(Token.signature_id == signature.id, Token.purpose == TokenPurpose.CONFIRM, Token.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
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
            stats.add(session, signature, +1)
            if signature.unlisted_until_review:
                # Counted now, listed once a moderator has reviewed it (the public ledger says how many).
                counting.add_to_tally(session, signature.letter_id, counting.COUNTED_AWAITING_REVIEW_TALLY, +1)
        if not pre:
            session.refresh(signature.letter, ["signature_count"])
            # A round number reached: the admins who asked are mailed (app.services.notifications).
            milestones.queue_check(session, signature.letter_id, signature.letter.signature_count, now=now)
            return Confirmation(signature, already_confirmed=False, place=signature.letter.signature_count)
    else:
        # Another request got there first: a click that confirmed, or the address signing again.
        slug = signature.letter.slug
        session.expire(signature)
        current = session.scalar(select(Signature.status).where(Signature.id == signature.id))
        if current is None:
            raise TokenProblem(letter_slug=slug)
        if current == SignatureStatus.UNCONFIRMED:
            raise TokenSuperseded(letter_slug=slug)
    return Confirmation(signature, already_confirmed=confirmed.rowcount != 1)  # type: ignore[attr-defined]
