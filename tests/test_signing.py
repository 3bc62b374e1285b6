"""Signing and confirming through the pages: the whole path, duplicates, bad links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.db import db, utcnow
from app.models import Job, Letter, OutboxMessage, OutboxStatus, SignatureStatus, Token, TokenPurpose
from tests.factories import stored_signatures
from tests.support import csrf_token, sign, table_counts

pytestmark = pytest.mark.engines

SLUG = "test-letter"


def outbox(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def count_of(app: Flask, slug: str = SLUG) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Letter.signature_count).where(Letter.slug == slug)) or 0


def confirm_link(message: OutboxMessage) -> str:
    match = re.search(r"http://localhost(/confirm/[\w-]+)", message.body_text)
    assert match, message.body_text
    return match.group(1)


def confirm(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm my signature" in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token
    response = client.post(path, data={"csrf_token": token.group(1)})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_letter_page_shows_the_letter_count_and_form(client: FlaskClient, letter: Letter) -> None:
    for path in ("/", f"/letters/{SLUG}"):
        html = client.get(path).get_data(as_text=True)
        assert "An open letter for testing" in html
        assert "<strong>ask</strong>" in html
        assert "<script>alert" not in html
        assert 'data-count="0"' in html
        assert 'name="email"' in html and 'name="started"' in html
        assert 'name="csrf_token"' not in html  # the same page for everyone: see tests/test_public_pages.py
        assert "Published" in html


def test_sign_then_confirm_counts_once_and_lists_the_signer(app: Flask, client: FlaskClient, letter: Letter) -> None:
    response = sign(client, SLUG, name="  Ada Lovelace ", email=" Ada@Example.ORG ", affiliation="Analyst")
    assert response.status_code == 303
    inbox = client.get(response.headers["Location"])
    assert "Check your inbox" in inbox.get_data(as_text=True)

    [signature] = stored_signatures(app)
    assert signature.status == SignatureStatus.UNCONFIRMED
    assert signature.name == "Ada Lovelace"
    assert signature.email_key == "ada@example.org"
    assert count_of(app) == 0
    assert "Ada Lovelace" not in client.get(f"/letters/{SLUG}").get_data(as_text=True)

    [message] = outbox(app)
    assert message.recipient == "Ada@example.org"
    assert "Ada Lovelace" in message.body_text
    done = confirm(client, confirm_link(message))
    assert "your signature is confirmed" in done

    assert count_of(app) == 1
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert 'data-count="1"' in page
    assert "Ada Lovelace" in page and "Analyst" in page
    assert "ada@example.org" not in page.lower()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("محمد عبد الله", "محمد عبد الله"),
        ("김민지", "김민지"),
        ("Marie Curie 👩\u200d🔬", "Marie Curie 👩\u200d🔬"),
        ("Cafe\u0301 Owner", "Café Owner"),
        ("مریم\u200cزاده", "مریم\u200cزاده"),
        ("Dr. J. Smith", "Dr. J. Smith"),
        ("St. John", "St. John"),
        ("Ad\u200ba \u202eLovelace\u202c", "Ada Lovelace"),
    ],
)
def test_names_are_stored_and_listed_as_typed_without_invisible_tricks(
    app: Flask, client: FlaskClient, letter: Letter, typed: str, stored: str
) -> None:
    response = sign(client, SLUG, name=f" {typed} ", affiliation=f"{typed} A.I. Lab")
    assert response.status_code == 303
    [signature] = stored_signatures(app)
    assert signature.name == stored
    assert signature.affiliation == f"{stored} A.I. Lab"
    confirm(client, confirm_link(outbox(app)[0]))
    page = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert stored in page


def test_confirming_twice_is_harmless(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG)
    path = confirm_link(outbox(app)[0])
    confirm(client, path)
    again = client.get(path)
    assert again.status_code == 200
    assert "already confirmed" in again.get_data(as_text=True)
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    assert client.post(path, data={"csrf_token": token}).status_code == 200
    assert count_of(app) == 1


def test_the_confirmation_link_needs_a_post(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG)
    path = confirm_link(outbox(app)[0])
    client.get(path)  # what a mail scanner does
    client.get(path)
    assert count_of(app) == 0
    assert stored_signatures(app)[0].status == SignatureStatus.UNCONFIRMED


def test_the_same_address_signs_once_and_the_form_reveals_nothing(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    first = sign(client, SLUG, email="grace@example.org", name="Grace Hopper")
    again_unconfirmed = sign(client, SLUG, email="  GRACE@example.org ", name="Grace B. Hopper")
    assert (first.status_code, first.headers["Location"]) == (
        again_unconfirmed.status_code,
        again_unconfirmed.headers["Location"],
    )
    assert len(stored_signatures(app)) == 1
    # The latest details stand until confirmed, and a fresh link went to the owner.
    assert stored_signatures(app)[0].name == "Grace B. Hopper"
    messages = outbox(app)
    assert [m.kind for m in messages] == ["confirm", "confirm"]
    confirm(client, confirm_link(messages[-1]))

    after_confirmed = sign(client, SLUG, email="grace@EXAMPLE.org")
    assert (after_confirmed.status_code, after_confirmed.headers["Location"]) == (
        first.status_code,
        first.headers["Location"],
    )
    assert len(stored_signatures(app)) == 1
    assert count_of(app) == 1
    # The request costs what a new signature does: one row, a job the worker turns into the note.
    with app.app_context():
        assert db.session.scalars(sa.select(Job.kind)).all() == ["already_signed_request"]
    assert outbox(app)[-1].kind == "confirm"
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    note = outbox(app)[-1]
    assert note.kind == "already_signed"
    assert note.recipient.lower() == "grace@example.org"
    assert "/confirm/" not in note.body_text


def test_signing_again_makes_the_older_link_stop_confirming_and_the_newest_spends_them_all(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    """Each submission has its own link: an older one might confirm details its mail never showed."""
    sign(client, SLUG, city="Seoul")
    sign(client, SLUG, city="Paris")
    first, second = (confirm_link(m) for m in outbox(app))
    older = client.get(first)
    assert older.status_code == 410
    assert "A newer request was made with this address" in older.get_data(as_text=True)
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    assert client.post(first, data={"csrf_token": token}).status_code == 410
    assert count_of(app) == 0
    confirm(client, second)
    assert count_of(app) == 1
    assert stored_signatures(app)[0].city == "Paris"
    with app.app_context():
        unused = sa.select(sa.func.count()).select_from(Token).where(Token.used_at.is_(None))
        assert db.session.scalar(unused.where(Token.purpose == TokenPurpose.CONFIRM)) == 0
        # The withdrawal links stay valid: the signer may change their mind later.
        assert db.session.scalar(unused.where(Token.purpose == TokenPurpose.WITHDRAW)) == 2
    assert "already confirmed" in client.get(first).get_data(as_text=True)


def test_an_unknown_link_gives_a_clear_page(client: FlaskClient, letter: Letter) -> None:
    response = client.get("/confirm/not-a-real-token")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "This link cannot be used" in html
    assert f"/letters/{SLUG}/resend" in html
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    assert client.post("/confirm/not-a-real-token", data={"csrf_token": token}).status_code == 404


def test_an_expired_link_offers_a_new_one(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG)
    path = confirm_link(outbox(app)[0])
    with app.app_context():
        db.session.execute(sa.update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = client.get(path)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert f"/letters/{SLUG}/resend" in response.get_data(as_text=True)
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    assert client.post(path, data={"csrf_token": token}).status_code == 410
    assert count_of(app) == 0


def test_resend_gives_the_same_answer_whoever_asks(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG, email="pending@example.org")
    before = len(outbox(app))
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    known = client.post(f"/letters/{SLUG}/resend", data={"csrf_token": token, "email": "Pending@example.org"})
    unknown = client.post(f"/letters/{SLUG}/resend", data={"csrf_token": token, "email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    # The mail worker answers the requests: a new link for the pending signer, nothing else.
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    messages = [m for m in outbox(app) if m.status == OutboxStatus.SENT]
    assert len(messages) == before + 1
    assert messages[-1].recipient == "pending@example.org" and messages[-1].kind == "confirm"
    confirm(client, confirm_link(messages[-1]))
    assert count_of(app) == 1


def test_anonymous_signatures_count_but_are_not_listed(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG, name="Quiet Person", email="quiet@example.org", public=False)
    confirm(client, confirm_link(outbox(app)[0]))
    assert count_of(app) == 1
    assert "Quiet Person" not in client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert "Quiet Person" not in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"] == []


def test_a_closed_letter_shows_its_final_count_and_no_form(
    app: Flask, client: FlaskClient, closed_letter: Letter
) -> None:
    html = client.get("/letters/closed-letter").get_data(as_text=True)
    assert "Signing has closed" in html
    assert 'name="email"' not in html
    assert 'data-count="0"' in html


def test_closing_from_the_cli_refuses_confirmations_too(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG)
    path = confirm_link(outbox(app)[0])
    result = app.test_cli_runner().invoke(args=["letter", "close", SLUG])
    assert result.exit_code == 0, result.output
    token = csrf_token(client, f"/letters/{SLUG}/resend")  # the letter page has no form now
    response = client.post(path, data={"csrf_token": token})
    assert response.status_code == 409
    assert count_of(app) == 0
    assert table_counts(app)["signatures"] == 1
