"""Withdrawal by an emailed single-use link, erasure, and the privacy page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.db import utcnow
from app.models import Letter, OutboxMessage, SignatureStatus, Token
from tests.factories import sign_and_confirm, stored_signatures
from tests.support import (
    SMTPSink,
    count,
    csrf_token,
    deliver_mail,
    execute,
    link_in,
    path_of,
    press,
    rows,
    sign,
    smtp_settings,
    table_counts,
    text_of,
)

pytestmark = pytest.mark.engines

SLUG = "test-letter"
WITHDRAW_LINK = r"https?://\S+/withdraw/[\w-]+"


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    return smtp_settings(smtp_sink)


def api_count(client: FlaskClient) -> int:
    return int(client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"])


def api_names(client: FlaskClient) -> list[str]:
    return [s["name"] for s in client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]]


def test_the_link_in_the_confirmation_mail_withdraws_and_erases(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    link = sign_and_confirm(
        app, client, "ada@example.org", sink=smtp_sink, name="Ada Lovelace", affiliation="Engine Society", city="London"
    ).withdraw
    sign_and_confirm(app, client, "grace@example.org", sink=smtp_sink, name="Grace Hopper")
    assert api_count(client) == 2 and api_names(client) == ["Grace Hopper", "Ada Lovelace"]

    # Opening the link changes nothing (mail scanners open links); the page shows whose it is.
    page = client.get(link).get_data(as_text=True)
    assert "Ada Lovelace" in page and api_count(client) == 2
    answer = press(client, link, "Withdraw my signature")
    assert answer.status_code == 200
    assert "Your signature is withdrawn" in answer.get_data(as_text=True)

    # Off the count and the list at once.
    assert api_count(client) == 1 and api_names(client) == ["Grace Hopper"]
    assert "Ada Lovelace" not in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    # Erased: a tombstone without personal data; its links and mail are gone.
    tombstone = next(s for s in stored_signatures(app) if s.status == SignatureStatus.WITHDRAWN)
    assert (tombstone.name, tombstone.email, tombstone.affiliation, tombstone.city, tombstone.comment) == (
        "",
        "",
        None,
        None,
        None,
    )
    assert tombstone.network_hash is None and tombstone.withdrawn_at is not None
    assert "ada" not in tombstone.email_key
    assert count(app, Token, signature_id=tombstone.id) == 0
    assert "ada@example.org" not in rows(app, OutboxMessage.recipient)
    # The stored count still equals a recount.
    result = app.test_cli_runner().invoke(args=["letter", "recount", SLUG])
    assert result.exit_code == 0 and "1 signatures; the stored count is exact" in result.output

    # The link was single-use.
    again = client.get(link)
    assert again.status_code == 404
    assert "This link cannot be used" in again.get_data(as_text=True)
    assert f"/letters/{SLUG}/withdraw" in again.get_data(as_text=True)


def test_the_withdraw_page_mails_a_fresh_link_and_the_person_can_sign_again(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign_and_confirm(app, client, "ada@example.org", sink=smtp_sink)
    path = f"/letters/{SLUG}/withdraw"
    answer = client.post(path, data={"email": " ADA@example.org ", "csrf_token": csrf_token(client, path)})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"{path}/sent")
    deliver_mail(app)
    message = smtp_sink.messages_to("ada@example.org")[-1]
    assert message["Subject"] == "Withdraw your signature: An open letter for testing"
    assert "only once" in text_of(message)
    press(client, path_of(link_in(message, WITHDRAW_LINK)), "Withdraw my signature")
    assert api_count(client) == 0

    # Withdrawal frees the address: its owner may sign again, and it counts again once confirmed.
    sign_and_confirm(app, client, "ada@example.org", sink=smtp_sink, name="Ada Lovelace")
    assert api_count(client) == 1 and api_names(client) == ["Ada Lovelace"]


def test_withdrawing_an_unconfirmed_signature_deletes_it(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG, email="ada@example.org")
    deliver_mail(app)
    [message] = smtp_sink.messages_to("ada@example.org")
    press(client, path_of(link_in(message, WITHDRAW_LINK)), "Withdraw my signature")
    assert table_counts(app) == {"signatures": 0, "tokens": 0, "outbox_messages": 0, "jobs": 0}
    # The confirmation link of the deleted signature no longer works.
    assert client.get(path_of(link_in(message))).status_code == 404
    assert api_count(client) == 0


def test_an_expired_withdrawal_link_says_so_and_offers_a_new_one(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    link = sign_and_confirm(app, client, "ada@example.org", sink=smtp_sink).withdraw
    execute(app, sa.update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = client.get(link)
    assert page.status_code == 410
    assert "This link has expired" in page.get_data(as_text=True)
    # The link's page is in the language the mail was (?lang=en), and so is the way to a new one.
    assert f'href="/letters/{SLUG}/withdraw?lang=en"' in page.get_data(as_text=True)
    assert client.post(link, data={"csrf_token": csrf_token(client, f"/letters/{SLUG}/resend")}).status_code == 410
    assert api_count(client) == 1


def test_withdrawal_pages_send_no_referrer(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    withdraw = sign_and_confirm(app, client, "ada@example.org", sink=smtp_sink).withdraw
    response = client.get(withdraw)
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_privacy_page_says_what_is_kept_and_how_to_withdraw(
    app: Flask, client: FlaskClient, create_letter: Any
) -> None:
    create_letter(featured=True)
    page = client.get("/privacy")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "never shown to anyone" in text
    assert "within 14 days is deleted" in text
    assert "for 30 days; then it is erased" in text
    assert f'href="/letters/{SLUG}/withdraw"' in text
    # Every page links to it.
    assert 'href="/privacy"' in client.get(f"/letters/{SLUG}").get_data(as_text=True)
