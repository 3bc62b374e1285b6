"""Where and when a letter's counted signers signed: tallies kept like the count, for the stats pages.

Each counted signature adds one to three of the letter's tallies (``letter_tallies``): its
country (``country:FR``, ``country:-`` when none was given), the hour it was confirmed in, UTC
(``hour:2026-12-03T15``) and the language it signed in (``lang:ko``). They change in the same
transaction and by the same atomic upsert as the count, so reading the numbers of a
million-signer letter is a read of a few hundred small rows, never a scan of its signatures;
``counted`` gives the same numbers from the signatures themselves, for the recount.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.db import add_to_value
from app.models import LetterTally, Signature, SignatureStatus

COUNTRY = "country:"
HOUR = "hour:"
LANGUAGE = "lang:"
PREFIXES = (COUNTRY, HOUR, LANGUAGE)
# A signature without a country.
NO_COUNTRY = "-"
HOUR_FORMAT = "%Y-%m-%dT%H"


def names(*, country: str | None, locale: str, confirmed_at: datetime) -> tuple[str, str, str]:
    """The three tallies a counted signature with these details adds to."""
    return (
        f"{COUNTRY}{country or NO_COUNTRY}",
        f"{HOUR}{confirmed_at.strftime(HOUR_FORMAT)}",
        f"{LANGUAGE}{locale}",
    )


def add(session: Session, signature: Signature, delta: int) -> None:
    """Add ``delta`` to the tallies of ``signature`` (counted from now on: +1; no longer: -1)."""
    when = signature.confirmed_at or signature.created_at  # (a signature counted unconfirmed: none do today)
    for name in names(country=signature.country, locale=signature.locale, confirmed_at=when):
        add_to_value(session, LetterTally, {"letter_id": signature.letter_id, "name": name}, delta)


def stored(session: Session, letter_id: int) -> dict[str, int]:
    """The letter's stats tallies as stored (those at zero left out)."""
    rows = session.execute(
        select(LetterTally.name, LetterTally.value).where(
            LetterTally.letter_id == letter_id,
            LetterTally.value != 0,
            or_(*(LetterTally.name.startswith(prefix, autoescape=True) for prefix in PREFIXES)),
        )
    )
    return {name: value for name, value in rows}


def catch_up(session: Session, letter_id: int) -> None:
    """Make the stored tallies what the signatures say (after a bulk load that bypassed ``add``)."""
    have, want = stored(session, letter_id), counted(session, letter_id)
    for name in have.keys() | want.keys():
        if delta := want.get(name, 0) - have.get(name, 0):
            add_to_value(session, LetterTally, {"letter_id": letter_id, "name": name}, delta)


def _hour_of(session: Session) -> ColumnElement[str]:
    """``Signature.confirmed_at`` as the text of its hour (HOUR_FORMAT), in the database's dialect."""
    when = func.coalesce(Signature.confirmed_at, Signature.created_at)
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(when, 'YYYY-MM-DD"T"HH24')
    return func.strftime(HOUR_FORMAT, when)


def counted(session: Session, letter_id: int) -> dict[str, int]:
    """The same tallies, counted from the signatures themselves (for the recount)."""
    counted_now = (Signature.letter_id == letter_id, Signature.status == SignatureStatus.CONFIRMED)
    found: dict[str, int] = {}
    for prefix, column in (
        (COUNTRY, func.coalesce(Signature.country, NO_COUNTRY)),
        (HOUR, _hour_of(session)),
        (LANGUAGE, Signature.locale),
    ):
        for value, number in session.execute(select(column, func.count()).where(*counted_now).group_by(column)):
            found[f"{prefix}{value}"] = number
    return found
