"""Helpers for tests: a real SMTP server, form posting, and skip-or-fail for missing services."""

from __future__ import annotations

import html
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import orm

from app.clock import Clock
from app.db import db, utcnow
from app.models import Job, Letter, OutboxMessage, Signature, Token
from app.services import counting
from app.services.counting import Recount
from benchmarks.servers import RedisServer, ServerMissing

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


T = TypeVar("T")

__all__ = ["RedisServer"]


def require(condition: bool, reason: str) -> None:
    """Skip when a service or browser is missing on a laptop; in CI (CI=true) that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class ManualClock(Clock):
    """A clock that stands still until a test moves it on: no test waits for time to pass."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        """The clock's time, in seconds since the epoch."""
        return self.now

    def monotonic(self) -> float:
        """The same time: it only ever moves forward."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds``."""
        assert seconds >= 0, "a clock does not go back"
        self.now += seconds


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    # The bytes as they arrived (what a spam filter reads).
    raw: bytes = b""


class _Handler:
    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.sink.lock:
            self.sink.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, content))
        return "250 Message accepted for delivery"


class SMTPSink:
    """aiosmtpd on a free loopback port; ``received`` holds what arrived, ``refuse`` 5xx-es addresses.

    With ``login=(user, password)`` it offers AUTH (without TLS, on loopback only) and accepts
    only that pair; ``logins`` records each successful login's user name.
    """

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.login = login
        self.logins: list[str] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    def _authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if self.login is None or not isinstance(data, LoginPassword):
            return AuthResult(success=False)
        user, password = data.login.decode(), data.password.decode()
        if (user, password) != self.login:
            return AuthResult(success=False)
        with self.lock:
            self.logins.append(user)
        return AuthResult(success=True)

    def start(self) -> None:
        """Start listening (again, after stop(), on the same port)."""
        if self.controller is None:
            auth: dict[str, Any] = {}
            if self.login is not None:
                auth = {"authenticator": self._authenticate, "auth_require_tls": False}
            self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **auth)
            self.controller.start()

    def stop(self) -> None:
        """Stop listening (the port refuses connections afterwards)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages_to(self, address: str) -> list[EmailMessage]:
        """Messages delivered to ``address``, oldest first."""
        with self.lock:
            return [r.message for r in self.received if address in r.rcpt_tos]


def smtp_settings(sink: SMTPSink) -> dict[str, Any]:
    """App settings that deliver to ``sink``."""
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": sink.port, "MAIL_DEFAULT_SENDER": "Letters <letters@example.org>"}


_CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token from the form on ``path`` (the session cookie stays in the client)."""
    response = client.get(path)
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def confirmation_fields(page: str) -> list[tuple[str, str]]:
    """The hidden fields of a moderator's confirmation page (what pressing its button sends), in order."""
    form = page[page.index('class="panel confirm-form"') :]
    form = form[: form.index("</form>")]
    return [(name, html.unescape(value)) for name, value in _HIDDEN.findall(form)]


def copy_cookies(source: FlaskClient, target: FlaskClient) -> None:
    """Put every cookie of ``source``'s jar into ``target``'s, as someone who copied them would."""
    for cookie in (source._cookies or {}).values():
        target.set_cookie(cookie.decoded_key, cookie.decoded_value, domain=cookie.domain, path=cookie.path)


def sign(client: FlaskClient, slug: str, *, token: str | None = None, **fields: Any) -> Any:
    """Post the signing form as a browser would (public ticked unless ``public=False``)."""
    data: dict[str, Any] = {"name": "Ada Lovelace", "email": "ada@example.org", "public": "y"}
    data.update(fields)
    if data.get("public") is False:
        del data["public"]
    if token is not None:
        data["csrf_token"] = token  # the form has none; a stale one from an old page is ignored
    return client.post(f"/letters/{slug}/sign", data=data)


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, pattern: str = r"https?://\S+/confirm/\S+") -> str:
    """The first link in the text of ``message`` that matches ``pattern``."""
    match = re.search(pattern, text_of(message))
    assert match, text_of(message)
    return match.group(0)


def path_of(url: str) -> str:
    """The path of an absolute URL (the test client serves paths)."""
    return re.sub(r"^https?://[^/]+", "", url)


def table_counts(app: Flask) -> dict[str, int]:
    """How many signatures, tokens, outbox messages and jobs are stored."""
    with app.app_context():
        session = db.session
        return {
            model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (Signature, Token, OutboxMessage, Job)
        }


# Stored rows, read or changed around the test's requests and commands (one app context each, so
# a test body needs none). What they return is detached: its columns are loaded, its relationships
# are not (read those with ``read``).


def read(app: Flask, query: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``query(session, *args, **kwargs)`` in a session of the app's own: what a read model or service answers."""
    with app.app_context():
        return query(db.session, *args, **kwargs)


def write(app: Flask, change: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``change(session, *args, **kwargs)`` in a transaction of its own, committed (for the app to see)."""
    with app.app_context(), db.transaction() as session:
        return change(session, *args, **kwargs)


def _select(what: tuple[Any, ...], where: Any, order_by: Any, filters: dict[str, Any]) -> sa.Select[Any]:
    if len(what) == 1 and isinstance(what[0], sa.Select):
        return what[0]
    statement = sa.select(*what).filter_by(**filters)
    if where is not None:
        statement = statement.where(where)
    if order_by is None:
        order_by = sa.inspect(statement.column_descriptions[0]["entity"]).primary_key
    return statement.order_by(*(order_by if isinstance(order_by, list | tuple) else [order_by]))


def rows(app: Flask, *what: Any, where: Any = None, order_by: Any = None, **filters: Any) -> list[Any]:
    """The stored rows of a model, or the values of a column (tuples, for several), in key order.

    ``filters`` are equalities (``email="a@example.org"``), ``where`` any other condition,
    ``order_by`` another order; a ready ``select()`` is run as it is.
    """
    statement = _select(what, where, order_by, filters)
    single = len(statement.column_descriptions) == 1

    def fetch(session: orm.Session) -> list[Any]:
        result = session.execute(statement)
        return list(result.scalars()) if single else [tuple(row) for row in result]

    return read(app, fetch)


def one(app: Flask, *what: Any, where: Any = None, **filters: Any) -> Any:
    """The one stored row (or value) that ``rows`` finds; none, or more than one, fails the test."""
    found = rows(app, *what, where=where, **filters)
    assert len(found) == 1, f"{len(found)} rows: {found!r}"
    return found[0]


def count(app: Flask, model: Any, where: Any = None, **filters: Any) -> int:
    """How many rows of ``model`` are stored (those matching ``filters`` and ``where``)."""
    statement = sa.select(sa.func.count()).select_from(model).filter_by(**filters)
    if where is not None:
        statement = statement.where(where)
    return read(app, lambda session: session.scalar(statement) or 0)


def execute(app: Flask, *statements: Any, **params: Any) -> None:
    """Run statements in one committed transaction, around the app, as someone with the database would.

    A statement is a construct (``sa.update(...)``) or SQL text, whose ``:names`` take ``params``.
    """

    def run(session: orm.Session) -> None:
        for statement in statements:
            if isinstance(statement, str):
                session.execute(sa.text(statement), params)
            else:
                session.execute(statement)

    write(app, run)


def recount(app: Flask, letter_id: int, *, fix: bool = False) -> Recount:
    """The letter's recount, as ``flask letter recount`` makes it (``fix`` stores it), in a transaction of its own."""

    def run(session: orm.Session) -> Recount:
        letter = session.get(Letter, letter_id)
        assert letter is not None, letter_id
        return counting.recount(session, letter, now=utcnow(), fix=fix)

    return write(app, run)


def age(app: Flask, model: Any, days: float, **filters: Any) -> None:
    """Make the rows of ``model`` that match ``filters`` look ``days`` old (their ``created_at``)."""
    execute(app, sa.update(model).filter_by(**filters).values(created_at=utcnow() - timedelta(days=days)))


def redis_url() -> str:
    """TEST_REDIS_URL, or skip (fail in CI) when it is not set or Redis does not answer."""
    url = os.environ.get("TEST_REDIS_URL", "")
    require(bool(url), "TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require(False, f"Redis at TEST_REDIS_URL does not answer: {exc}")
    return url


def own_server(make: Callable[[], T]) -> T:
    """A server of the test's own (benchmarks.servers), or a skip (a failure in CI) when its programs are missing."""
    try:
        return make()
    except ServerMissing as error:
        require(False, str(error))
        raise  # not reached: require raised


def ratelimit_settings(storage: str) -> dict[str, Any]:
    """Rate limits kept in memory, or in Redis under keys of this test's own."""
    if storage == "memory":
        return {"RATELIMIT_STORAGE_URI": "memory://"}
    import uuid

    return {
        "RATELIMIT_STORAGE_URI": redis_url(),
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": f"undersigned-test-{uuid.uuid4().hex}"},
    }


def marked_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings a test asks for with ``@pytest.mark.settings(NAME=value)``."""
    marker = request.node.get_closest_marker("settings")
    return dict(marker.kwargs) if marker else {}


# A recorded statement and its parameters; BEGIN where a transaction starts (with ``begins``).
Statement = tuple[str, Any]
BEGIN: Statement = ("<begin>", None)


@contextmanager
def recorded_sql(app: Flask, *, begins: bool = False) -> Iterator[list[Statement]]:
    """Every SQL statement sent to the app's database meanwhile, with its parameters, as sent.

    With ``begins``, ``BEGIN`` is recorded where each transaction starts (SQLite's own explicit
    BEGIN also shows up as a statement).
    """
    seen: list[Statement] = []

    def record(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        seen.append((statement, parameters))

    def begin(conn: object) -> None:
        seen.append(BEGIN)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    if begins:
        sa.event.listen(engine, "begin", begin)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
        if begins:
            sa.event.remove(engine, "begin", begin)


def query_plan(app: Flask, statement: Statement) -> str:
    """The database's plan for a recorded statement, as text (to check which index it uses)."""
    text, parameters = statement
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if db.engine.dialect.name == "postgresql":
                cursor.execute("SET enable_seqscan = off")  # a test's table is tiny: it would be scanned
                cursor.execute("EXPLAIN " + text, parameters)
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + text, parameters)
            return str(cursor.fetchall())
        finally:
            raw.close()


def deliver_mail(app: Flask) -> str:
    """Run ``flask mail send`` once, as the operator's cron or worker would; its report."""
    result = app.test_cli_runner().invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def press(client: FlaskClient, path: str, button: str) -> Any:
    """Open the page at ``path``, check it offers ``button``, and press it (POST with its CSRF token)."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert button in page.get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_token(client, path)})


def mail_links(app: Flask, address: str) -> tuple[str, str]:
    """The confirmation and withdrawal paths in the first message queued for ``address``."""
    with app.app_context():
        body = db.session.scalars(
            sa.select(OutboxMessage.body_text).where(OutboxMessage.recipient == address).order_by(OutboxMessage.id)
        ).first()
    assert body, address
    confirm = re.search(r"https?://[^/\s]+(/confirm/\S+)", body)
    withdraw = re.search(r"https?://[^/\s]+(/withdraw/\S+)", body)
    assert confirm and withdraw, body
    return confirm.group(1), withdraw.group(1)


def project_folder(where: Path) -> Path:
    """A project folder of its own for processes run as an operator runs them (``python -m flask --app app``).

    The code is linked, not copied; the instance folder (Flask finds it beside the ``app`` package as
    imported, so here) and the current directory are new and empty: no instance/.env and no ./.env
    of the checkout's reach these processes.
    """
    folder = where / "project"
    folder.mkdir()
    for name in ("app", "migrations", "demo", "gunicorn.conf.py"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def operator_env(home: Path, **settings: str) -> dict[str, str]:
    """An environment with nothing of the test run's in it (no FLASK_DEBUG, no keys): ``settings`` only."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **settings,
    }
