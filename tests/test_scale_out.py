"""Two app servers and two mail workers, separate processes, on one PostgreSQL and one Redis.

What one server does, the other sees: a signature made on one is confirmed on the other, the
rate limit counts requests to both, every confirmation mail goes out exactly once, and the
count is exact after concurrent confirmations on both.
"""

from __future__ import annotations

import base64
import http.cookiejar
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.db import db
from app.models import Letter, OutboxMessage, OutboxStatus, Signature, SignatureStatus
from tests import factories
from tests.conftest import _truncate
from tests.support import SMTPSink, free_port, link_in, one, path_of, recount, redis_url, rows, write

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parent.parent
SLUG = "test-letter"
SIGNERS = 8
LIMIT = 6  # signing POSTs per network per minute, over both servers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A cookie-keeping client for one server, which reads CSRF tokens like a person's browser."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post(self, path: str, form_path: str, fields: dict[str, str]) -> int:
        _, page = self.get(form_path)
        # The signing form has no token (its page is the same for everyone); the others do.
        match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
        token = {"csrf_token": match.group(1)} if match else {}
        assert match or 'name="started"' in page, page[:500]
        data = urllib.parse.urlencode({**fields, **token}).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=20) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
def site(postgres_url: str, smtp_sink: SMTPSink, tmp_path: Path) -> Iterator[tuple[list[str], Any]]:
    """Two gunicorn servers (1 worker each) and two mail workers; yields their URLs and an app."""
    redis = redis_url()
    _truncate(postgres_url)
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "SECRET_KEY": secrets.token_urlsafe(48),  # fresh, so rate-limit keys are this test's own
        "RATELIMIT_STORAGE_URI": redis,
        "RATELIMIT_SIGN_PER_NETWORK": f"{LIMIT} per minute",
        "SIGN_MIN_SECONDS": "0",
        "EMAIL_CHECK_DELIVERABILITY": "false",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink.port),
        "MAIL_BATCH_SIZE": "2",  # small batches, so both workers take part
        "FLASK_DEBUG": "0",
        "LOG_SIGNING_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    processes = []
    try:
        for n, port in enumerate(ports):
            server_env = {**env, "BASE_URL": f"http://127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
            args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
            processes.append(_start(args, server_env, tmp_path / f"server{n}.log"))
            worker_env = {**env, "BASE_URL": f"http://127.0.0.1:{port}"}
            args = [sys.executable, "-m", "flask", "--app", "app", "mail", "worker", "--interval", "0.1"]
            processes.append(_start(args, worker_env, tmp_path / f"worker{n}.log"))
        app = create_app({"TESTING": True, "DATABASE_URL": postgres_url, "SECRET_KEY": env["SECRET_KEY"]})
        write(app, factories.letter)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            _wait_until(lambda base=base: Browser(base).get(f"/api/v1/letters/{SLUG}")[0] == 200, 60, base)
        yield bases, app
        with app.app_context():
            db.engine.dispose()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()  # reaped, so no process outlives the test
        _truncate(postgres_url)


def test_two_servers_and_two_workers_share_one_truth(site: tuple[list[str], Any], smtp_sink: SMTPSink) -> None:
    bases, app = site
    browsers = [Browser(base) for base in bases]

    # Alternate between the servers: the limit is counted in Redis, so it holds over both.
    answers = []
    for n in range(SIGNERS):
        fields = {"name": f"Signer {n}", "email": f"signer{n}@example.org", "public": "y", "website": ""}
        answers.append(browsers[n % 2].post(f"/letters/{SLUG}/sign", f"/letters/{SLUG}", fields))
    assert answers == [303] * LIMIT + [429] * (SIGNERS - LIMIT)
    signed = [f"signer{n}@example.org" for n in range(LIMIT)]

    # Both workers poll one outbox: each mail leaves once, to its signer.
    _wait_until(lambda: len(smtp_sink.received) >= LIMIT, 30, "the confirmation mail")
    time.sleep(1)  # a duplicate would arrive now
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == sorted(signed)
    outbox = rows(app, OutboxMessage.status, OutboxMessage.claimed_by)
    assert {status for status, _ in outbox} == {OutboxStatus.SENT}
    assert len(outbox) == LIMIT

    # Confirm every signature on the server it was not made on, all at once.
    def confirm(n: int) -> int:
        path = path_of(link_in(smtp_sink.messages_to(signed[n])[0]))
        other = Browser(bases[(n + 1) % 2])
        return other.post(path, path, {})

    with ThreadPoolExecutor(max_workers=LIMIT) as pool:
        assert list(pool.map(confirm, range(LIMIT))) == [200] * LIMIT

    for browser in browsers:
        status, body = browser.get(f"/api/v1/letters/{SLUG}")
        assert status == 200 and f'"signature_count":{LIMIT}' in body.replace(" ", "")
    result = recount(app, one(app, Letter.id, slug=SLUG))
    assert (result.stored, result.actual, result.exact) == (LIMIT, LIMIT, True)
    assert rows(app, Signature.status) == [SignatureStatus.CONFIRMED] * LIMIT


def test_a_forked_worker_drops_the_parents_connections_without_closing_them(app: Flask) -> None:
    """gunicorn.conf.py loads the app before forking (preload_app); each worker then starts a pool of its own."""
    with app.app_context():
        engine = db.engine
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        inherited = connection.connection.dbapi_connection
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    db.forget_connections(app)
    assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    assert inherited is not None
    cursor = inherited.cursor()
    cursor.execute("SELECT 1")  # not closed: the parent's own connection, still its own
    cursor.close()
    inherited.close()  # (the parent's business; here, the test's)
    db.forget_connections(object())  # another server's app is left alone
