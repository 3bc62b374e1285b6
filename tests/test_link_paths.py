"""Links from emails: a path that Werkzeug would tidy up gets the page of a bad link, never a redirect.

A link can reach the site mangled: cut, with ``%2F`` (which arrives as ``/``), ``//`` or a trailing
slash. Werkzeug would answer some of these with a 308 to a tidied address, which for a token route
is the address of another token. Each token route must answer them as it answers any bad token,
and each route with an id in its path with its 404 page, on GET and POST alike.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.db import db, utcnow
from app.models import Letter, Signature, SignatureStatus
from app.services import letters
from tests.factories import LETTER_TEXT, add_confirmed
from tests.support import csrf_token, mail_links, sign

pytestmark = pytest.mark.engines

SLUG = "test-letter"
TOKEN_ROUTES = ["confirm", "withdraw", "unsubscribe"]
# What follows "/<route>/" in each mangled path (the test client decodes %2F to "/", as WSGI servers do).
MANGLED_TOKENS = ["%2F0", "/0", "a//b", "a%2F%2Fb", "abc/", "abc%2F", "/", ""]
_CSRF_VALUE = re.compile(r'(name="csrf_token"(?: type="hidden")? value=")[^"]*')
_LANGUAGE_LINK = re.compile(r'href="[^"]*\?lang=')


def _page(response: TestResponse) -> str:
    """A page without what differs from request to request: its CSRF token, its own address in the language links."""
    page = _CSRF_VALUE.sub(r"\1", response.get_data(as_text=True))
    return _LANGUAGE_LINK.sub('href="?lang=', page)


def _open(client: FlaskClient, method: str, path: str, csrf: str) -> TestResponse:
    return client.open(path, method=method, data={"csrf_token": csrf} if method == "POST" else None)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", TOKEN_ROUTES)
def test_a_mangled_token_path_gets_the_bad_link_page_not_a_redirect(
    app: Flask, client: FlaskClient, letter: Letter, route: str, method: str
) -> None:
    csrf = csrf_token(client, f"/letters/{SLUG}/resend")
    bad = _open(client, method, f"/{route}/not-a-token", csrf)
    assert bad.status_code == 404
    assert "This link cannot be used" in _page(bad)
    for mangled in MANGLED_TOKENS:
        response = _open(client, method, f"/{route}/{mangled}", csrf)
        assert response.status_code == 404, (mangled, response.headers.get("Location"))
        assert "Location" not in response.headers, mangled
        assert _page(response) == _page(bad), mangled


@pytest.mark.parametrize("suffix", ["/", "%2F", "//"])
def test_a_real_link_with_a_slash_added_confirms_and_withdraws_nothing(
    app: Flask, client: FlaskClient, letter: Letter, suffix: str
) -> None:
    sign(client, SLUG, email="ada@example.org")
    confirm, withdraw = (link.partition("?")[0] for link in mail_links(app, "ada@example.org"))
    csrf = csrf_token(client, f"/letters/{SLUG}/resend")
    for path in (confirm + suffix, confirm.replace("/confirm/", "/confirm/" + suffix, 1)):
        for method in ("GET", "POST"):
            response = _open(client, method, path, csrf)
            assert response.status_code == 404 and "Location" not in response.headers, (path, method)
    with app.app_context():
        assert db.session.scalar(sa.select(Signature.status)) == SignatureStatus.UNCONFIRMED
    # The link itself still works: nothing above used it up.
    assert client.post(confirm, data={"csrf_token": csrf}).status_code == 200
    assert client.post(withdraw + suffix, data={"csrf_token": csrf}).status_code == 404
    assert (
        client.post(withdraw.replace("/withdraw/", "/withdraw/" + suffix, 1), data={"csrf_token": csrf}).status_code
        == 404
    )
    with app.app_context():
        assert db.session.scalar(sa.select(Signature.status)) == SignatureStatus.CONFIRMED


@pytest.mark.parametrize(
    "template",
    [
        "/letters/{slug}/signatures/{id}/report",
        "/letters/{slug}/signatures/{id}/dispute",
        "/letters/{slug}/signatures/{id}",
        "/letters/{slug}/versions/{version}",
        "/letters/{slug}/versions/{version}/diff",
    ],
)
def test_a_mangled_path_with_an_id_gets_the_404_page_not_a_redirect(
    app: Flask, client: FlaskClient, letter: Letter, template: str
) -> None:
    add_confirmed(app, letter.id, 1)
    with app.app_context(), db.transaction() as session:
        signature_id = session.scalar(sa.select(Signature.id))
        # A second version, so that there is a difference to show.
        letters.load_letter(session, letters.parse_letter_file(LETTER_TEXT + "\nA new line.\n"), now=utcnow())
    path = template.format(slug=SLUG, id=signature_id, version=2)
    assert client.get(path).status_code == 200  # the address as the site makes it
    csrf = csrf_token(client, f"/letters/{SLUG}/resend")
    head, tail = path.rsplit("/", 1)
    mangled = [
        path + "/",
        path + "%2F",
        path.replace(f"/{SLUG}/", f"/{SLUG}//", 1),
        path.replace(f"/{SLUG}/", f"/{SLUG}/%2F", 1),
        f"{head}//{tail}",
        f"{head}/%2F{tail}",
        path.replace("/letters/", "/letters//", 1),
    ]
    methods = ["GET", "POST"] if template.endswith(("/report", "/dispute")) else ["GET"]
    for method in methods:
        for candidate in mangled:
            response = _open(client, method, candidate, csrf)
            assert response.status_code == 404, (method, candidate, response.headers.get("Location"))
            assert "Location" not in response.headers, candidate
            assert "Page not found" in _page(response), candidate
