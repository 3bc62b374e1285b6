"""Privacy after a letter ends: hiding its names once it closes, and erasing its signers' data after a date.

A letter's settings (``Letter.sensitive``, ``noindex_signers``, ``hide_names_after_close``,
``personal_data_until``) are plain columns the pages read. Two of them change what is stored:

- **Hiding the names** (``hide_names_after_close`` once signing closed, and always after the
  erasure): ``Letter.names_hidden_at`` is set, every public reader of the list finds it empty
  (see ``app.services.queries.listing``), and the log withdraws every opening of the letter and
  appends an ``update`` saying "counted, not named" for each signature it named, so the log's live
  listed set is as empty as the list and both verifiers pass with nothing new to learn. The count,
  the removed tallies, the verified and organisation tiers (numbers) stay. Opening signing again
  (or turning the setting off) puts the names back, each with a fresh opening.
- **Erasing the personal data** (the purge, once ``personal_data_until`` has passed and signing is
  closed): names, addresses, comments, affiliations, cities, tokens, mail and network hashes go,
  as withdrawal erases them, but each signature keeps its state, so the count and the tallies stay
  exact; the log's leaves and signed heads are untouched (only hashes), and it has no opening left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from app import log
from app.models import Letter, OutboxMessage, Signature, SignatureStatus, Token, listed_terms
from app.services import withdrawal

# Statuses whose rows stay (they are counted, or their tally needs them): only the data goes.
_KEPT = (SignatureStatus.CONFIRMED, SignatureStatus.PENDING, SignatureStatus.HIDDEN)


@dataclass(frozen=True)
class Tiers:
    """What a letter whose names are withheld still says about its signers: numbers only."""

    count: int
    verified: int
    founding: int


def names_should_be_hidden(letter: Letter, now: datetime) -> bool:
    """Whether the letter's names must be off the public list now (closed with the setting on, or erased)."""
    if letter.personal_data_erased_at is not None:
        return True
    return letter.hide_names_after_close and not letter.draft and letter.is_closed(now)


def sync_names(session: Session, letter: Letter, *, now: datetime) -> str | None:
    """Hide or show the letter's names as its settings and state now say: "hidden", "shown", or None."""
    wanted = names_should_be_hidden(letter, now)
    if wanted and letter.names_hidden_at is None:
        named = list(session.scalars(select(Signature.id).where(Signature.letter_id == letter.id, *listed_terms())))
        letter.names_hidden_at = now
        session.flush()
        log.on_names_hidden(session, letter.id, named, now=now)
        return "hidden"
    if not wanted and letter.names_hidden_at is not None:
        letter.names_hidden_at = None
        session.flush()
        listed = session.scalars(
            select(Signature).where(Signature.letter_id == letter.id, *listed_terms()).order_by(Signature.id)
        )
        log.on_names_shown(session, letter.id, listed, now=now)
        return "shown"
    return None


def letters_to_sync(session: Session, now: datetime) -> Sequence[Letter]:
    """Letters whose names are shown but must be hidden (closed by their date since), or the reverse."""
    closed = or_(Letter.closed_at.is_not(None), and_(Letter.closes_at.is_not(None), Letter.closes_at <= now))
    due = and_(Letter.hide_names_after_close, Letter.draft.is_(False), closed, Letter.names_hidden_at.is_(None))
    return list(session.scalars(select(Letter).where(due).order_by(Letter.id)))


def sync_due(session: Session, *, now: datetime) -> list[str]:
    """Hide the names of every letter that closed by its date with "hide names after close" set; their slugs."""
    done = []
    for letter in letters_to_sync(session, now):
        if sync_names(session, letter, now=now):
            done.append(letter.slug)
    return done


def protected_letters(session: Session) -> Sequence[Letter]:
    """Published letters with any privacy-after-close setting, for the privacy page (newest first)."""
    chosen = or_(
        Letter.sensitive,
        Letter.noindex_signers,
        Letter.hide_names_after_close,
        Letter.personal_data_until.is_not(None),
        Letter.personal_data_erased_at.is_not(None),
    )
    return list(
        session.scalars(select(Letter).where(Letter.draft.is_(False), chosen).order_by(Letter.published_at.desc()))
    )


def tiers(session: Session, letter: Letter) -> Tiers:
    """The count and how many of the counted signers are verified or founding (numbers, never names)."""
    counted = and_(Signature.letter_id == letter.id, Signature.status == SignatureStatus.CONFIRMED)
    verified = session.scalar(
        select(func.count()).select_from(Signature).where(counted, Signature.verified_at.is_not(None))
    )
    founding = session.scalar(select(func.count()).select_from(Signature).where(counted, Signature.founding))
    return Tiers(count=letter.signature_count, verified=int(verified or 0), founding=int(founding or 0))


def erasure_due(letter: Letter, now: datetime) -> bool:
    """Whether the purge must erase the letter's personal data now: the date passed and signing is closed."""
    until = letter.personal_data_until
    return (
        until is not None
        and letter.personal_data_erased_at is None
        and now.date() > until
        and not letter.draft
        and letter.is_closed(now)
    )


def erase_personal_data(session: Session, letter: Letter, *, now: datetime) -> int:
    """Erase the personal data of every signer of ``letter``, keeping the count; how many signatures were touched.

    Signatures that count (or wait for review, or were hidden) keep their state and their
    letter, version, times, verified and founding marks and the organisation domain the tallies
    are of; unconfirmed and held ones, which never counted, are deleted, as the purge does.
    Tokens and mail go. The names are hidden first, so the log withdraws every opening.
    """
    letter.personal_data_erased_at = now
    session.flush()
    sync_names(session, letter, now=now)
    ids = select(Signature.id).where(Signature.letter_id == letter.id)
    session.execute(delete(Token).where(Token.signature_id.in_(ids)).execution_options(synchronize_session=False))
    session.execute(
        delete(OutboxMessage).where(OutboxMessage.signature_id.in_(ids)).execution_options(synchronize_session=False)
    )
    deleted = session.execute(
        delete(Signature)
        .where(Signature.letter_id == letter.id, Signature.status.not_in(_KEPT + _TOMBSTONES))
        .execution_options(synchronize_session=False)
    )
    touched = 0
    for signature in session.scalars(
        select(Signature).where(Signature.letter_id == letter.id, Signature.status.in_(_KEPT))
    ):
        withdrawal.erase_details(signature)
        touched += 1
    session.flush()
    return touched + int(getattr(deleted, "rowcount", 0) or 0)


# Withdrawn and removed signatures are already anonymous tombstones.
_TOMBSTONES = (SignatureStatus.WITHDRAWN, SignatureStatus.REMOVED)


def erase_due(session: Session, *, now: datetime) -> list[str]:
    """Erase the personal data of every letter whose ``personal_data_until`` has passed; their slugs."""
    candidates = session.scalars(
        select(Letter)
        .where(Letter.personal_data_until.is_not(None), Letter.personal_data_erased_at.is_(None))
        .order_by(Letter.id)
    )
    done = []
    for letter in list(candidates):
        if erasure_due(letter, now):
            erase_personal_data(session, letter, now=now)
            done.append(letter.slug)
    return done
