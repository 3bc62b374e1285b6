"""A letter's numbers for its moderators: signing and confirming over time, who signed, flags and removals.

Everything comes from the tallies kept with the count (``app.services.stats``,
``app.services.counting``) or from queries that walk a small index range: the signatures still
awaiting confirmation (``ix_signatures_unconfirmed``, a partial index the purge keeps short), the
letter's flags (``ix_flags_letter_created``) and its audit entries (``ix_audit_entries_letter_at``).
Reading the dashboard of a million-signer letter never scans its signatures.

Nothing here singles a signer out: countries, organisations and languages with fewer than
``SMALL_COUNT`` counted signers are summed as "other", as on the public stats page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import AuditEntry, Flag, Letter, LetterDomainTally, LetterTally, Organisation, Signature
from app.services import counting, stats
from app.services.queries.stats import NOT_GIVEN, OTHER, RECENT_HOURS, SMALL_COUNT, grouped
from app.services.versions import VERSION_TALLY_PREFIX, counts_by_version

# The confirmation rate is taken over the signatures of this many days at most (fewer if the
# purge deletes unconfirmed signatures sooner: the rate would then look better than it is).
RATE_DAYS = 7
# The moderators' actions that take signatures off the count.
REMOVING_ACTIONS = ("hide", "delete")
# A literal, not a parameter, so that both databases see the partial index's condition.
_UNCONFIRMED: ColumnElement[str] = literal_column("'unconfirmed'")


@dataclass(frozen=True)
class Period:
    """An hour or a day of signing: those signed in it who have confirmed since, and those who have not."""

    start: datetime | date
    confirmed: int
    unconfirmed: int
    # Whether the unconfirmed of this period may already have been purged (their number is then unknown).
    purged: bool = False

    @property
    def signed(self) -> int:
        """Signatures made in the period (still stored)."""
        return self.confirmed + self.unconfirmed

    @property
    def rate(self) -> float | None:
        """The share of the period's signatures confirmed so far (None: none signed, or unknown)."""
        if self.purged or not self.signed:
            return None
        return self.confirmed / self.signed


@dataclass(frozen=True)
class DelayRange:
    """How many counted signers took between ``low`` and ``high`` seconds to confirm (``high`` None: longer)."""

    low: int
    high: int | None
    number: int


@dataclass(frozen=True)
class Dashboard:
    """A letter's numbers for its moderators, as of ``now``."""

    now: datetime
    counted: int
    unconfirmed: int
    # Every day from the first signature's to today's, oldest first (UTC).
    days: list[Period]
    # The last RECENT_HOURS hours, oldest first (UTC).
    hours: list[Period]
    rate_days: int
    # Signatures made in the last ``rate_days`` days, and of them those confirmed since.
    rate_signed: int
    rate_confirmed: int
    delays: list[DelayRange]
    countries: list[tuple[str, int]]
    organisations: list[tuple[str, int]]
    versions: list[tuple[int, int]]
    languages: list[tuple[str, int]]
    # Flags raised and signatures removed by moderators, per day, from the first to today.
    moderation_days: list[tuple[date, int, int]]
    # Signatures taken off the count, by why (the public tallies: fake, duplicate, abuse, other, withdrawn).
    removed: list[tuple[str, int]]
    small_count: int = SMALL_COUNT

    @property
    def rate(self) -> float | None:
        """The share of the last ``rate_days`` days' signatures confirmed so far."""
        return self.rate_confirmed / self.rate_signed if self.rate_signed else None

    @property
    def median_delay(self) -> DelayRange | None:
        """The range the median time to confirm falls in (None before anyone confirmed)."""
        total = sum(r.number for r in self.delays)
        seen = 0
        for delay in self.delays:
            seen += delay.number
            if total and seen * 2 >= total:
                return delay
        return None

    @property
    def busiest_day(self) -> int:
        """The most signatures made on one day (the scale of the chart of days)."""
        return max((p.signed for p in self.days), default=0)

    @property
    def busiest_hour(self) -> int:
        """The most signatures made in one of the last RECENT_HOURS hours."""
        return max((p.signed for p in self.hours), default=0)

    @property
    def busiest_moderation_day(self) -> int:
        """The most flags or removals on one day."""
        return max((max(flags, removals) for _, flags, removals in self.moderation_days), default=0)


def _hour(text: str) -> datetime:
    # fromisoformat reads HOUR_FORMAT ("2026-12-03T14") many times faster than strptime.
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def unconfirmed_by_hour(session: Session, letter_id: int) -> dict[datetime, int]:
    """The letter's signatures awaiting confirmation, by the hour they were signed in (the partial index)."""
    hour = stats.hour_of(session, Signature.created_at)
    rows = session.execute(
        select(hour, func.count())
        .where(Signature.letter_id == letter_id, Signature.status == _UNCONFIRMED)
        .group_by(hour)
        # SQLite would rather take the listing index's range, and read each row for its time.
        .with_hint(Signature, "INDEXED BY ix_signatures_unconfirmed", "sqlite")
    )
    return {_hour(text): number for text, number in rows}


def flags_by_day(session: Session, letter_id: int) -> dict[date, int]:
    """The flags raised on the letter's signatures (still stored), by the day they were raised."""
    day = stats.hour_of(session, Flag.created_at)
    rows = session.execute(select(day, func.count()).where(Flag.letter_id == letter_id).group_by(day))
    found: dict[date, int] = {}
    for text, number in rows:
        found[_hour(text).date()] = found.get(_hour(text).date(), 0) + number
    return found


def removals_by_day(session: Session, letter_id: int) -> dict[date, int]:
    """The signatures moderators hid or deleted, by the day they did (from the audit log)."""
    hour = stats.hour_of(session, AuditEntry.at)
    rows = session.execute(
        select(hour, func.sum(AuditEntry.signature_count))
        .where(AuditEntry.letter_id == letter_id, AuditEntry.action.in_(REMOVING_ACTIONS))
        .group_by(hour)
    )
    found: dict[date, int] = {}
    for text, number in rows:
        found[_hour(text).date()] = found.get(_hour(text).date(), 0) + int(number or 0)
    return found


def organisations(session: Session, letter_id: int) -> list[tuple[str, int]]:
    """Counted signers by the known organisation whose domain they confirmed with; small ones and the rest as OTHER."""
    rows = session.execute(
        # Organisation.name is None where the domain is no known organisation's (the outer join).
        select(Organisation.name.label("name"), func.sum(LetterDomainTally.value))
        .select_from(LetterDomainTally)
        .outerjoin(Organisation, Organisation.domain == LetterDomainTally.domain)
        .where(LetterDomainTally.letter_id == letter_id, LetterDomainTally.value > 0)
        .group_by(Organisation.name)
    )
    named: dict[str, int] = {}
    unknown = 0
    for row in rows:
        name: str | None = row[0]
        number = row[1]
        if name is None:
            unknown = int(number)
        else:
            named[str(name)] = int(number)
    shown = grouped(named)
    if unknown:
        rest = dict(shown).get(OTHER, 0) + unknown
        shown = [(key, n) for key, n in shown if key != OTHER] + [(OTHER, rest)]
    return shown


def _removal_and_version_tallies(session: Session, letter_id: int) -> dict[str, int]:
    """The letter's public tallies of removals (every reason, zero if none) and of versions (only these rows)."""
    rows = session.execute(
        select(LetterTally.name, LetterTally.value).where(
            LetterTally.letter_id == letter_id,
            or_(LetterTally.name.startswith("removed:"), LetterTally.name.startswith(VERSION_TALLY_PREFIX)),
        )
    )
    found = {name: value for name, value in rows}
    return {name: found.get(name, 0) for name in counting.TALLY_NAMES} | found


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def delays(tallies: dict[str, int]) -> list[DelayRange]:
    """The counted signers by time to confirm, shortest range first (every range, empty ones too)."""
    lows = (0, *stats.DELAY_BOUNDS)
    highs: tuple[int | None, ...] = (*stats.DELAY_BOUNDS, None)
    names = (*(str(b) for b in stats.DELAY_BOUNDS), stats.DELAY_LONGER)
    return [
        DelayRange(low, high, tallies.get(f"{stats.DELAY}{name}", 0))
        for low, high, name in zip(lows, highs, names, strict=True)
    ]


def letter_dashboard(session: Session, letter: Letter, *, now: datetime, retention_days: int) -> Dashboard:
    """The letter's numbers as of ``now``; ``retention_days`` is UNCONFIRMED_RETENTION_DAYS (the purge's age)."""
    tallies = stats.stored(session, letter.id)
    confirmed_by_hour: dict[datetime, int] = {}
    countries: dict[str, int] = {}
    languages: dict[str, int] = {}
    for name, value in tallies.items():
        prefix, _, key = name.partition(":")
        if prefix == stats.SIGNED[:-1]:
            confirmed_by_hour[_hour(key)] = value
        elif prefix == stats.COUNTRY[:-1]:
            countries[NOT_GIVEN if key == stats.NO_COUNTRY else key] = value
        elif prefix == stats.LANGUAGE[:-1]:
            languages[key] = value
    waiting_by_hour = unconfirmed_by_hour(session, letter.id)
    now = now.astimezone(UTC)
    today = now.date()
    # Unconfirmed signatures older than this may have been purged.
    kept_since = now - timedelta(days=retention_days)

    confirmed_by_day: dict[date, int] = {}
    waiting_by_day: dict[date, int] = {}
    for hour, n in confirmed_by_hour.items():
        confirmed_by_day[hour.date()] = confirmed_by_day.get(hour.date(), 0) + n
    for hour, n in waiting_by_hour.items():
        waiting_by_day[hour.date()] = waiting_by_day.get(hour.date(), 0) + n
    signing_days = confirmed_by_day.keys() | waiting_by_day.keys()
    days = [
        Period(day, confirmed_by_day.get(day, 0), waiting_by_day.get(day, 0), purged=day < kept_since.date())
        for day in (_days_between(min(signing_days), max(today, *signing_days)) if signing_days else [])
    ]
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    hours = [
        Period(moment, confirmed_by_hour.get(moment, 0), waiting_by_hour.get(moment, 0), purged=moment < kept_since)
        for moment in (this_hour - timedelta(hours=back) for back in range(RECENT_HOURS - 1, -1, -1))
    ]
    rate_days = max(1, min(RATE_DAYS, retention_days))
    rate_since = now - timedelta(days=rate_days)
    # Whole hours only: the first hour of the window counts if it began inside it.
    rate_confirmed = sum(n for hour, n in confirmed_by_hour.items() if hour >= rate_since)
    rate_waiting = sum(n for hour, n in waiting_by_hour.items() if hour >= rate_since)

    flags, removals = flags_by_day(session, letter.id), removals_by_day(session, letter.id)
    moderation_days = (
        [
            (day, flags.get(day, 0), removals.get(day, 0))
            for day in _days_between(min(flags.keys() | removals.keys()), today)
        ]
        if flags or removals
        else []
    )
    public = _removal_and_version_tallies(session, letter.id)
    removed = [
        (name.removeprefix("removed:"), public[name]) for name in counting.TALLY_NAMES if name.startswith("removed:")
    ]
    by_version = counts_by_version(letter, public)
    return Dashboard(
        now=now,
        counted=letter.signature_count,
        unconfirmed=sum(waiting_by_hour.values()),
        days=days,
        hours=hours,
        rate_days=rate_days,
        rate_signed=rate_confirmed + rate_waiting,
        rate_confirmed=rate_confirmed,
        delays=delays(tallies),
        countries=grouped(countries),
        organisations=organisations(session, letter.id),
        versions=sorted(by_version.items()),
        languages=grouped(languages),
        moderation_days=moderation_days,
        removed=removed,
    )
