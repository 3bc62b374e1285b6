"""Error pages: every status in the site's layout or as JSON under /api/, and never a leak."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, abort, request
from flask.testing import FlaskClient
from werkzeug.exceptions import Forbidden, TooManyRequests

from app.models import Letter
from tests.support import csrf_token, sign, table_counts

SECRET_DETAIL = "secret-detail-xyz"


def _bad_request() -> str:
    return request.args["missing"]  # a KeyError on args is werkzeug's 400


def _forbidden() -> str:
    raise Forbidden(description=SECRET_DETAIL)


def _too_large() -> str:
    return str(len(request.form))


def _too_many() -> str:
    raise TooManyRequests(description=SECRET_DETAIL, retry_after=120)


def _too_many_until() -> str:
    raise TooManyRequests(retry_after=datetime.now(UTC) + timedelta(hours=2))


def _too_many_no_hint() -> str:
    raise TooManyRequests()


def _crash() -> str:
    raise RuntimeError(SECRET_DETAIL)


def _abort_500() -> str:
    abort(500, description=SECRET_DETAIL)


THROWAWAY_ROUTES: dict[str, tuple[Any, list[str]]] = {
    "bad-request": (_bad_request, ["GET"]),
    "forbidden": (_forbidden, ["GET"]),
    "too-large": (_too_large, ["POST"]),
    "too-many": (_too_many, ["GET"]),
    "too-many-until": (_too_many_until, ["GET"]),
    "too-many-no-hint": (_too_many_no_hint, ["GET"]),
    "crash": (_crash, ["GET"]),
    "abort-500": (_abort_500, ["GET"]),
}


@pytest.fixture
def app(app: Flask) -> Flask:
    """The app with routes that fail on purpose, for pages and for the API (before any request)."""
    for prefix in ("/_test", "/api/_test"):
        for name, (view, methods) in THROWAWAY_ROUTES.items():
            app.add_url_rule(f"{prefix}/{name}", f"{prefix}-{name}", view, methods=methods)
    return app


# status -> (method, path under the page or API prefix, words the person reads)
CASES = {
    400: ("GET", "bad-request", "could not be understood"),
    403: ("GET", "forbidden", "not allowed to see this page"),
    404: ("GET", "no-such-thing", "There is nothing at this address."),
    405: ("POST", "crash", "does not accept that kind of request"),
    413: ("POST", "too-large", "larger than this site accepts"),
    429: ("GET", "too-many", "try again in 2 minutes"),
    500: ("GET", "crash", "Something went wrong on our side"),
}


def _request(client: FlaskClient, method: str, path: str) -> Any:
    if method == "POST":
        # The body is over MAX_CONTENT_LENGTH only for "too-large"; elsewhere it is never read.
        return client.post(path, data={"blob": "z" * 100_000})
    return client.get(path)


def assert_leaks_nothing(app: Flask, body: str) -> None:
    assert SECRET_DETAIL not in body
    assert "Traceback" not in body and "RuntimeError" not in body
    assert app.config["SECRET_KEY"] not in body
    assert app.config["DATABASE_URL"] not in body


@pytest.mark.parametrize("status", sorted(CASES))
def test_error_pages_use_the_layout_and_leak_nothing(app: Flask, client: FlaskClient, status: int) -> None:
    method, name, words = CASES[status]
    response = _request(client, method, f"/_test/{name}")
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:300]
    assert response.mimetype == "text/html"
    assert '<header class="site-header">' in body and '<footer class="site-footer">' in body
    assert '<div class="panel">\n  <h1>' in body
    assert words in body
    assert_leaks_nothing(app, body)
    assert response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("status", sorted(CASES))
def test_api_errors_are_json_and_leak_nothing(app: Flask, client: FlaskClient, status: int) -> None:
    method, name, words = CASES[status]
    response = _request(client, method, f"/api/_test/{name}")
    assert response.status_code == status
    assert response.mimetype == "application/json"
    payload = response.get_json()
    assert set(payload) == {"error", "message"}
    assert payload["error"] and words in payload["message"]
    assert_leaks_nothing(app, response.get_data(as_text=True))


def test_429_says_when_to_try_again_in_the_header_and_in_words(client: FlaskClient) -> None:
    for path in ("/_test/too-many", "/api/_test/too-many"):
        response = client.get(path)
        assert response.headers["Retry-After"] == "120"
        assert "Please try again in 2 minutes." in response.get_data(as_text=True)

    until = client.get("/_test/too-many-until")
    assert until.headers["Retry-After"].endswith(" GMT")  # an HTTP date, as the exception gave it
    assert "Please try again in 2 hours." in until.get_data(as_text=True)

    no_hint = client.get("/api/_test/too-many-no-hint")
    assert "Retry-After" not in no_hint.headers
    assert "Please wait a while and try again." in no_hint.get_json()["message"]


def test_405_keeps_its_allow_header(client: FlaskClient) -> None:
    for path in ("/_test/crash", "/api/_test/crash"):
        response = client.post(path)
        assert response.status_code == 405
        assert "GET" in response.headers["Allow"]


def test_an_aborted_500_does_not_show_its_description(app: Flask, client: FlaskClient) -> None:
    for path in ("/_test/abort-500", "/api/_test/abort-500"):
        response = client.get(path)
        assert response.status_code == 500
        assert_leaks_nothing(app, response.get_data(as_text=True))
        assert "Something went wrong on our side" in response.get_data(as_text=True)


def test_an_unexpected_error_is_logged_for_the_operator_not_shown(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.web"):
        response = client.get("/_test/crash")
    assert response.status_code == 500
    assert SECRET_DETAIL not in response.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.name == "app.web"]
    assert record.getMessage() == "unhandled error on GET /_test/crash"
    assert record.exc_info is not None and SECRET_DETAIL in str(record.exc_info[1])


def test_a_too_large_signature_is_413_and_stores_nothing(app: Flask, client: FlaskClient, letter: Letter) -> None:
    token = csrf_token(client, f"/letters/{letter.slug}/resend")
    response = sign(client, letter.slug, token=token, comment="z" * (app.config["MAX_CONTENT_LENGTH"] + 1))
    assert response.status_code == 413
    assert "larger than this site accepts" in response.get_data(as_text=True)
    assert table_counts(app) == {"signatures": 0, "tokens": 0, "outbox_messages": 0, "jobs": 0}
    # Just under the limit the same form is read (and refused for its length, not its size).
    response = sign(client, letter.slug, token=token, comment="z" * 501)
    assert response.status_code == 422
