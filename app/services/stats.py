"""Where and when a letter's counted signers signed: tallies kept like the count, for the stats pages.

Each counted signature adds one to five of the letter's tallies (``letter_tallies``): its
country (``country:FR``, ``country:-`` when none was given), the hour it was confirmed in, UTC
(``hour:2026-12-03T15``), the language it signed in (``lang:ko``), and, for the moderators'
dashboard, the hour it was signed in (``signed:2026-12-03T14``) and how long its signer took to
confirm, as one of a few ranges (``delay:300``: under five minutes). They change in the same
transaction and by the same atomic upsert as the count, so reading the numbers of a
million-signer letter is a read of a few hundred small rows, never a scan of its signatures;
``counted`` gives the same numbers from the signatures themselves, for the recount.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, case, cast, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from app.db import add_to_value
from app.models import LetterTally, Signature, SignatureStatus

COUNTRY = "country:"
HOUR = "hour:"
LANGUAGE = "lang:"
# By the hour the signature was made (its first submission), and by the time taken to confirm.
SIGNED = "signed:"
DELAY = "delay:"
PREFIXES = (COUNTRY, HOUR, LANGUAGE, SIGNED, DELAY)
# The ranges of the time to confirm, by their upper bound in whole seconds: under a minute, under
# two, five, ten, thirty minutes, an hour, two, six, twelve hours, a day, two days, a week; and
# longer (DELAY_LONGER). The tally of a range is named by its bound (``delay:300``).
DELAY_BOUNDS = (60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800)
DELAY_LONGER = "longer"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A signature without a country.
NO_COUNTRY = "-"
HOUR_FORMAT = "%Y-%m-%dT%H"


def _whole_seconds(moment: datetime) -> int:
    """Seconds since 1970 of ``moment``, rounded down (as both databases compute it, exactly)."""
    return (moment - _EPOCH) // timedelta(seconds=1)


def delay_range(seconds: int) -> str:
    """The name (after DELAY) of the range a time to confirm of ``seconds`` falls in."""
    return next((str(bound) for bound in DELAY_BOUNDS if seconds < bound), DELAY_LONGER)


def names(
    *, country: str | None, locale: str, confirmed_at: datetime, created_at: datetime
) -> tuple[str, str, str, str, str]:
    """The five tallies a counted signature with these details adds to."""
    delay = _whole_seconds(confirmed_at) - _whole_seconds(created_at)
    return (
        f"{COUNTRY}{country or NO_COUNTRY}",
        f"{HOUR}{confirmed_at.strftime(HOUR_FORMAT)}",
        f"{LANGUAGE}{locale}",
        f"{SIGNED}{created_at.strftime(HOUR_FORMAT)}",
        f"{DELAY}{delay_range(delay)}",
    )


def add(session: Session, signature: Signature, delta: int) -> None:
    """Add ``delta`` to the tallies of ``signature`` (counted from now on: +1; no longer: -1)."""
    when = signature.confirmed_at or signature.created_at  # (a signature counted unconfirmed: none do today)
    details = names(
        country=signature.country, locale=signature.locale, confirmed_at=when, created_at=signature.created_at
    )
    for name in details:
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


def hour_of(session: Session, when: ColumnElement[datetime] | QueryableAttribute[datetime]) -> ColumnElement[str]:
    """A timestamp column as the text of its hour (HOUR_FORMAT, UTC), in the database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", when), 'YYYY-MM-DD"T"HH24')
    return func.strftime(HOUR_FORMAT, when)


def _hour_of(session: Session) -> ColumnElement[str]:
    """``Signature.confirmed_at`` as the text of its hour (HOUR_FORMAT), in the database's dialect."""
    return hour_of(session, func.coalesce(Signature.confirmed_at, Signature.created_at))


def _seconds_of(session: Session, when: ColumnElement[datetime] | QueryableAttribute[datetime]) -> ColumnElement[int]:
    """A timestamp column as whole seconds since 1970 (rounded down), in the database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", when)), BigInteger)
    return cast(func.strftime("%s", when), BigInteger)


def _delay_range_of(session: Session) -> ColumnElement[str]:
    """The range of the time to confirm (``delay_range``) of each signature, in SQL."""
    when = func.coalesce(Signature.confirmed_at, Signature.created_at)
    seconds = _seconds_of(session, when) - _seconds_of(session, Signature.created_at)
    return case(*((seconds < bound, str(bound)) for bound in DELAY_BOUNDS), else_=DELAY_LONGER)


def counted(session: Session, letter_id: int) -> dict[str, int]:
    """The same tallies, counted from the signatures themselves (for the recount)."""
    counted_now = (Signature.letter_id == letter_id, Signature.status == SignatureStatus.CONFIRMED)
    found: dict[str, int] = {}
    for prefix, column in (
        (COUNTRY, func.coalesce(Signature.country, NO_COUNTRY)),
        (HOUR, _hour_of(session)),
        (LANGUAGE, Signature.locale),
        (SIGNED, hour_of(session, Signature.created_at)),
        (DELAY, _delay_range_of(session)),
    ):
        for value, number in session.execute(select(column, func.count()).where(*counted_now).group_by(column)):
            found[f"{prefix}{value}"] = number
    return found
