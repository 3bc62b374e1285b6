"""Organiser notifications: milestone and daily-summary mails to the admins who ask; one-click unsubscribe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import AuditEntry, Letter, Moderator, ModeratorRole, NotificationSettings, OutboxMessage, OutboxStatus
from app.services import jobs, milestones, notifications
from tests import factories
from tests.factories import log_in, sign_and_confirm
from tests.support import SMTPSink, count, csrf_token, deliver_mail, link_in, path_of, smtp_settings, text_of, write

SLUG = "test-letter"
SETTINGS = "/moderate/account/notifications"


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Mail goes to the test SMTP server."""
    return smtp_settings(smtp_sink)


def choose(app: Flask, email: str, *, milestones: bool = False, daily: bool = False, locale: str = "en") -> None:
    """Store an account's choice of notifications, as its settings page does."""

    def save(session: Session) -> None:
        moderator = session.scalar(sa.select(Moderator).where(Moderator.email == email))
        assert moderator is not None
        notifications.save_settings(
            session, moderator, milestones=milestones, daily_summary=daily, locale=locale, now=utcnow()
        )

    write(app, save)


def run_hourly_check(app: Flask) -> None:
    """Queue the worker's hourly look now, and run it (with the mail it writes)."""
    write(app, lambda session: jobs.add(session, notifications.ORGANISER_NOTIFICATIONS, {}, now=utcnow()))
    deliver_mail(app)


def subjects(sink: SMTPSink, address: str) -> list[str]:
    return [str(m["Subject"]) for m in sink.messages_to(address)]


def test_milestones_are_the_round_numbers_from_ten() -> None:
    assert [milestones.milestone_reached(n) for n in (0, 5, 9, 10, 19, 20, 49, 50, 99, 100, 1_999, 2_000)] == [
        None, None, None, 10, 10, 20, 20, 50, 50, 100, 1_000, 2_000,
    ]  # fmt: skip
    assert [n for n in range(1, 120) if milestones.is_milestone(n)] == [10, 20, 50, 100]


def test_the_settings_page_is_for_admins_and_saves_the_choice_with_an_audit_entry(
    app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator("mod@example.org")
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    assert log_in(client).status_code == 303
    assert client.get(SETTINGS).status_code == 403
    admin = FlaskClient(app)
    assert log_in(admin, "admin@example.org").status_code == 303
    page = admin.get(f"{SETTINGS}?lang=ko")
    assert page.status_code == 200 and "이메일 알림" in page.get_data(as_text=True)
    saved = admin.post(f"{SETTINGS}?lang=ko", data={"milestones": "y", "csrf_token": csrf_token(admin, SETTINGS)})
    assert saved.status_code == 303
    [(milestones_on, daily_on, locale)] = write(
        app,
        lambda s: s.execute(
            sa.select(NotificationSettings.milestones, NotificationSettings.daily_summary, NotificationSettings.locale)
        ).all(),
    )
    assert (milestones_on, daily_on, locale) == (True, False, "ko")  # the language the page was in
    assert count(app, AuditEntry, action="notifications") == 1
    assert admin.post(SETTINGS, data={"milestones": "y"}).status_code == 400  # no CSRF token: refused


@pytest.mark.engines
def test_a_milestone_is_mailed_once_to_the_admins_who_asked_only(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator("ada@example.org", ModeratorRole.ADMIN)
    create_moderator("bob@example.org", ModeratorRole.ADMIN)
    create_moderator("cat@example.org")  # a moderator, not an admin
    choose(app, "ada@example.org", milestones=True)
    choose(app, "bob@example.org", daily=False)
    choose(app, "cat@example.org", milestones=True)
    factories.add_confirmed(app, letter.id, 9)
    sign_and_confirm(app, client, "tenth@example.org", sink=smtp_sink)  # the 10th: a milestone
    deliver_mail(app)
    assert subjects(smtp_sink, "ada@example.org") == ["“An open letter for testing” has reached 10 signatures"]
    assert subjects(smtp_sink, "bob@example.org") == [] == subjects(smtp_sink, "cat@example.org")
    [mail] = smtp_sink.messages_to("ada@example.org")
    assert "It has 10 now." in text_of(mail) and f"/moderate/letters/{SLUG}/dashboard" in text_of(mail)
    assert mail["List-Unsubscribe"] and mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The hourly look finds nothing new; nor does another check of the same milestone.
    run_hourly_check(app)
    write(app, lambda s: jobs.add(s, milestones.MILESTONE_CHECK, {"letter_id": letter.id}, now=utcnow()))
    deliver_mail(app)
    assert len(smtp_sink.messages_to("ada@example.org")) == 1
    # A count that passed 20 without a confirmation landing on it is caught by the hourly look.
    factories.add_confirmed(app, letter.id, 12)
    run_hourly_check(app)
    assert subjects(smtp_sink, "ada@example.org")[-1] == "“An open letter for testing” has reached 20 signatures"
    assert len(smtp_sink.messages_to("ada@example.org")) == 2


def failed_mail(session: Session) -> None:
    """A message the site gave up delivering an hour ago."""
    factories_email = OutboxMessage(
        kind="confirm",
        recipient="gone@example.org",
        subject="x",
        body_text="x",
        body_html="x",
        message_id="<failed@example.org>",
        status=OutboxStatus.FAILED,
        attempts=10,
        next_attempt_at=utcnow() - timedelta(hours=1),
    )
    session.add(factories_email)


@pytest.mark.engines
def test_the_daily_summary_says_what_waits_once_a_day_in_the_admins_language(
    app: Flask, letter: Letter, smtp_sink: SMTPSink, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator("ada@example.org", ModeratorRole.ADMIN)
    create_moderator("minji@example.org", ModeratorRole.ADMIN)
    create_moderator("bob@example.org", ModeratorRole.ADMIN)
    choose(app, "ada@example.org", daily=True)
    choose(app, "minji@example.org", daily=True, locale="ko")
    choose(app, "bob@example.org", milestones=True)

    def data(session: Session) -> None:
        factories.confirmed_signers(session, letter.id, 5)
        flagged = factories.signer(session, letter.id)
        factories.flag(session, flagged)
        failed_mail(session)

    write(app, data)
    run_hourly_check(app)
    [mail] = smtp_sink.messages_to("ada@example.org")
    assert str(mail["Subject"]).startswith("Daily summary of the letters")
    text = text_of(mail)
    assert "An open letter for testing" in text
    assert "Counted: 6 (6 in the last 24 hours)" in text
    assert "Flagged signatures waiting for review: 1" in text
    assert "1 email could not be delivered in the last 24 hours." in text
    assert f"/moderate/letters/{SLUG}/dashboard" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [korean] = smtp_sink.messages_to("minji@example.org")
    assert "일일 요약" in str(korean["Subject"]) and "검토를 기다리는 표시된 서명: 1" in text_of(korean)
    assert smtp_sink.messages_to("bob@example.org") == []
    run_hourly_check(app)  # the same day: no second summary
    assert len(smtp_sink.messages_to("ada@example.org")) == 1


def test_a_dropping_confirmation_rate_is_pointed_out() -> None:
    letter = Letter(slug="x", title="x")
    dropping = notifications.LetterSummary(letter, 100, 10, 0, day_rate=0.5, week_rate=0.9)
    steady = notifications.LetterSummary(letter, 100, 10, 0, day_rate=0.85, week_rate=0.9)
    unknown = notifications.LetterSummary(letter, 100, 10, 0, day_rate=None, week_rate=0.9)
    assert dropping.rate_dropping and not steady.rate_dropping and not unknown.rate_dropping


UNSUBSCRIBE = r"https?://\S+/moderate/notifications/unsubscribe/\S+"


def unsubscribe_path(message: EmailMessage) -> str:
    return path_of(link_in(message, UNSUBSCRIBE))


def test_the_link_in_each_mail_turns_them_off_without_signing_in(
    app: Flask, letter: Letter, smtp_sink: SMTPSink, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator("ada@example.org", ModeratorRole.ADMIN)
    choose(app, "ada@example.org", milestones=True, daily=True)
    factories.add_confirmed(app, letter.id, 10)
    run_hourly_check(app)
    mails = smtp_sink.messages_to("ada@example.org")
    assert len(mails) == 2  # the milestone and the summary
    path = unsubscribe_path(mails[0])
    unsubscribe = link_in(mails[0], UNSUBSCRIBE)
    assert str(mails[0]["List-Unsubscribe"]).strip() == f"<{unsubscribe}>"
    stranger = FlaskClient(app)  # not signed in
    page = stranger.get(path)
    assert page.status_code == 200 and "Turn these notifications off" in page.get_data(as_text=True)
    # What a mail program's one-click button sends (RFC 8058): no cookie, no CSRF token.
    done = stranger.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert count(app, NotificationSettings, milestones=False, daily_summary=False) == 1
    assert stranger.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # twice: harmless
    token_path = path.split("?")[0]
    assert stranger.get(token_path[:-3] + "xyz").status_code == 404  # a forged token
    factories.add_confirmed(app, letter.id, 10)
    write(app, lambda s: s.execute(sa.update(NotificationSettings).values(last_summary_on=None)))
    run_hourly_check(app)
    assert len(smtp_sink.messages_to("ada@example.org")) == 2  # nothing more: 20 reached, no mail
