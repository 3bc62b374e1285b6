"""The hot paths do the fewest queries: signing, confirming and reading the count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.db import db
from app.models import Letter
from tests.support import BEGIN, csrf_token, link_in, path_of, query_plan, recorded_sql, sign

SLUG = "test-letter"
TRANSACTION = "<transaction>"


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement sent to the database meanwhile, normalised, with TRANSACTION where one begins."""
    with recorded_sql(app, begins=True) as seen:
        normalised: list[str] = []
        yield normalised
    normalised.extend(TRANSACTION if item == BEGIN else " ".join(item[0].split()).lower() for item in seen)


def _sql(seen: list[str]) -> list[str]:
    # SQLite's explicit BEGIN shows up as a statement; transactions are counted by the event.
    return [s for s in seen if s != TRANSACTION and not s.startswith("begin")]


def test_signing_a_new_address_is_one_transaction_of_few_statements(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    token = csrf_token(client, f"/letters/{SLUG}")
    with statements(app) as seen:
        assert sign(client, SLUG, token=token).status_code == 303
    sql = _sql(seen)
    # The letter, the watch list (one unique-index lookup of the name), the address's earlier
    # signature if any, the signature inside the savepoint that catches a concurrent duplicate,
    # its two tokens (one statement where the driver batches them with RETURNING, PostgreSQL),
    # the letter's translations (the mail is in the signer's language), the mail.
    kinds = [s.split()[0] for s in sql]
    tokens = ["insert"] if app.config["DATABASE_URL"].startswith("postgresql") else ["insert", "insert"]
    expected = ["select", "select", "select", "savepoint", "insert", "release", *tokens, "select", "insert"]
    assert kinds == expected, sql
    assert "from watch_names" in sql[1] and "from letter_translations" in sql[-2], sql
    assert seen.count(TRANSACTION) == 1


def test_reading_the_count_is_two_index_lookups(app: Flask, client: FlaskClient, letter: Letter) -> None:
    """The letter by its slug, and its public moderation numbers by primary key; never a count.

    Then, for PAGE_CACHE_SECONDS, the process answers again (200 or 304) without the database.
    """
    with statements(app) as seen:
        first = client.get(f"/api/v1/letters/{SLUG}")
        assert first.status_code == 200
    sql = _sql(seen)
    assert [s.split()[0] for s in sql] == ["select"] * 2, sql
    assert "where letters.slug" in sql[0], sql
    assert "from letter_tallies" in sql[1] and "where letter_tallies.letter_id" in sql[1], sql
    assert not any("count(" in s for s in sql), sql
    with statements(app) as seen:
        assert client.get(f"/api/v1/letters/{SLUG}").status_code == 200
        cached = client.get(f"/api/v1/letters/{SLUG}", headers={"If-None-Match": first.headers["ETag"]})
        assert cached.status_code == 304
    assert seen == []


@pytest.mark.settings(PAGE_CACHE_SECONDS=0)
def test_without_the_cache_each_read_is_two_index_lookups(app: Flask, client: FlaskClient, letter: Letter) -> None:
    """With the cache off, a 304 costs the same two lookups as a 200 (the ETag is of the answer)."""
    first = client.get(f"/api/v1/letters/{SLUG}")
    with statements(app) as seen:
        assert client.get(f"/api/v1/letters/{SLUG}").status_code == 200
        cached = client.get(f"/api/v1/letters/{SLUG}", headers={"If-None-Match": first.headers["ETag"]})
        assert cached.status_code == 304
    sql = _sql(seen)
    assert [s.split()[0] for s in sql] == ["select"] * 4, sql
    assert all("where letters.slug" in s for s in sql[0::2]), sql


def test_confirming_takes_one_transaction_and_no_count(
    app: Flask, client: FlaskClient, letter: Letter, tmp_path: object
) -> None:
    sign(client, SLUG, email="ada@example.org")
    app.test_cli_runner().invoke(args=["mail", "send"])
    from email import message_from_bytes, policy
    from pathlib import Path

    [path] = list((Path(str(tmp_path)) / "mail").glob("*.eml"))
    link = path_of(link_in(message_from_bytes(path.read_bytes(), policy=policy.default)))  # type: ignore[arg-type]
    token = csrf_token(client, link)
    with statements(app) as seen:
        assert client.post(link, data={"csrf_token": token}).status_code == 200
    sql = _sql(seen)
    assert not [s for s in sql if "count(" in s]
    writes = [s for s in sql if s.startswith(("update", "insert"))]
    # The signature, its token, the public log's event (an unsequenced insert no one waits for),
    # and one counter shard last (an upsert: its row lock is held the shortest time); never the
    # letter row, which every confirmation would wait for.
    assert [s.split()[0] for s in writes] == ["update", "update", "insert", "insert"], sql
    assert writes[2].startswith("insert into log_events"), sql
    assert writes[-1].startswith("insert into letter_counter_shards") and "on conflict" in writes[-1], sql
    assert not [s for s in sql if s.startswith("update letters")], sql
    assert seen.count(TRANSACTION) == 1


@pytest.mark.parametrize(
    ("option", "index"), [("verified", "ix_signatures_verified"), ("founding", "ix_signatures_founding")]
)
def test_verified_and_founding_signatories_are_found_by_their_partial_indexes(
    app: Flask, letter: Letter, option: str, index: str
) -> None:
    """The letter page lists them on every view: they must not be found by walking the whole list."""
    from app.services import listing

    with recorded_sql(app) as seen, app.app_context():
        listing.public_signatures(db.session, letter.id, limit=6, **{option: True})
    plan = query_plan(app, seen[-1])
    assert index in plan, plan
