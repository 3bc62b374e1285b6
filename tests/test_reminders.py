"""Reminders before a letter closes, through the outbox to a real SMTP server.

The organisers who asked get one mail per letter ("N days left, count X"); each signer who
started but never confirmed gets exactly one reminder with a fresh link that confirms, in their
language; nobody who withdrew, nobody who signed again and confirmed, and nobody past the mail
quota is written to.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import db, utcnow
from app.models import Letter, Moderator, ModeratorRole, Signature, SignatureStatus
from app.services import jobs, notifications
from tests import factories
from tests.factories import log_in, sign_and_confirm
from tests.support import SMTPSink, csrf_token, deliver_mail, link_in, path_of, press, rows, sign, smtp_settings

pytestmark = pytest.mark.engines

SLUG = "test-letter"


@pytest.fixture
def app_config(smtp_sink: SMTPSink, request: pytest.FixtureRequest) -> dict[str, Any]:
    marked = request.node.get_closest_marker("settings")
    return smtp_settings(smtp_sink) | (marked.kwargs if marked else {})


def admins(app: Flask, **chosen: dict[str, bool]) -> None:
    """Admin accounts by address, each with the notification settings given (``{}``: never chose)."""
    with app.app_context(), db.transaction() as session:
        for email, wanted in chosen.items():
            moderator = factories.moderator(session, email, ModeratorRole.ADMIN)
            if wanted:
                notifications.save_settings(
                    session,
                    moderator,
                    milestones=False,
                    daily_summary=False,
                    closing_reminders=wanted["closing"],
                    locale=str(wanted.get("locale", "en")),
                    now=utcnow(),
                )


def set_letter(app: Flask, **values: Any) -> None:
    with app.app_context(), db.transaction() as session:
        letter = session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert letter is not None
        for key, value in values.items():
            setattr(letter, key, value)


def run_hourly_job(app: Flask) -> str:
    """Queue the hourly organiser-notifications job now and let the worker run it and send the mail."""
    with app.app_context(), db.transaction() as session:
        jobs.add(session, notifications.ORGANISER_NOTIFICATIONS, {}, now=utcnow())
    return deliver_mail(app)


def due(app: Flask, days: float = 2) -> None:
    set_letter(app, remind_before_close=True, closes_at=utcnow() + timedelta(days=days))


def test_organisers_who_asked_and_each_unconfirmed_signer_are_reminded_once(
    app: Flask, client: FlaskClient, smtp_sink: SMTPSink, letter: Letter
) -> None:
    admins(
        app,
        **{
            "yes@example.org": {"closing": True},
            "ko@example.org": {"closing": True, "locale": "ko"},
            "no@example.org": {"closing": False},
            "never@example.org": {},
        },
    )
    sign_and_confirm(app, client, "done@example.org", name="Already Done", sink=smtp_sink)
    assert sign(client, SLUG, email="late@example.org", name="Late Larry").status_code == 303
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko"
    assert sign(client, SLUG, email="ko@example.net", name="김민지").status_code == 303
    deliver_mail(app)
    before = len(smtp_sink.received)

    # Not yet due (closes in ten days), then due (in two days and a bit: "3 days").
    set_letter(app, remind_before_close=True, closes_at=utcnow() + timedelta(days=10))
    run_hourly_job(app)
    assert len(smtp_sink.received) == before
    due(app, days=2.5)
    run_hourly_job(app)
    [organiser] = smtp_sink.messages_to("yes@example.org")
    assert organiser["Subject"] == "“An open letter for testing” closes in 3 days"
    assert "It has 1 signatures now." in organiser.get_body(("plain",)).get_content()
    assert organiser["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [korean_organiser] = smtp_sink.messages_to("ko@example.org")
    assert "3일 남았습니다" in korean_organiser["Subject"]
    assert smtp_sink.messages_to("no@example.org") == smtp_sink.messages_to("never@example.org") == []
    [reminder] = smtp_sink.messages_to("late@example.org")[1:]
    text = reminder.get_body(("plain",)).get_content()
    assert reminder["Subject"] == "Your signature is not confirmed yet: An open letter for testing"
    assert "This is the only reminder we send." in text and "closes in 3 days" in text
    assert "확인되지 않았습니다" in smtp_sink.messages_to("ko@example.net")[-1]["Subject"]
    assert len(smtp_sink.messages_to("done@example.org")) == 1  # the confirmation only

    # Exactly once: the next hours write nothing more.
    count = len(smtp_sink.received)
    run_hourly_job(app)
    run_hourly_job(app)
    assert len(smtp_sink.received) == count
    # The fresh link confirms.
    assert press(client, path_of(link_in(reminder)), "").status_code == 200
    assert rows(app, Signature.status, where=Signature.email == "late@example.org") == [SignatureStatus.CONFIRMED]


def test_nobody_who_withdrew_or_confirmed_is_reminded(
    app: Flask, client: FlaskClient, smtp_sink: SMTPSink, letter: Letter
) -> None:
    # Signed, never confirmed, then withdrew with the link in the confirmation mail: the row is gone.
    assert sign(client, SLUG, email="gone@example.org", name="Gone").status_code == 303
    deliver_mail(app)
    withdraw = path_of(link_in(smtp_sink.messages_to("gone@example.org")[0], r"https?://\S+/withdraw/\S+"))
    assert press(client, withdraw, "").status_code == 200
    # Confirmed, then withdrew: an anonymous tombstone, no address left.
    signed = sign_and_confirm(app, client, "tomb@example.org", name="Tomb", sink=smtp_sink)
    assert press(client, path_of(signed.withdraw), "").status_code == 200
    # Signed, then signed again and confirmed: one confirmed signature.
    assert sign(client, SLUG, email="again@example.org", name="Again").status_code == 303
    sign_and_confirm(app, client, "again@example.org", name="Again, confirmed", sink=smtp_sink)
    with app.app_context():
        left = db.session.execute(sa.select(Signature.email, Signature.status).order_by(Signature.id)).all()
    assert ("gone@example.org", SignatureStatus.UNCONFIRMED) not in left
    assert ("", SignatureStatus.WITHDRAWN) in left
    assert not any(status == SignatureStatus.UNCONFIRMED for _email, status in left)
    before = len(smtp_sink.received)
    due(app)
    run_hourly_job(app)
    assert len(smtp_sink.received) == before


@pytest.mark.settings(RATELIMIT_MAIL_PER_ADDRESS="1 per hour")
def test_an_address_past_its_mail_quota_is_skipped_and_not_tried_again(
    app: Flask, client: FlaskClient, smtp_sink: SMTPSink, letter: Letter
) -> None:
    assert sign(client, SLUG, email="busy@example.org", name="Busy").status_code == 303
    deliver_mail(app)
    assert len(smtp_sink.messages_to("busy@example.org")) == 1  # the confirmation used the hour's one mail
    due(app)
    run_hourly_job(app)
    assert len(smtp_sink.messages_to("busy@example.org")) == 1
    with app.app_context():
        [reminded] = db.session.scalars(sa.select(Signature.reminded_at)).all()
    assert reminded is not None


def test_letters_without_reminders_closed_or_drafts_send_nothing(
    app: Flask, client: FlaskClient, smtp_sink: SMTPSink, letter: Letter
) -> None:
    admins(app, **{"yes@example.org": {"closing": True}})
    assert sign(client, SLUG, email="late@example.org", name="Late").status_code == 303
    deliver_mail(app)
    before = len(smtp_sink.received)
    for values in (
        {"remind_before_close": False, "closes_at": utcnow() + timedelta(days=1)},
        {"remind_before_close": True, "closes_at": utcnow() + timedelta(days=1), "closed_at": utcnow()},
        {"remind_before_close": True, "closes_at": utcnow() - timedelta(hours=1), "closed_at": None},
        {"remind_before_close": True, "closes_at": None},
    ):
        set_letter(app, **values)
        run_hourly_job(app)
        assert len(smtp_sink.received) == before, values


def test_the_settings_page_the_editor_and_the_front_matter_set_the_reminders(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    letter: Letter,
    create_moderator: Callable[..., Moderator],
    tmp_path: Path,
) -> None:
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    assert log_in(client, "admin@example.org").status_code == 303
    settings = "/moderate/account/notifications"
    assert "A reminder a few days before a letter closes" in client.get(settings).get_data(as_text=True)
    saved = client.post(settings, data={"closing_reminders": "y", "csrf_token": csrf_token(client, settings)})
    assert saved.status_code == 303
    assert rows(app, Moderator.email, where=Moderator.email == "admin@example.org")
    with app.app_context():
        [chosen] = [r for r in db.session.scalars(sa.select(notifications.NotificationSettings))]
        assert chosen.closing_reminders and not chosen.milestones
    edit = f"/moderate/letters/{SLUG}/edit"
    page = client.get(edit).get_data(as_text=True)
    assert "Remind before closing" in page and "3 days before the closing date" in page
    form = {
        "csrf_token": csrf_token(client, edit),
        "title": "An open letter for testing",
        "body_markdown": "We ask for better tests.",
        "moderation_mode": "post",
        "remind_before_close": "y",
    }
    assert client.post(edit, data=form).status_code == 303
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None and stored.remind_before_close
    dumped = runner.invoke(args=["letter", "dump", SLUG]).output
    assert "remind_before_close: true" in dumped
    path = tmp_path / "letter.md"
    path.write_text(dumped.replace("remind_before_close: true", "remind_before_close: false"))
    assert runner.invoke(args=["letter", "load", str(path)]).exit_code == 0
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None and not stored.remind_before_close
