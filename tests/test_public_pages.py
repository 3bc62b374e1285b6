"""Public pages are the same for every visitor, so any HTTP cache may hold them; the signing form needs no session."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.db import db
from app.models import Letter, Signature
from tests.factories import add_confirmed, log_in
from tests.support import ManualClock, sign

SLUG = "test-letter"
# Every public page of a letter with signers (and its first signer's page).
PUBLIC_PAGES = (
    "/",
    "/letters",
    f"/letters/{SLUG}",
    f"/letters/{SLUG}/signatures",
    f"/letters/{SLUG}/signatures?q=signer",
    f"/letters/{SLUG}/newest",
    f"/letters/{SLUG}/log",
    f"/letters/{SLUG}/stats",
    f"/letters/{SLUG}/snapshots/",
    f"/letters/{SLUG}/versions",
    f"/letters/{SLUG}/versions/1",
    f"/letters/{SLUG}/embed",
    f"/letters/{SLUG}/badge.svg",
    f"/letters/{SLUG}/updates.atom",
    "/privacy",
)


@pytest.fixture
def signed(app: Flask, letter: Letter) -> int:
    """Three confirmed public signers; the id of the first."""
    add_confirmed(app, letter.id, 3)
    with app.app_context():
        first = db.session.scalar(sa.select(sa.func.min(Signature.id)))
    assert first is not None
    return int(first)


def pages(signature_id: int) -> list[str]:
    return [*PUBLIC_PAGES, f"/letters/{SLUG}/signatures/{signature_id}"]


@pytest.mark.settings(PUBLIC_MAX_AGE=7, PUBLIC_STALE_WHILE_REVALIDATE=11, PUBLIC_STALE_IF_ERROR=13)
def test_public_pages_set_no_cookie_and_may_be_cached_by_anyone(app: Flask, signed: int) -> None:
    for path in pages(signed):
        response = app.test_client().get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
        assert response.headers["Cache-Control"] == (
            "public, max-age=7, stale-while-revalidate=11, stale-if-error=13"
        ), path
        assert "Cookie" not in response.vary, path
        assert "Accept-Language" in response.vary, path  # no ?lang=: the language came from the header
        assert response.headers.get("ETag"), path


def test_a_page_in_the_address_s_language_does_not_vary_by_header(client: FlaskClient, signed: int) -> None:
    response = client.get(f"/letters/{SLUG}?lang=ko", headers={"Accept-Language": "en"})
    page = response.get_data(as_text=True)
    assert '<html lang="ko">' in page
    assert "Accept-Language" not in response.vary
    assert "Set-Cookie" not in response.headers
    # Every link to another page of the site goes on in Korean; no cookie remembers it.
    links = re.findall(r'href="(/letters/test-letter/(?:signatures|log|versions)[^"]*)"', page)
    assert links
    assert all("lang=ko" in link for link in links), links
    # Search engines learn each language's address, and the one that follows the browser.
    assert f'<link rel="alternate" hreflang="en" href="http://localhost/letters/{SLUG}?lang=en">' in page
    assert f'<link rel="alternate" hreflang="x-default" href="http://localhost/letters/{SLUG}">' in page
    assert '<html lang="en">' in client.get(f"/letters/{SLUG}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


@pytest.mark.settings(PAGE_CACHE_SECONDS=0)
def test_two_new_visitors_in_the_same_second_get_the_same_bytes(app: Flask, signed: int, clock: ManualClock) -> None:
    for path in pages(signed):
        first = app.test_client().get(path)
        second = app.test_client().get(path)
        assert first.get_data() == second.get_data(), path
        assert first.headers["ETag"] == second.headers["ETag"], path


def test_a_repeat_visit_is_answered_not_modified(client: FlaskClient, signed: int) -> None:
    first = client.get(f"/letters/{SLUG}")
    again = client.get(f"/letters/{SLUG}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"].startswith("public, max-age=")


def test_a_signed_in_moderator_gets_the_same_public_page(
    app: Flask, signed: int, create_moderator: object, clock: ManualClock
) -> None:
    moderator = app.test_client()
    create_moderator()  # type: ignore[operator]
    log_in(moderator)
    seen = moderator.get(f"/letters/{SLUG}")
    assert "Set-Cookie" not in seen.headers
    assert "Cookie" not in seen.vary
    assert seen.get_data() == app.test_client().get(f"/letters/{SLUG}").get_data()


def count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) or 0)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
    ],
)
def test_a_form_sent_from_another_site_is_refused(
    app: Flask, client: FlaskClient, letter: Letter, headers: dict[str, str]
) -> None:
    response = client.post(
        f"/letters/{SLUG}/sign", data={"name": "Ada Lovelace", "email": "ada@example.org"}, headers=headers
    )
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "This form was sent from another website" in page
    assert f'href="/letters/{SLUG}#sign">Open the letter</a>' in page
    assert count(app) == 0


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {"Origin": "http://localhost"}, {}],
)
def test_a_form_sent_from_this_site_needs_no_session(
    app: Flask, client: FlaskClient, letter: Letter, headers: dict[str, str]
) -> None:
    response = client.post(
        f"/letters/{SLUG}/sign",
        data={"name": "Ada Lovelace", "email": "ada@example.org", "public": "y"},
        headers=headers,
    )
    assert response.status_code == 303
    assert count(app) == 1


def test_the_letter_page_form_has_no_token(client: FlaskClient, letter: Letter) -> None:
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert 'name="csrf_token"' not in page
    assert 'name="started"' in page
    assert sign(client, SLUG).status_code == 303
