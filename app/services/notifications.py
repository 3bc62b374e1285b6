"""Organiser notifications: emails to admins who ask for them, when a count reaches a round number and once a day.

Each admin chooses on their account's page (``NotificationSettings``): a mail when a letter's
count reaches a milestone (the round numbers of ``progress.next_round_number``: 10, 20, 50,
100, ...) and a daily summary (each letter's count and its last day, flags waiting, the
confirmation rate and whether it is dropping, mail the site failed to deliver). Both go
through the outbox, in the admin's language, with one-click unsubscribe headers and a signed
link that turns them off without signing in.

A confirmation that brings a count to a round number queues a ``milestone_check`` job
(``app.services.milestones``); the
worker's hourly ``organiser_notifications`` job checks every letter too (a count can pass a
round number between two confirmations that both read the count before the other's commit) and
writes the daily summaries. A milestone is mailed once: its row in ``letter_milestones`` is
inserted first, and only the transaction that inserts it writes the mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import upsert
from app.mail import compose, outbox
from app.mail.message import Email
from app.models import (
    Flag,
    Letter,
    LetterMilestone,
    Moderator,
    ModeratorRole,
    NotificationSettings,
    OutboxMessage,
    OutboxStatus,
)
from app.services import moderation, stats
from app.services.milestones import milestone_reached
from app.services.queries.dashboard import letter_dashboard

ORGANISER_NOTIFICATIONS = "organiser_notifications"
# The outbox kinds of the mails.
MILESTONE_MAIL = "milestone"
SUMMARY_MAIL = "daily_summary"
# How often the worker looks at every letter (milestones missed, summaries due).
CHECK_EVERY = timedelta(hours=1)
# A day's confirmation rate this far below the week's (and with at least RATE_MIN_SIGNED
# signatures that day) is "dropping": a mail problem, or a flood of fake signatures.
RATE_DROP = 0.1
RATE_MIN_SIGNED = 20


def settings_of(session: Session, moderator: Moderator) -> NotificationSettings:
    """The account's notification settings (everything off if it never chose)."""
    found = session.get(NotificationSettings, moderator.id)
    return found or NotificationSettings(moderator_id=moderator.id, milestones=False, daily_summary=False)


def save_settings(
    session: Session,
    moderator: Moderator,
    *,
    milestones: bool,
    daily_summary: bool,
    locale: str,
    now: datetime,
    closing_reminders: bool | None = None,
) -> NotificationSettings:
    """Store what the account asked for (and the language to write in), with an audit entry."""
    found = session.get(NotificationSettings, moderator.id)
    if found is None:
        found = NotificationSettings(moderator_id=moderator.id)
        session.add(found)
    found.milestones, found.daily_summary, found.locale, found.updated_at = milestones, daily_summary, locale, now
    detail = f"milestones {'on' if milestones else 'off'}, daily summary {'on' if daily_summary else 'off'}"
    if closing_reminders is not None:
        found.closing_reminders = closing_reminders
        detail += f", closing reminders {'on' if closing_reminders else 'off'}"
    moderation.record(session, moderator, "notifications", now=now, letter=None, detail=detail)
    session.flush()
    return found


def _serializer(secret: str, moderator: Moderator) -> URLSafeSerializer:
    # Bound to the address: a link mailed to an account's old address stops working when it changes.
    return URLSafeSerializer(secret, salt="organiser-notifications:" + moderator.email)


def unsubscribe_token(secret: str, moderator: Moderator) -> str:
    """A link token that turns the account's notifications off (signed, never stored)."""
    return _serializer(secret, moderator).dumps(moderator.id)


def find_by_token(session: Session, secret: str, token: str) -> Moderator | None:
    """The account an unsubscribe token belongs to, or None if the token is not genuine."""
    if not token or len(token) > 200:
        return None
    _valid, payload = URLSafeSerializer(secret).loads_unsafe(token)
    if not isinstance(payload, int) or isinstance(payload, bool) or not 0 < payload < 2**31:
        return None
    moderator = session.get(Moderator, payload)
    if moderator is None:
        return None
    try:
        _serializer(secret, moderator).loads(token)
    except BadSignature:
        return None
    return moderator


def unsubscribe(session: Session, moderator: Moderator, *, now: datetime) -> None:
    """Turn every notification of the account off (the link in each mail; doing it twice is harmless)."""
    current = session.get(NotificationSettings, moderator.id)
    if current is None or not (current.milestones or current.daily_summary or current.closing_reminders):
        return
    current.milestones = current.daily_summary = current.closing_reminders = False
    current.updated_at = now
    moderation.record(session, moderator, "notifications", now=now, letter=None, detail="unsubscribed by the link")
    session.flush()


def _recipients(session: Session, *, daily: bool) -> list[tuple[Moderator, NotificationSettings]]:
    """The active admins who asked for milestones (or, with ``daily``, for the daily summary)."""
    wanted = NotificationSettings.daily_summary if daily else NotificationSettings.milestones
    rows = session.execute(
        select(Moderator, NotificationSettings)
        .join(NotificationSettings, NotificationSettings.moderator_id == Moderator.id)
        .where(Moderator.role == ModeratorRole.ADMIN, Moderator.disabled_at.is_(None), wanted.is_(True))
        .order_by(Moderator.id)
    )
    return [(moderator, chosen) for moderator, chosen in rows]


def closing_reminder_recipients(session: Session) -> list[tuple[Moderator, NotificationSettings]]:
    """The active admins who asked to be reminded before a letter closes."""
    rows = session.execute(
        select(Moderator, NotificationSettings)
        .join(NotificationSettings, NotificationSettings.moderator_id == Moderator.id)
        .where(
            Moderator.role == ModeratorRole.ADMIN,
            Moderator.disabled_at.is_(None),
            NotificationSettings.closing_reminders.is_(True),
        )
        .order_by(Moderator.id)
    )
    return [(moderator, chosen) for moderator, chosen in rows]


def _enqueue(session: Session, moderator: Moderator, email: Email, *, kind: str, now: datetime) -> None:
    outbox.enqueue(session, moderator.email, email, kind=kind, now=now)


def check_milestone(session: Session, letter: Letter, *, now: datetime, secret: str) -> int | None:
    """Mail the admins who asked if the letter's count has reached a milestone not mailed yet; the milestone mailed."""
    session.refresh(letter, ["signature_count"])
    reached = milestone_reached(letter.signature_count)
    if reached is None:
        return None
    table = LetterMilestone.__table__
    inserted = session.scalar(
        upsert(session, table)
        .values(letter_id=letter.id, number=reached, reached_at=now)
        .on_conflict_do_nothing(index_elements=["letter_id", "number"])
        .returning(table.c.number)
    )
    if inserted is None:
        return None  # mailed already (or being mailed by another transaction, which has the row)
    for moderator, chosen in _recipients(session, daily=False):
        token = unsubscribe_token(secret, moderator)
        email = compose.milestone(letter, reached, letter.signature_count, locale=chosen.locale, token=token)
        _enqueue(session, moderator, email, kind=MILESTONE_MAIL, now=now)
    return reached


@dataclass(frozen=True)
class LetterSummary:
    """One letter's day, for the daily summary."""

    letter: Letter
    count: int
    # Counted signatures confirmed in the last 24 hours.
    last_day: int
    flags_waiting: int
    # The share confirmed of the signatures made in the last 24 hours, and in the last week.
    day_rate: float | None
    week_rate: float | None

    @property
    def rate_dropping(self) -> bool:
        """Whether the day's confirmation rate fell well below the week's."""
        return self.day_rate is not None and self.week_rate is not None and self.day_rate < self.week_rate - RATE_DROP


@dataclass(frozen=True)
class Summary:
    """What the daily summary says: each open letter's day, and the mail the site failed to deliver."""

    letters: list[LetterSummary]
    mail_failures: int


def summary(session: Session, *, now: datetime, retention_days: int) -> Summary:
    """The numbers of the last 24 hours (each open letter, then the outbox)."""
    found: list[LetterSummary] = []
    letters = session.scalars(select(Letter).where(Letter.closed_at.is_(None)).order_by(Letter.id))
    for letter in letters:
        if letter.is_closed(now):
            continue
        numbers = letter_dashboard(session, letter, now=now, retention_days=retention_days)
        day = numbers.hours[-24:]
        signed = sum(p.signed for p in day)
        confirmed = sum(p.confirmed for p in day)
        flags = session.scalar(
            select(func.count(func.distinct(Flag.signature_id))).where(
                Flag.letter_id == letter.id, Flag.resolved_at.is_(None)
            )
        )
        found.append(
            LetterSummary(
                letter=letter,
                count=numbers.counted,
                last_day=_confirmed_last_day(session, letter.id, now=now),
                flags_waiting=int(flags or 0),
                day_rate=confirmed / signed if signed >= RATE_MIN_SIGNED else None,
                week_rate=numbers.rate,
            )
        )
    failures = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED, OutboxMessage.next_attempt_at >= now - timedelta(days=1))
    )
    return Summary(found, int(failures or 0))


def _confirmed_last_day(session: Session, letter_id: int, *, now: datetime) -> int:
    """Counted signatures confirmed in the last 24 whole hours (the ``hour:`` tallies)."""
    tallies = stats.stored(session, letter_id)
    since = (now - timedelta(hours=24)).strftime(stats.HOUR_FORMAT)
    return sum(v for k, v in tallies.items() if k.startswith(stats.HOUR) and k.removeprefix(stats.HOUR) > since)


def send_daily_summaries(session: Session, *, now: datetime, secret: str, retention_days: int) -> int:
    """Write today's summary to each admin who asked for one and has not had it today; how many."""
    today = now.date()
    due = [(m, chosen) for m, chosen in _recipients(session, daily=True) if chosen.last_summary_on != today]
    if not due:
        return 0
    numbers = summary(session, now=now, retention_days=retention_days)
    for moderator, chosen in due:
        token = unsubscribe_token(secret, moderator)
        email = compose.daily_summary(numbers, today, locale=chosen.locale, token=token)
        _enqueue(session, moderator, email, kind=SUMMARY_MAIL, now=now)
        chosen.last_summary_on = today
    session.flush()
    return len(due)


def run_checks(session: Session, *, now: datetime, secret: str, retention_days: int) -> None:
    """The hourly job: every open letter's milestone, and the daily summaries due; then queue the next run."""
    for letter in session.scalars(select(Letter).where(Letter.closed_at.is_(None)).order_by(Letter.id)):
        check_milestone(session, letter, now=now, secret=secret)
    send_daily_summaries(session, now=now, secret=secret, retention_days=retention_days)
