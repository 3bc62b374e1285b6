"""A letter's public numbers: signatures by day, by hour, by country and by language, from its tallies.

Nothing here can single out a signer: a country with fewer than ``SMALL_COUNT`` counted signers
is not named but added to "other" (k-anonymity), and the numbers are counts of signatures
already counted publicly. They come from the tallies ``app.services.stats`` keeps, a read of a
few hundred small rows whatever the size of the letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from app.services import stats

# Fewer signers than this from one country, and the country is not named ("other").
SMALL_COUNT = 5
# The key of the countries too small to name, and of signers who gave no country.
OTHER = "other"
NOT_GIVEN = "none"
# The hours shown: the last two days.
RECENT_HOURS = 48


@dataclass(frozen=True)
class LetterStats:
    """When and where a letter's counted signers signed."""

    total: int
    # Every day from the first signature's to today's (days without one count 0), oldest first.
    days: list[tuple[date, int]]
    # The last RECENT_HOURS hours, oldest first (UTC).
    hours: list[tuple[datetime, int]]
    # Country codes (or NOT_GIVEN) with at least SMALL_COUNT signers, most first; then OTHER.
    countries: list[tuple[str, int]]
    languages: list[tuple[str, int]]
    small_count: int = SMALL_COUNT

    @property
    def busiest_day(self) -> int:
        """The most signatures on one day (the scale of a chart of the days)."""
        return max((number for _, number in self.days), default=0)

    @property
    def busiest_hour(self) -> int:
        """The most signatures in one hour of the last RECENT_HOURS."""
        return max((number for _, number in self.hours), default=0)


def _by(prefix: str, tallies: dict[str, int]) -> dict[str, int]:
    return {name.removeprefix(prefix): value for name, value in tallies.items() if name.startswith(prefix)}


def grouped(counts: dict[str, int], small: int = SMALL_COUNT) -> list[tuple[str, int]]:
    """Counts of at least ``small``, most first (then by key), and the rest summed as OTHER (if any)."""
    named = sorted(((key, n) for key, n in counts.items() if n >= small), key=lambda item: (-item[1], item[0]))
    rest = sum(n for n in counts.values() if n < small)
    return named + ([(OTHER, rest)] if rest else [])


def letter_stats(session: Session, letter_id: int, *, now: datetime) -> LetterStats:
    """The letter's numbers as of ``now``."""
    tallies = stats.stored(session, letter_id)
    per_hour = {
        datetime.strptime(hour, stats.HOUR_FORMAT).replace(tzinfo=UTC): n
        for hour, n in _by(stats.HOUR, tallies).items()
    }
    per_day: dict[date, int] = {}
    for hour, n in per_hour.items():
        per_day[hour.date()] = per_day.get(hour.date(), 0) + n
    today = now.astimezone(UTC).date()
    days: list[tuple[date, int]] = []
    if per_day:
        day, last = min(per_day), max(today, *per_day)
        while day <= last:
            days.append((day, per_day.get(day, 0)))
            day += timedelta(days=1)
    this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [
        (moment, per_hour.get(moment, 0))
        for moment in (this_hour - timedelta(hours=back) for back in range(RECENT_HOURS - 1, -1, -1))
    ]
    countries = {
        (NOT_GIVEN if code == stats.NO_COUNTRY else code): n for code, n in _by(stats.COUNTRY, tallies).items()
    }
    languages = _by(stats.LANGUAGE, tallies)
    return LetterStats(
        total=sum(countries.values()),
        days=days,
        hours=hours,
        countries=grouped(countries),
        languages=grouped(languages),
    )
