"""No secret, password, cookie or token ever reaches a log line or a page."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient

from app.db import db, make_engine
from app.models import Letter, Token
from tests.support import SMTPSink, csrf_token, link_in, path_of, sign, smtp_settings

SECRET_KEY = "SECRET-KEY-recognisable-" + "q" * 24
MAIL_USER = "letters-mailer"
MAIL_PASSWORD = "MAIL-PASSWORD-recognisable-7c1e"
# aiosmtpd's own logger belongs to the test's SMTP server, not to the application.
TEST_SERVER_LOGGERS = ("mail.log",)


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    """The test SMTP server, asking for the application's login."""
    sink = SMTPSink(login=(MAIL_USER, MAIL_PASSWORD))
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Debug mode (for the mailbox), a recognisable key, and SMTP with a login."""
    return {
        **smtp_settings(smtp_sink),
        "DEBUG": True,
        "SECRET_KEY": SECRET_KEY,
        "MAIL_USERNAME": MAIL_USER,
        "MAIL_PASSWORD": MAIL_PASSWORD,
    }


@pytest.fixture
def app(app: Flask) -> Flask:
    """The app, made to fail on request (a throwaway hook), to exercise the crash path."""

    def crash_when_asked() -> None:
        if request.headers.get("X-Test-Crash"):
            raise RuntimeError("the test asked for a crash")

    app.before_request(crash_when_asked)
    return app


def test_nothing_secret_is_logged_or_rendered(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink, caplog: pytest.LogCaptureFixture
) -> None:
    bodies: list[str] = []
    cookies: set[str] = set()

    def visit(path: str, method: str = "GET", **kwargs: Any) -> Any:
        response = client.open(path, method=method, **kwargs)
        bodies.append(response.get_data(as_text=True))
        for header in response.headers.getlist("Set-Cookie"):
            cookies.update(morsel.value for morsel in SimpleCookie(header).values() if morsel.value)
        return response

    caplog.set_level(logging.DEBUG)  # the root logger: everything any library logs
    slug = letter.slug

    # Signing (the form, the POST, the answer) and the worker over SMTP with a login.
    token = csrf_token(client, f"/letters/{slug}/resend")
    session_cookie = client.get_cookie("session")
    assert session_cookie is not None
    cookies.add(session_cookie.value)
    visit(f"/letters/{slug}")
    form = {"name": "Ada", "email": "ada@example.org", "csrf_token": token}
    response = visit(f"/letters/{slug}/sign", "POST", data=form)
    assert response.status_code == 303
    visit(response.headers["Location"])
    result = app.test_cli_runner().invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output
    bodies.append(result.output)
    assert smtp_sink.logins == [MAIL_USER]  # the password was really used
    [message] = smtp_sink.messages_to("ada@example.org")
    confirm_path = path_of(link_in(message))
    raw_tokens = {confirm_path.rsplit("/", 1)[1]}

    # An unexpected error on the confirmation route, whose path holds the token.
    crash = visit(confirm_path, "POST", data={"csrf_token": token}, headers={"X-Test-Crash": "1"})
    assert crash.status_code == 500

    # Confirming.
    visit(confirm_path)
    assert visit(confirm_path, "POST", data={"csrf_token": csrf_token(client, confirm_path)}).status_code == 200
    visit(f"/letters/{slug}/signatures")
    visit(f"/api/v1/letters/{slug}")

    # The same app without a mail server writes files, and the debug mailbox shows them.
    app.config["MAIL_SERVER"] = None
    assert sign(client, slug, email="grace@example.org").status_code == 303
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    mailbox = visit("/_dev/mail").get_data(as_text=True)
    mail_page = visit(re.findall(r'href="(/_dev/mail/[^"]+)"', mailbox)[0]).get_data(as_text=True)
    raw_tokens.update(re.findall(r"/confirm/([\w-]+)", mail_page))

    with app.app_context():
        token_hashes = set(db.session.scalars(sa.select(Token.token_hash)))
    # Two signatures, each with a confirmation link and a withdrawal link.
    assert len(token_hashes) == 4 and len(raw_tokens) == 2 and cookies

    logged = "\n".join(
        record.getMessage() + "\n" + caplog.handler.formatter.formatException(record.exc_info)
        if record.exc_info
        else record.getMessage()
        for record in caplog.records
        if not record.name.startswith(TEST_SERVER_LOGGERS)
    )
    assert "unhandled error on POST /confirm/<token:token>" in logged  # the crash was logged, by its route
    never_anywhere = {"SECRET_KEY": SECRET_KEY, "MAIL_PASSWORD": MAIL_PASSWORD}
    never_anywhere |= {f"session cookie {value[:12]}": value for value in cookies}
    never_anywhere |= {f"token hash {value[:12]}": value for value in token_hashes}
    for what, value in never_anywhere.items():
        assert value not in logged, f"{what} in the log"
        for body in bodies:
            assert value not in body, f"{what} in a page"
    for value in raw_tokens:  # the link is the mail's (and the debug mailbox's), never the log's
        assert value not in logged, "a confirmation token in the log"


def test_database_errors_do_not_carry_the_values_bound_to_them(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with pytest.raises(sa.exc.DBAPIError) as failure, engine.connect() as connection:
            connection.execute(sa.text("SELECT * FROM no_such_table WHERE x = :x"), {"x": "ada@example.org"})
    finally:
        engine.dispose()
    assert "no_such_table" in str(failure.value)  # the statement is there for the operator
    assert "ada@example.org" not in str(failure.value)
