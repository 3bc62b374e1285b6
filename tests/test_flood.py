"""A flood over real sockets on loopback: one address floods the form, others still sign.

Linux routes all of 127.0.0.0/8 to loopback, so each "client" binds its own 127.0.0.x
source address and the server sees a different REMOTE_ADDR for each. Bounded: a fixed
number of requests, each with a timeout.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import db
from app.models import Letter, Signature
from tests.browser_support import LiveServer
from tests.support import require

SLUG = "test-letter"
FLOOD_REQUESTS = 40
LIMIT = 8


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"RATELIMIT_SIGN_PER_NETWORK": f"{LIMIT} per minute"}


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    live = LiveServer(app)
    live.start()
    yield live.url
    live.stop()


def can_bind(address: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


class Browser:
    """A client with its own source address and cookie, like one person's browser."""

    def __init__(self, base: str, source: str) -> None:
        parts = urlsplit(base)
        self.host, self.port, self.source = parts.hostname or "127.0.0.1", parts.port or 80, source
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10, source_address=(self.source, 0))
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            cookie = response.getheader("Set-Cookie")
            if cookie:
                self.cookie = cookie.split(";", 1)[0]
            return response.status, text
        finally:
            connection.close()

    def sign(self, email: str) -> int:
        status, page = self.request("GET", f"/letters/{SLUG}")
        assert status == 200
        stamp = re.search(r'name="started" type="hidden" value="([^"]+)"', page)
        assert stamp
        form = {"started": stamp.group(1), "name": "Flood Test", "email": email, "public": "y"}
        status, _ = self.request("POST", f"/letters/{SLUG}/sign", urlencode(form))
        return status


def test_one_address_flooding_is_limited_while_other_addresses_still_sign(
    app: Flask, letter: Letter, server: str
) -> None:
    require(can_bind("127.0.0.2"), "cannot bind 127.0.0.2 as a source address on this machine")
    flooder = Browser(server, "127.0.0.2")
    started = time.monotonic()
    answers = [flooder.sign(f"bot{n}@example.org") for n in range(FLOOD_REQUESTS)]
    assert time.monotonic() - started < 60  # bounded: well inside the limit's window

    # The limit engaged: the first LIMIT went through, every later one got 429.
    assert answers[:LIMIT] == [303] * LIMIT, answers
    assert set(answers[LIMIT:]) == {429}, answers
    # Meanwhile people on other addresses sign as usual.
    others = [Browser(server, f"127.0.0.{n}").sign(f"person{n}@example.org") for n in range(3, 6)]
    assert others == [303, 303, 303]

    with app.app_context():
        emails = set(db.session.scalars(sa.select(Signature.email)))
    assert emails == {f"bot{n}@example.org" for n in range(LIMIT)} | {f"person{n}@example.org" for n in range(3, 6)}
