"""The sharded counter: concurrent confirmations lose no update and do not all wait for one row."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.config import ConfigError, finalise, read_environment
from app.db import db, utcnow
from app.models import Letter, LetterCounterShard, SignatureStatus, Token, TokenPurpose
from app.services import counting, signing
from app.services.tokens import hash_token
from tests import factories
from tests.support import recount, rows, write

pytestmark = pytest.mark.engines

SLUG = "test-letter"
THREADS = 6
PER_THREAD = 8


def unconfirmed_with_links(app: Flask, letter_id: int, count: int) -> list[str]:
    """Unconfirmed signatures and the raw confirmation links their mail would carry (committed)."""
    raws = [secrets.token_urlsafe(32) for _ in range(count)]

    def store(session: Session) -> None:
        for raw in raws:
            signature = factories.signer(session, letter_id, SignatureStatus.UNCONFIRMED)
            session.add(
                Token(
                    signature_id=signature.id,
                    purpose=TokenPurpose.CONFIRM,
                    token_hash=hash_token(raw),
                    expires_at=utcnow() + timedelta(days=7),
                    submission=signature.submission,
                )
            )

    write(app, store)
    return raws


def test_concurrent_confirmations_on_several_connections_lose_no_update(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    raws = unconfirmed_with_links(app, letter.id, THREADS * PER_THREAD)
    # Every link is clicked twice, by two different threads: each signature counts once.
    shares = [raws[n::THREADS] + raws[(n + 1) % THREADS :: THREADS] for n in range(THREADS)]
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def confirm_all(mine: list[str]) -> None:
        try:
            with app.app_context():
                start.wait()
                for raw in mine:
                    with db.transaction() as session:
                        signing.confirm(session, raw, now=utcnow())
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=confirm_all, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == len(raws)
    assert recount(app, letter.id).exact
    shards = rows(app, LetterCounterShard.shard)
    if app.config["DATABASE_URL"].startswith("postgresql"):
        # Several connections wrote to several shards, so they did not queue for one row.
        assert app.config["COUNTER_SHARDS"] == 8 and len(shards) > 1
    else:
        assert app.config["COUNTER_SHARDS"] == 1 and shards == [0]


@pytest.mark.settings(COUNTER_SHARDS=4)
def test_the_count_is_the_folded_count_plus_the_shards_and_a_recount_folds_them(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    def count_up_and_down(session: Session) -> None:
        for _ in range(20):
            counting.add_to_count(session, letter.id, +1, now=utcnow())
        counting.add_to_count(session, letter.id, -1, now=utcnow())

    write(app, count_up_and_down)
    assert set(rows(app, LetterCounterShard.shard)) <= {0, 1, 2, 3}
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 19
    result = recount(app, letter.id, fix=True)
    assert (result.stored, result.actual) == (19, 0)
    assert rows(app, LetterCounterShard) == []
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 0


@pytest.mark.parametrize(("url", "shards"), [("sqlite:///x.db", 1), ("postgresql://db/x", 8)])
def test_the_shard_count_defaults_by_database_and_refuses_less_than_one(url: str, shards: int, tmp_path: Path) -> None:
    config: dict[str, Any] = read_environment({"DATABASE_URL": url})
    finalise(config, debug=True, testing=False, instance_path=str(tmp_path))
    assert config["COUNTER_SHARDS"] == shards
    with pytest.raises(ConfigError, match="COUNTER_SHARDS"):
        refused = read_environment({"DATABASE_URL": url, "COUNTER_SHARDS": "0"})
        finalise(refused, debug=True, testing=False, instance_path=str(tmp_path))
