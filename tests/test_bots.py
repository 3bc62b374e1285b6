"""Quiet bot checks on the signing form: held, never refused, and recoverable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.bots import FORM_STAMP_MAX_AGE
from app.db import db
from app.models import Letter, OutboxMessage, SignatureStatus, SuspectReason
from tests.factories import stored_signatures
from tests.support import ManualClock, sign

SLUG = "test-letter"


def mail_kinds(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def count_of(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Letter.signature_count).where(Letter.slug == SLUG)) or 0


def form_fields(client: FlaskClient, path: str = f"/letters/{SLUG}") -> dict[str, str]:
    """The hidden fields of the signing form as the page gives them (the time stamp: the form has no token)."""
    html = client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'<input id="(?:csrf_token|started)" name="(\w+)" type="hidden" value="([^"]*)"', html))
    assert set(fields) == {"started"}, fields
    return fields


# Tests that take the `clock` fixture run the app by it: time passes only when they move it on.
pytestmark = [pytest.mark.settings(SIGN_MIN_SECONDS=2), pytest.mark.engines]


def test_the_honeypot_holds_the_signature_quietly(app: Flask, client: FlaskClient, letter: Letter) -> None:
    fields = form_fields(client)
    response = sign(client, SLUG, started=fields["started"], website="http://spam.example")
    # The bot sees exactly what a person sees...
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/letters/{SLUG}/signed")
    # ...but the signature is held: no mail, not counted, not listed.
    [held] = stored_signatures(app)
    assert (held.status, held.suspect_reason) == (SignatureStatus.SUSPECT, SuspectReason.HONEYPOT)
    assert mail_kinds(app) == []
    assert count_of(app) == 0
    assert client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"] == []


def ask_page_fields(html: str) -> dict[str, str]:
    """The hidden fields of the "is this you?" page, as a browser would send them back."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html)) | dict(
        re.findall(r'<input id="(csrf_token)" name="csrf_token" type="hidden" value="([^"]*)">', html)
    )


def test_a_form_sent_back_too_fast_is_asked_about_and_nothing_is_stored(
    app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock
) -> None:
    fields = form_fields(client)
    clock.advance(1.9)
    response = sign(client, SLUG, started=fields["started"], email="kim.minji@example.org", comment="Hi")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "One more step" in page and "Yes, send my confirmation" in page
    assert "ki***@example.org" in page and "kim.minji@" not in page.replace('value="kim.minji@example.org"', "")
    assert stored_signatures(app) == [] and mail_kinds(app) == []
    # A person presses the one button: the signature is taken as typed, and mailed.
    clock.advance(1.2)
    answer = ask_page_fields(page)
    assert answer["email"] == "kim.minji@example.org" and answer["comment"] == "Hi" and answer["public"] == "y"
    assert client.post(f"/letters/{SLUG}/sign", data=answer).status_code == 303
    [signature] = stored_signatures(app)
    assert (signature.status, signature.suspect_reason) == (SignatureStatus.UNCONFIRMED, None)
    assert (signature.email, signature.comment, signature.public) == ("kim.minji@example.org", "Hi", True)
    assert mail_kinds(app) == ["confirm"]


def test_only_a_second_failure_holds(app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock) -> None:
    fields = form_fields(client)
    page = sign(client, SLUG, started=fields["started"]).get_data(as_text=True)
    clock.advance(0.5)  # the button pressed faster than a person reads: a bot that follows the page
    assert client.post(f"/letters/{SLUG}/sign", data=ask_page_fields(page)).status_code == 303
    [held] = stored_signatures(app)
    assert (held.status, held.suspect_reason) == (SignatureStatus.SUSPECT, SuspectReason.TOO_FAST)
    assert mail_kinds(app) == []


@pytest.mark.parametrize("asked", ["forged", "form"])
def test_the_ask_stamp_cannot_be_made_up_or_taken_from_the_form(
    app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock, asked: str
) -> None:
    fields = form_fields(client)
    stamp = fields["started"] if asked == "form" else "ask.AAAAAA.forged"
    clock.advance(5)
    sign(client, SLUG, started=fields["started"], asked=stamp)
    [held] = stored_signatures(app)
    assert (held.status, held.suspect_reason) == (SignatureStatus.SUSPECT, SuspectReason.NO_FORM_TIME)


def test_the_honeypot_is_never_asked_about(app: Flask, client: FlaskClient, letter: Letter) -> None:
    fields = form_fields(client)
    response = sign(client, SLUG, started=fields["started"], website="x")
    assert response.status_code == 303
    assert stored_signatures(app)[0].suspect_reason == SuspectReason.HONEYPOT


@pytest.mark.parametrize("stamp", ["", "1700000000.forged", "form.AAAAAA.bad-signature"])
def test_a_missing_or_forged_time_stamp_is_held(
    app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock, stamp: str
) -> None:
    form_fields(client)
    clock.advance(2.1)
    assert sign(client, SLUG, started=stamp).status_code == 303
    [held] = stored_signatures(app)
    assert (held.status, held.suspect_reason) == (SignatureStatus.SUSPECT, SuspectReason.NO_FORM_TIME)


def test_a_person_who_takes_their_time_is_not_held_and_signing_again_releases(
    app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock
) -> None:
    fields = form_fields(client)
    sign(client, SLUG, started=fields["started"], website="filled by an extension")
    assert stored_signatures(app)[0].status == SignatureStatus.SUSPECT
    # No mail came, so the person fills the form again, at a human pace: released and mailed.
    fields = form_fields(client)
    clock.advance(2.1)
    assert sign(client, SLUG, started=fields["started"]).status_code == 303
    [signature] = stored_signatures(app)
    assert (signature.status, signature.suspect_reason) == (SignatureStatus.UNCONFIRMED, None)
    assert mail_kinds(app) == ["confirm"]


@pytest.mark.parametrize("days", [1, 6.9])
def test_a_form_left_open_for_days_is_still_fine(
    app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock, days: float
) -> None:
    fields = form_fields(client)
    clock.advance(days * 24 * 3600)
    sign(client, SLUG, started=fields["started"])
    [signature] = stored_signatures(app)
    assert (signature.status, signature.suspect_reason) == (SignatureStatus.UNCONFIRMED, None)


def test_a_time_stamp_older_than_a_week_counts_as_none(
    app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock
) -> None:
    fields = form_fields(client)
    clock.advance(FORM_STAMP_MAX_AGE + 1)
    sign(client, SLUG, started=fields["started"])
    [held] = stored_signatures(app)
    assert (held.status, held.suspect_reason) == (SignatureStatus.SUSPECT, SuspectReason.NO_FORM_TIME)


def test_a_held_request_changes_nothing_that_exists(
    app: Flask, client: FlaskClient, letter: Letter, clock: ManualClock
) -> None:
    fields = form_fields(client)
    clock.advance(2.1)
    sign(client, SLUG, started=fields["started"], name="Ada Lovelace")
    assert mail_kinds(app) == ["confirm"]
    # A bot reusing the address cannot rename the signature or mail its owner.
    fields = form_fields(client)
    sign(client, SLUG, started=fields["started"], name="Someone Else", website="x")
    [signature] = stored_signatures(app)
    assert (signature.name, signature.status) == ("Ada Lovelace", SignatureStatus.UNCONFIRMED)
    assert mail_kinds(app) == ["confirm"]


def test_the_honeypot_is_hidden_from_people_and_screen_readers(client: FlaskClient, letter: Letter) -> None:
    html = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    trap = re.search(r'<div class="hp" aria-hidden="true">.*?</div>', html, re.S)
    assert trap, html
    assert 'name="website"' in trap.group(0) and 'tabindex="-1"' in trap.group(0)
    css = (Path(__file__).parent.parent / "app" / "static" / "style.css").read_text()
    assert re.search(r"\.hp \{[^}]*left: -10000px", css)


@pytest.mark.settings(SIGN_MIN_SECONDS=0, CAPTCHA="tests.captcha_stub:create_captcha")
def test_a_captcha_plugs_in_through_the_hook(app: Flask, client: FlaskClient, letter: Letter) -> None:
    html = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert '<input name="captcha-answer"' in html  # the plugged-in widget is in the form
    sign(client, SLUG, email="bot@example.org", **{"captcha-answer": "wrong"})
    sign(client, SLUG, email="ada@example.org", **{"captcha-answer": "4"})
    held, passed = stored_signatures(app)
    assert (held.status, held.suspect_reason) == (SignatureStatus.SUSPECT, SuspectReason.CAPTCHA)
    assert (passed.status, passed.suspect_reason) == (SignatureStatus.UNCONFIRMED, None)
    assert mail_kinds(app) == ["confirm"]


@pytest.mark.settings(SIGN_MIN_SECONDS=0)
def test_without_a_captcha_setting_there_is_no_widget(client: FlaskClient, letter: Letter) -> None:
    html = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert "captcha" not in html.lower()
