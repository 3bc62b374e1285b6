"""Redis down: signing, reading and moderation go on, with limits counted per process until it is back.

Each test runs a redis-server of its own (never the shared one) and takes it away mid-test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import ratelimit
from app.db import db
from app.models import Letter, ModeratorRole, Signature, SignatureStatus
from app.moderation import accounts
from tests.factories import PASSWORD, log_in
from tests.support import ManualClock, RedisServer, marked_settings, own_server
from tests.test_moderation import act, confirm_all, public_count
from tests.test_rate_limits import sign_from

SLUG = "test-letter"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server of this test's own."""
    folder = tmp_path / "redis"
    folder.mkdir()
    server = own_server(lambda: RedisServer(folder))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def app_config(redis_server: RedisServer, request: pytest.FixtureRequest) -> dict[str, Any]:
    return {
        "RATELIMIT_STORAGE_URI": redis_server.url,
        "RATELIMIT_SIGN_PER_NETWORK": "3 per minute",
        **marked_settings(request),
    }


def stored(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) or 0


def storage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.ratelimit" and r.levelno >= logging.WARNING]


def test_with_redis_down_people_sign_read_and_moderate_and_the_log_says_so_once(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    redis_server: RedisServer,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "mod@example.org", PASSWORD, ModeratorRole.MODERATOR)
    assert sign_from(client, "198.51.100.1", "before@example.org").status_code == 303
    assert redis_server.client().dbsize() > 0  # the counters are in Redis, shared

    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="app.ratelimit")

    # Signing: stored and answered as usual; the limit still holds, counted in this process.
    for n in range(3):
        assert sign_from(client, "198.51.100.2", f"during{n}@example.org").status_code == 303
    assert sign_from(client, "198.51.100.2", "one-too-many@example.org").status_code == 429
    assert stored(app) == 4
    # Reading.
    for path in (f"/letters/{SLUG}", f"/letters/{SLUG}/signatures", f"/api/v1/letters/{SLUG}", "/"):
        assert client.get(path).status_code == 200, path
    # Moderation: signing in (limited per network and per account) and an action.
    confirm_all(app)
    assert log_in(client).status_code == 303
    with app.app_context():
        hidden = db.session.scalar(sa.select(Signature.id).where(Signature.email == "during0@example.org"))
    assert hidden is not None
    assert act(client, [hidden], "hide", reason="fake").status_code == 303
    assert public_count(client) == 3
    with app.app_context():
        assert db.session.get(Signature, hidden).status == SignatureStatus.HIDDEN  # type: ignore[union-attr]

    # Dozens of counts in memory within the minute (a retry at 59 s failed too): the log said so once.
    clock.advance(59)
    assert sign_from(client, "198.51.100.6", "later@example.org").status_code == 303
    warnings = storage_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "unreachable" in warnings[0] and "memory" in warnings[0]


def test_when_redis_returns_the_limits_are_shared_again_without_a_restart(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    redis_server: RedisServer,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.ratelimit")

    redis_server.stop()
    assert sign_from(client, "198.51.100.3", "a@example.org").status_code == 303
    clock.advance(30)
    assert sign_from(client, "198.51.100.3", "b@example.org").status_code == 303
    assert len(storage_warnings(caplog)) == 1
    # A minute on, still down: said once more.
    clock.advance(31)
    assert sign_from(client, "198.51.100.4", "c@example.org").status_code == 303
    warnings = storage_warnings(caplog)
    assert len(warnings) == 2 and "still" in warnings[1], warnings

    # Redis is back (empty: nothing was saved). Within a few seconds the process counts there again.
    redis_server.start()
    assert redis_server.client().dbsize() == 0
    clock.advance(ratelimit.FallbackStorage.RETRY_SECONDS)
    assert sign_from(client, "198.51.100.5", "d@example.org").status_code == 303
    warnings = storage_warnings(caplog)
    assert len(warnings) == 3 and "again" in warnings[2], warnings
    redis = redis_server.client()
    sign_keys = [key for key in redis.keys("*") if b"signing.sign" in key]
    assert len(sign_keys) == 1 and redis.get(sign_keys[0]) == b"1"

    # Shared: what other servers count in Redis holds here too. They used up this network's minute.
    redis.incrby(sign_keys[0], 2)
    assert sign_from(client, "198.51.100.5", "e@example.org").status_code == 429
    assert stored(app) == 4
