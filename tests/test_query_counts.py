"""The hot paths do the fewest queries: signing, confirming and reading the count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import Letter
from tests.support import BEGIN, csrf_token, deliver_mail, link_in, path_of, query_plan, read, recorded_sql, sign

pytestmark = pytest.mark.engines

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


def test_signing_a_new_address_reads_then_writes_in_a_short_transaction(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    """Everything that only reads comes first; the writes are three INSERTs at the end.

    Reading: the letter, the watch list (one unique-index lookup of the name), the letter's
    translations (the mail is in the signer's language, and is written before the writes).
    Writing: the signature (an INSERT that does nothing if the address signed before, so no
    lookup and no savepoint), its two tokens in one statement, the mail. On SQLite the writes are a
    transaction of their own that takes the write lock at its BEGIN; nothing before it holds the lock.
    """
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    with statements(app) as seen:
        assert sign(client, SLUG, token=token).status_code == 303
    starts = [i for i, item in enumerate(seen) if item == TRANSACTION]
    sqlite = app.config["DATABASE_URL"].startswith("sqlite")
    # SQLite: two transactions, the second under the write lock from its BEGIN. PostgreSQL locks
    # rows, not the database: one transaction, one connection from the pool.
    assert len(starts) == (2 if sqlite else 1), seen
    sql = _sql(seen)
    reading, writing = sql[:3], sql[3:]
    assert [s.split()[0] for s in reading] == ["select"] * 3, reading
    assert "where letters.slug" in reading[0] and "from watch_names" in reading[1], reading
    assert "from letter_translations" in reading[2], reading
    assert [s.split()[0] for s in writing] == ["insert"] * 3, writing
    assert "into signatures" in writing[0] and "on conflict" in writing[0], writing
    assert "into tokens" in writing[1] and "into outbox_messages" in writing[2], writing
    if sqlite:
        assert _sql(seen[: starts[1]]) == reading, seen
        begins = [s for s in seen if s.startswith("begin")]
        assert begins == ["begin", "begin immediate"], seen


def test_signing_again_before_confirming_costs_one_update_more_and_no_revoking(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    """An address that signed and has not confirmed: the same reads and INSERTs, and one UPDATE.

    The UPDATE stores the new details as the next submission and returns its number, which the
    new confirmation token records; the older links stop confirming because their number is
    older, so no statement goes back to revoke them and the answer takes the time it always does.
    """
    sign(client, SLUG, city="Seoul")
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    with statements(app) as seen:
        assert sign(client, SLUG, token=token, city="Paris").status_code == 303
    # (A second signature under the same name also raises a flag for moderators: not the point here.)
    writing = [s for s in _sql(seen)[3:] if not s.startswith("insert into flags")]
    assert [s.split()[0] for s in writing] == ["insert", "update", "insert", "insert"], writing
    assert "into signatures" in writing[0] and "on conflict" in writing[0], writing
    assert writing[1].startswith("update signatures set"), writing
    assert "submission=(signatures.submission +" in writing[1], writing
    assert writing[1].partition(" returning ")[2].replace("signatures.", "") == "id, submission", writing
    assert "into tokens" in writing[2] and "submission" in writing[2], writing
    assert "into outbox_messages" in writing[3], writing


def test_reading_the_count_is_three_index_lookups(app: Flask, client: FlaskClient, letter: Letter) -> None:
    """The letter by its slug, its public moderation numbers by primary key, and the addressee's latest
    response (the letter's few updates, newest first, by index); never a count.

    Then, for PAGE_CACHE_SECONDS, the process answers again (200 or 304) without the database.
    """
    with statements(app) as seen:
        first = client.get(f"/api/v1/letters/{SLUG}")
        assert first.status_code == 200
    sql = _sql(seen)
    assert [s.split()[0] for s in sql] == ["select"] * 3, sql
    assert "where letters.slug" in sql[0], sql
    assert "from letter_updates" in sql[1] and "where letter_updates.letter_id" in sql[1], sql
    assert "limit" in sql[1], sql
    assert "from letter_tallies" in sql[2] and "where letter_tallies.letter_id" in sql[2], sql
    assert not any("count(" in s for s in sql), sql
    with statements(app) as seen:
        assert client.get(f"/api/v1/letters/{SLUG}").status_code == 200
        cached = client.get(f"/api/v1/letters/{SLUG}", headers={"If-None-Match": first.headers["ETag"]})
        assert cached.status_code == 304
    assert seen == []


@pytest.mark.settings(PAGE_CACHE_SECONDS=0)
def test_without_the_cache_each_read_is_three_index_lookups(app: Flask, client: FlaskClient, letter: Letter) -> None:
    """With the cache off, a 304 costs the same three lookups as a 200 (the ETag is of the answer)."""
    first = client.get(f"/api/v1/letters/{SLUG}")
    with statements(app) as seen:
        assert client.get(f"/api/v1/letters/{SLUG}").status_code == 200
        cached = client.get(f"/api/v1/letters/{SLUG}", headers={"If-None-Match": first.headers["ETag"]})
        assert cached.status_code == 304
    sql = _sql(seen)
    assert [s.split()[0] for s in sql] == ["select"] * 6, sql
    assert all("where letters.slug" in s for s in sql[0::3]), sql


def test_confirming_takes_one_transaction_and_no_count(
    app: Flask, client: FlaskClient, letter: Letter, tmp_path: object
) -> None:
    sign(client, SLUG, email="ada@example.org")
    deliver_mail(app)
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
    # one counter shard (an upsert: its row lock is held the shortest time), then the stats'
    # tallies of its country, hour and language, and the moderators' dashboard's of the hour it
    # was signed in and its time to confirm (five more upserts); never the letter row, which every
    # confirmation would wait for.
    assert [s.split()[0] for s in writes] == ["update", "update", *["insert"] * 7], sql
    assert writes[2].startswith("insert into log_events"), sql
    assert writes[3].startswith("insert into letter_counter_shards") and "on conflict" in writes[3], sql
    assert all(s.startswith("insert into letter_tallies") and "on conflict" in s for s in writes[4:]), sql
    assert not [s for s in sql if s.startswith("update letters")], sql
    assert seen.count(TRANSACTION) == 1


@pytest.mark.parametrize(
    ("option", "index"), [("verified", "ix_signatures_verified"), ("founding", "ix_signatures_founding")]
)
def test_verified_and_founding_signatories_are_found_by_their_partial_indexes(
    app: Flask, letter: Letter, option: str, index: str
) -> None:
    """The letter page lists them on every view: they must not be found by walking the whole list."""
    from app.services.queries import listing

    with recorded_sql(app) as seen:
        read(app, listing.public_signatures, letter.id, limit=6, **{option: True})
    plan = query_plan(app, seen[-1])
    assert index in plan, plan
