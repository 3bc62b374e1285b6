"""Rate limits (Flask-Limiter) in memory and in Redis: 429 where the server needs it, quiet elsewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.db import db, utcnow
from app.models import Flag, Letter, OutboxMessage, OutboxStatus, Signature, SignatureStatus, SuspectReason
from app.ratelimit import network_hash, network_of
from tests.factories import stored_signatures
from tests.support import csrf_token, marked_settings, ratelimit_settings, sign, table_counts

SLUG = "test-letter"


@pytest.fixture(params=["memory", "redis"])
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**ratelimit_settings(request.param), **marked_settings(request)}


def on(address: str) -> dict[str, Any]:
    """Request options that make the request come from ``address``."""
    return {"environ_base": {"REMOTE_ADDR": address}}


def mails_to(app: Flask, address: str) -> int:
    with app.app_context():
        query = (
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient == address, OutboxMessage.status != OutboxStatus.DISCARDED)
        )
        return db.session.scalar(query) or 0


def sign_from(client: FlaskClient, address: str, email: str) -> Any:
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    data = {"name": "Ada Lovelace", "email": email, "public": "y", "csrf_token": token}
    return client.post(f"/letters/{SLUG}/sign", data=data, **on(address))


@pytest.mark.settings(RATELIMIT_SIGN_PER_NETWORK="3 per minute")
def test_a_network_over_the_hard_limit_gets_429_and_others_still_sign(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    for n in range(3):
        assert sign_from(client, "198.51.100.7", f"person{n}@example.org").status_code == 303
    refused = sign_from(client, "198.51.100.7", "person3@example.org")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    page = refused.get_data(as_text=True)
    assert "You have sent too many requests. Please try again in" in page
    assert re.search(r"try again in \d+ (seconds?|minutes?)\.", page), page
    # Nothing of the refused request was stored.
    assert len(stored_signatures(app)) == 3 and table_counts(app)["signatures"] == 3
    # Another network is not affected.
    assert sign_from(client, "192.0.2.44", "other@example.org").status_code == 303
    assert len(stored_signatures(app)) == 4


@pytest.mark.settings(RATELIMIT_SIGN_PER_NETWORK="2 per minute")
def test_ipv6_addresses_of_one_network_share_a_limit(app: Flask, client: FlaskClient, letter: Letter) -> None:
    assert sign_from(client, "2001:db8:1:2::10", "a@example.org").status_code == 303
    assert sign_from(client, "2001:db8:1:2:ffff::99", "b@example.org").status_code == 303
    assert sign_from(client, "2001:db8:1:2::abcd", "c@example.org").status_code == 429
    assert sign_from(client, "2001:db8:1:3::10", "d@example.org").status_code == 303


@pytest.mark.settings(RATELIMIT_SIGN_HOLD_PER_NETWORK="2 per hour")
def test_a_flooding_network_is_held_quietly_past_the_soft_limit(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    answers = [sign_from(client, "198.51.100.8", f"p{n}@example.org").status_code for n in range(4)]
    assert answers == [303, 303, 303, 303]
    statuses = [(s.status, s.suspect_reason) for s in stored_signatures(app)]
    assert (
        statuses
        == [(SignatureStatus.UNCONFIRMED, None)] * 2 + [(SignatureStatus.SUSPECT, SuspectReason.NETWORK_FLOOD)] * 2
    )
    # Held ones were not mailed.
    assert [mails_to(app, f"p{n}@example.org") for n in range(4)] == [1, 1, 0, 0]


@pytest.mark.settings(RATELIMIT_MAIL_PER_ADDRESS="2 per hour")
def test_an_address_gets_no_more_mail_past_its_limit_and_the_answer_does_not_change(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    for _ in range(4):
        assert sign(client, SLUG, email="victim@example.org").status_code == 303
    assert mails_to(app, "victim@example.org") == 2
    # The resend form counts against the same allowance.
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    answer = client.post(f"/letters/{SLUG}/resend", data={"email": "victim@example.org", "csrf_token": token})
    assert answer.status_code == 303
    assert mails_to(app, "victim@example.org") == 2


@pytest.mark.settings(RATELIMIT_FORMS_PER_NETWORK="2 per minute")
def test_resend_and_withdraw_share_a_hard_limit_per_network(app: Flask, client: FlaskClient, letter: Letter) -> None:
    def post(path: str) -> int:
        token = csrf_token(client, path)
        return client.post(path, data={"email": "x@example.org", "csrf_token": token}, **on("203.0.113.9")).status_code

    assert post(f"/letters/{SLUG}/resend") == 303
    assert post(f"/letters/{SLUG}/withdraw") == 303
    assert post(f"/letters/{SLUG}/resend") == 429
    assert post(f"/letters/{SLUG}/withdraw") == 429
    # Reading the forms is not limited.
    assert client.get(f"/letters/{SLUG}/withdraw", **on("203.0.113.9")).status_code == 200


@pytest.mark.settings(RATELIMIT_SIGN_PER_NETWORK="1 per minute")
def test_429_is_a_page_with_retry_after(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign_from(client, "198.51.100.10", "a@example.org")
    refused = sign_from(client, "198.51.100.10", "b@example.org")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert refused.mimetype == "text/html"


@pytest.mark.settings(RATELIMIT_ENABLED=False, RATELIMIT_SIGN_PER_NETWORK="1 per minute")
def test_ratelimit_enabled_false_switches_every_limit_off(app: Flask, client: FlaskClient, letter: Letter) -> None:
    for n in range(5):
        assert sign_from(client, "198.51.100.11", f"p{n}@example.org").status_code == 303
    assert all(s.status == SignatureStatus.UNCONFIRMED for s in stored_signatures(app))


def test_networks_are_hashed_with_the_secret_never_stored_raw(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign_from(client, "198.51.100.12", "a@example.org")
    [signature] = stored_signatures(app)
    assert signature.network_hash == network_hash("198.51.100.12", app.config["SECRET_KEY"])
    assert signature.network_hash != network_hash("198.51.100.12", "another secret key of enough length")
    assert "198.51.100.12" not in repr(signature.__dict__)
    assert network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert network_of("::ffff:198.51.100.12") == "198.51.100.12"


@pytest.mark.settings(RATELIMIT_REPORTS_PER_NETWORK="2 per minute")
def test_reports_have_a_hard_limit_per_network(app: Flask, client: FlaskClient, letter: Letter) -> None:
    with app.app_context(), db.transaction() as session:
        signature = Signature(
            letter_id=letter.id,
            name="Ada Lovelace",
            email="ada@example.org",
            email_key="ada@example.org",
            status=SignatureStatus.CONFIRMED,
            confirmed_at=utcnow(),
        )
        session.add(signature)
    path = f"/letters/{SLUG}/signatures/{signature.id}/report"

    def post(address: str) -> Any:
        token = csrf_token(client, path)
        return client.post(path, data={"reason": "fake", "csrf_token": token}, **on(address))

    assert [post("203.0.113.20").status_code for _ in range(2)] == [303, 303]
    refused = post("203.0.113.20")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "You have sent too many requests" in refused.get_data(as_text=True)
    # Reading the form is not limited, and other networks may still report.
    assert client.get(path, **on("203.0.113.20")).status_code == 200
    assert post("192.0.2.50").status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 3


@pytest.mark.settings(RATELIMIT_DOWNLOADS_PER_NETWORK="2 per hour")
def test_full_list_downloads_have_a_hard_limit_per_network(app: Flask, client: FlaskClient, letter: Letter) -> None:
    def download(path: str, address: str) -> tuple[int, str, Any]:
        with client.get(f"/letters/{SLUG}/{path}", **on(address)) as answer:
            return answer.status_code, answer.get_data(as_text=True), answer.headers

    # The CSV and the JSON share one allowance.
    assert download("signatures.csv", "203.0.113.30")[0] == 200
    assert download("signatures.json", "203.0.113.30")[0] == 200
    status, page, headers = download("signatures.csv", "203.0.113.30")
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 3600
    wait = r"Please try again in \d+ (hours?|minutes?|seconds?)\."
    assert re.search(r"You have sent too many requests\. " + wait, page), page
    assert download("signatures.json", "203.0.113.30")[0] == 429
    # The letter and its list stay open to that network; other networks may still download.
    assert client.get(f"/letters/{SLUG}", **on("203.0.113.30")).status_code == 200
    assert client.get(f"/letters/{SLUG}/signatures", **on("203.0.113.30")).status_code == 200
    assert download("signatures.json", "192.0.2.60")[0] == 200
