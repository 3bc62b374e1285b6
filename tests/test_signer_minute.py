"""The signer's minute: where the link went, a too-fast form that asks, no dead end after confirming."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import Letter
from app.text import mask_address
from tests.support import sign

SLUG = "test-letter"


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("kim.minji@example.org", "ki***@example.org"),
        ("ada@example.org", "a***@example.org"),
        ("a@example.org", "a***@example.org"),
        ("ab@xn--bcher-kva.example", "a***@xn--bcher-kva.example"),
    ],
)
def test_an_address_is_masked_to_its_first_letters_and_domain(address: str, shown: str) -> None:
    assert mask_address(address) == shown


def inbox_page(client: FlaskClient, response: object) -> str:
    assert getattr(response, "status_code", None) == 303
    page = client.get(f"/letters/{SLUG}/signed").get_data(as_text=True)
    assert "Check your inbox" in page
    return page


def test_check_your_inbox_shows_where_the_link_went_masked(client: FlaskClient, letter: Letter) -> None:
    page = inbox_page(client, sign(client, SLUG, email="kim.minji@example.org"))
    assert '<strong class="sent-to">ki***@example.org</strong>' in page
    assert "kim.minji" not in page
    assert f'href="/letters/{SLUG}#sign">Sign again with the right one</a>' in page
    assert f'href="/letters/{SLUG}/resend">Send me a new link</a>' in page


def test_the_page_is_the_same_whether_or_not_the_address_signed_before(app: Flask, letter: Letter) -> None:
    first, second = app.test_client(), app.test_client()
    inbox_page(first, sign(first, SLUG, email="kim.minji@example.org"))
    again = inbox_page(second, sign(second, SLUG, email="kim.minji@example.org"))
    fresh = inbox_page(second, sign(second, SLUG, email="kim.minho@example.org"))

    def shown(page: str) -> str:
        return re.sub(r'name="csrf_token"[^>]*>', "", page)

    assert shown(again).replace("ki***@example.org", "") == shown(fresh).replace("ki***@example.org", "")
    assert "ki***@example.org" in again


def test_a_new_link_asked_for_also_says_where_it_goes(client: FlaskClient, letter: Letter) -> None:
    from tests.support import csrf_token

    token = csrf_token(client, f"/letters/{SLUG}/resend")
    response = client.post(f"/letters/{SLUG}/resend", data={"email": "grace@example.org", "csrf_token": token})
    assert '<strong class="sent-to">gr***@example.org</strong>' in inbox_page(client, response)


def test_the_address_is_shown_only_on_the_letter_it_was_sent_for(
    client: FlaskClient, letter: Letter, create_letter: object
) -> None:
    create_letter(slug="other-letter")  # type: ignore[operator]
    inbox_page(client, sign(client, SLUG, email="kim.minji@example.org"))
    other = client.get("/letters/other-letter/signed").get_data(as_text=True)
    assert "ki***" not in other
    assert "We have sent an email to the address you gave." in other
