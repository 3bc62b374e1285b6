"""Letter versions: every published text of a letter, and which one each signature was signed under.

A version is of the letter's own text (its language, title, summary and Markdown). Translations
are not versioned: each records the version of the letter's text it was last loaded for, so a
page can say when a translation lags behind (see ``LetterTranslation.letter_version``).

Every change of the text goes through ``record_version``: it adds version n+1 only when the text
really differs, and keeps ``Letter.current_version`` in step, so that signing reads the number
from the letter's row without a query of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import N_, DomainError
from app.mail import compose, outbox
from app.models import Letter, LetterVersion, Signature, SignatureStatus, TokenPurpose
from app.services import jobs
from app.services.tokens import issue_token
from app.services.updates import unsubscribe_token

NOTE_MAX = 500
# Per-version counts are kept as tallies named like this (see app.services.counting); version 1
# has none: its count is what the others leave of the letter's count.
VERSION_TALLY_PREFIX = "version:"
# The job that stands for "mail the opted-in signers about version N", done by the worker a
# batch at a time (``mail_batch``).
MATERIAL_CHANGE_REQUEST = "material_change_request"
# Whose owners hear about a material change: confirmed by email and not taken off the list.
NOTIFIED_STATUSES = (SignatureStatus.CONFIRMED, SignatureStatus.PENDING)


class VersionNotFound(DomainError):
    """No version of that number."""

    status_code = 404
    code = "version_not_found"
    message = N_("This letter has no version with that number.")


class MaterialChangeError(ValueError):
    """A material change that cannot be recorded as asked (the text did not change, or no note)."""


def version_tally(number: int) -> str:
    """The name of the tally that counts the signatures under version ``number`` (2 and later)."""
    return f"{VERSION_TALLY_PREFIX}{number}"


def text_differs(letter: Letter, *, title: str, summary: str, body_markdown: str) -> bool:
    """Whether these would change what readers see of the letter in its own language."""
    return (letter.title, letter.summary, letter.body_markdown) != (title, summary, body_markdown)


def record_version(
    session: Session,
    letter: Letter,
    *,
    now: datetime,
    material: bool = False,
    note: str = "",
) -> LetterVersion:
    """Store the letter's current text as its next version and make that the current one.

    The caller has already put the new text on the letter (and flushed it, for a new letter).
    A material change needs a note saying what changed; it queues the mail to the signers who
    asked for updates, which the mail worker sends a batch at a time.
    """
    note = " ".join(note.split())[:NOTE_MAX]
    if material and not note:
        raise MaterialChangeError("a material change needs a note that says what changed")
    # The number is read under the letter row's lock (the caller's UPDATE of the text took it, or
    # this takes it): two admins saving at once get the next two numbers, not the same one twice.
    locked = select(Letter.current_version).where(Letter.id == letter.id).with_for_update()
    number = (session.scalar(locked) or 0) + 1
    version = LetterVersion(
        letter_id=letter.id,
        number=number,
        lang=letter.lang,
        title=letter.title,
        summary=letter.summary,
        body_markdown=letter.body_markdown,
        body_html=letter.body_html,
        published_at=letter.published_at if number == 1 else now,
        material=material and number > 1,
        note=note,
    )
    session.add(version)
    letter.current_version = number
    session.flush()
    if version.material:
        queue_material_change(session, letter, version, now=now)
    return version


def rewrite_draft_version(session: Session, letter: Letter) -> None:
    """Put a draft's new text on its current version instead of adding one.

    Nobody can read or sign a draft, so its edits are not a history anyone needs: the text it is
    published with is the version signers meet.
    """
    version = session.scalar(
        select(LetterVersion).where(
            LetterVersion.letter_id == letter.id, LetterVersion.number == letter.current_version
        )
    )
    if version is None:
        record_version(session, letter, now=letter.published_at)
        return
    version.lang = letter.lang
    version.title = letter.title
    version.summary = letter.summary
    version.body_markdown = letter.body_markdown
    version.body_html = letter.body_html
    session.flush()


def redate_first_version(session: Session, letter: Letter) -> None:
    """Version 1 is dated as the letter is published (a draft opens when an admin publishes it)."""
    version = session.scalar(
        select(LetterVersion).where(LetterVersion.letter_id == letter.id, LetterVersion.number == 1)
    )
    if version is not None and letter.current_version == 1:
        version.published_at = letter.published_at
        session.flush()


def queue_material_change(session: Session, letter: Letter, version: LetterVersion, *, now: datetime) -> None:
    """One job standing for the mail to every opted-in signer; the worker does it a batch at a time.

    The job holds the letter and the version; its cursor is how far it has gone (the last
    signature id mailed), so a million signers never make one giant transaction.
    """
    jobs.add(session, MATERIAL_CHANGE_REQUEST, {"letter_id": letter.id, "number": version.number}, now=now)


def mail_batch(
    session: Session,
    letter_id: int,
    number: int,
    *,
    after: int,
    limit: int,
    withdraw_ttl: timedelta,
    secret: str,
    now: datetime,
) -> int | None:
    """Queue the mail about version ``number`` to the next ``limit`` signers to notify after id ``after``.

    Returns the last signature id reached (``after`` when nobody is left), or None when the
    version is gone (the letter was deleted meanwhile).
    """
    version = session.scalar(
        select(LetterVersion).where(LetterVersion.letter_id == letter_id, LetterVersion.number == number)
    )
    if version is None:
        return None
    for signature in signers_to_notify(session, letter_id, number, after_id=after, limit=limit):
        raw = issue_token(session, signature, TokenPurpose.WITHDRAW, now=now, ttl=withdraw_ttl)
        email = compose.material_change(
            signature, version, raw, unsubscribe_token(secret, signature), days=withdraw_ttl.days
        )
        outbox.enqueue(session, signature.email, email, kind="material_change", now=now, signature=signature)
        after = signature.id
    session.flush()
    return after


def versions(session: Session, letter: Letter) -> list[LetterVersion]:
    """Every version of the letter, oldest first."""
    return list(
        session.scalars(
            select(LetterVersion).where(LetterVersion.letter_id == letter.id).order_by(LetterVersion.number)
        )
    )


def get_version(session: Session, letter: Letter, number: int) -> LetterVersion:
    """Version ``number`` of the letter, or VersionNotFound."""
    if not 1 <= number <= letter.current_version:
        raise VersionNotFound()
    version = session.scalar(
        select(LetterVersion).where(LetterVersion.letter_id == letter.id, LetterVersion.number == number)
    )
    if version is None:
        raise VersionNotFound()
    return version


def counts_by_version(letter: Letter, tallies: Mapping[str, int]) -> dict[int, int]:
    """Counted signatures under each version 1..current, from the letter's count and its tallies."""
    counts = {number: tallies.get(version_tally(number), 0) for number in range(2, letter.current_version + 1)}
    return {1: letter.signature_count - sum(counts.values()), **counts}


def signers_to_notify(session: Session, letter_id: int, number: int, *, after_id: int, limit: int) -> list[Signature]:
    """The next ``limit`` signatures (by id, after ``after_id``) whose owners hear about version ``number``.

    Those who signed an earlier version, confirmed by email, still on the letter, and asked for updates.
    """
    return list(
        session.scalars(
            select(Signature)
            .where(
                Signature.letter_id == letter_id,
                Signature.id > after_id,
                Signature.wants_updates.is_(True),
                Signature.status.in_(NOTIFIED_STATUSES),
                Signature.letter_version < number,
            )
            .order_by(Signature.id)
            .limit(limit)
        )
    )
