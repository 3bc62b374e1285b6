"""Bad input gets a clear 4xx, stores nothing, and is never a 500; what is shown back is escaped."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import Letter
from tests.support import csrf_token, sign, table_counts

pytestmark = pytest.mark.engines

SLUG = "test-letter"
NOTHING = {"signatures": 0, "tokens": 0, "outbox_messages": 0, "jobs": 0}


def assert_refused(app: Flask, response: Any, status: int, message: str) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:500]
    assert message in html
    assert table_counts(app) == NOTHING
    return str(html)


# The forms that keep a session's CSRF token (all but the signing form, which is refused by
# where it comes from: tests/test_public_pages.py).
RESEND = f"/letters/{SLUG}/resend"


def test_missing_csrf_token_is_refused(app: Flask, client: FlaskClient, letter: Letter) -> None:
    response = client.post(RESEND, data={"email": "ada@example.org"})
    assert_refused(app, response, 400, "This form has expired or was not sent from this site")


def test_wrong_csrf_token_is_refused(app: Flask, client: FlaskClient, letter: Letter) -> None:
    csrf_token(client, RESEND)
    response = client.post(RESEND, data={"email": "ada@example.org", "csrf_token": "forged"})
    assert_refused(app, response, 400, "This form has expired")


def test_a_token_from_another_session_is_refused(app: Flask, client: FlaskClient, letter: Letter) -> None:
    other = app.test_client()
    stolen = csrf_token(other, RESEND)
    csrf_token(client, RESEND)
    response = client.post(RESEND, data={"email": "ada@example.org", "csrf_token": stolen})
    assert_refused(app, response, 400, "This form has expired")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Please enter your name."),
        ({"name": "   "}, "Please enter your name."),
        ({"email": ""}, "Please enter your email address."),
        ({"email": "not-an-address"}, "Please enter a valid email address"),
        ({"email": "ada@"}, "Please enter a valid email address"),
        ({"email": "a@b@example.org"}, "Please enter a valid email address"),
        ({"name": "Ada\nBcc: victim@example.org"}, "Please use one line"),
        ({"name": "Ada\x00Lovelace"}, "Please use one line"),
        ({"affiliation": "Lab\r\nX-Header: 1"}, "Please use one line"),
        ({"name": "x" * 121}, "Please use at most 120 characters."),
        ({"comment": "y" * 501}, "Please use at most 500 characters."),
        ({"name": "<script>alert(1)</script>"}, "HTML tags are not allowed"),
        ({"affiliation": '<img src=x onerror="alert(1)">'}, "HTML tags are not allowed"),
        ({"comment": "Nice <a href='javascript:alert(1)'>link</a>"}, "HTML tags are not allowed"),
        ({"city": "<b>Seoul</b>"}, "HTML tags are not allowed"),
        ({"country": "XX"}, "Not a valid choice"),
        ({"name": "http://spam.example/buy"}, "Please enter your name, not a web address."),
        ({"name": "www.example.com"}, "Please enter your name, not a web address."),
        ({"name": "example.com/path"}, "Please enter your name, not a web address."),
        ({"name": "\u200b\u2060\ufeff"}, "Please enter your name."),  # only invisible characters
        ({"name": "\u202e\u2066"}, "Please enter your name."),
    ],
)
def test_invalid_fields_are_explained_next_to_the_field(
    app: Flask, client: FlaskClient, letter: Letter, fields: dict[str, str], message: str
) -> None:
    html = assert_refused(app, sign(client, SLUG, **fields), 422, message)
    assert 'aria-invalid="true"' in html
    assert "Please check the form" in html


def test_the_form_keeps_what_was_typed_and_escapes_it(app: Flask, client: FlaskClient, letter: Letter) -> None:
    response = sign(client, SLUG, name='Ada "<Lovelace>', email="bad", affiliation="Analytical & Co", city="Seoul")
    html = assert_refused(app, response, 422, "Please enter a valid email address")
    assert 'value="Ada &#34;&lt;Lovelace&gt;"' in html
    assert 'value="Analytical &amp; Co"' in html
    assert 'value="Seoul"' in html
    assert 'value="bad"' in html
    assert "<Lovelace>" not in html


def test_a_100_kb_field_is_refused_with_413(app: Flask, client: FlaskClient, letter: Letter) -> None:
    response = sign(client, SLUG, comment="z" * 100_000)
    assert_refused(app, response, 413, "larger than this site accepts")


def test_signing_an_unknown_letter_is_404(app: Flask, client: FlaskClient, letter: Letter) -> None:
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    response = client.post(
        "/letters/no-such-letter/sign", data={"csrf_token": token, "name": "A", "email": "a@example.org"}
    )
    assert_refused(app, response, 404, "There is no letter at this address.")


def test_signing_a_closed_letter_is_refused(
    app: Flask, client: FlaskClient, letter: Letter, closed_letter: Letter
) -> None:
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    data = {"csrf_token": token, "name": "Late Signer", "email": "late@example.org"}
    response = client.post("/letters/closed-letter/sign", data=data)
    assert_refused(app, response, 409, "Signing has closed for this letter")


@pytest.mark.parametrize("path", ["/letters/test%00letter", "/letters/%E2%80%AEtest", "/letters/" + "a" * 300])
def test_odd_slugs_are_404_not_500(app: Flask, client: FlaskClient, letter: Letter, path: str) -> None:
    assert client.get(path).status_code == 404
    assert client.get("/api/v1" + path).status_code == 404


@pytest.mark.parametrize(
    "cursor", ["abc", "1-", "-1", "1-2-3", "9" * 30 + "-1", "1-99999999999999999999", "%00", "1-2\n", "١-١"]
)
def test_a_malformed_cursor_is_400(client: FlaskClient, letter: Letter, cursor: str) -> None:
    page = client.get(f"/letters/{SLUG}/signatures", query_string={"cursor": cursor})
    assert page.status_code == 400
    assert "cursor is not valid" in page.get_data(as_text=True)
    api = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"cursor": cursor})
    assert api.status_code == 400
    assert api.get_json()["error"] == "bad_cursor"


@pytest.mark.parametrize("query", ["%", "_", "\\", "'; DROP TABLE signatures; --", "\x00", "(.*)+$", "a" * 5000])
def test_odd_searches_are_answered(client: FlaskClient, letter: Letter, query: str) -> None:
    assert client.get(f"/letters/{SLUG}/signatures", query_string={"q": query}).status_code == 200
    assert client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"q": query}).status_code == 200


def test_wrong_methods_get_405_with_allow(client: FlaskClient, letter: Letter) -> None:
    response = client.get(f"/letters/{SLUG}/sign")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "does not accept that kind of request" in response.get_data(as_text=True)
    assert client.delete(f"/api/v1/letters/{SLUG}").status_code == 405


def test_unknown_pages_get_the_sites_404(client: FlaskClient) -> None:
    response = client.get("/nothing/here")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.get_data(as_text=True)
    assert client.get("/api/v1/nothing").get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    "part",
    [
        b"Content-Disposition: form-data\r\n\r\nno name",  # Flask-WTF's CSRF check failed on it (a 500)
        b'Content-Disposition: form-data; name="name"; filename="ada.txt"\r\n\r\nAda',  # a file for a text field
    ],
)
def test_multipart_parts_that_are_not_text_fields_are_ignored(
    app: Flask, client: FlaskClient, letter: Letter, part: bytes
) -> None:
    # The token in the header (as a script would send it) makes Flask-WTF look through every form key.
    headers = {"X-CSRFToken": csrf_token(client, f"/letters/{SLUG}/resend")}
    body = b"--xyz\r\n" + part + b"\r\n--xyz--\r\n"
    response = client.post(
        f"/letters/{SLUG}/sign", data=body, content_type="multipart/form-data; boundary=xyz", headers=headers
    )
    assert_refused(app, response, 422, "Please enter your name.")
