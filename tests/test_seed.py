"""`flask dev seed`: fake signers in bulk, counted, searchable, in the public log, and the search triggers kept."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app import log
from app.dev import seed
from app.models import LogEvent, Signature, SignatureStatus
from app.services import letters
from app.services.queries import listing
from tests.support import count, read, recount, rows, write

pytestmark = pytest.mark.engines


def test_seed_fills_a_new_letter_with_varied_signers(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["dev", "seed", "big", "--signatures", "3000"])
    assert result.exit_code == 0, result.output
    assert "Added 3000 signers to 'big'" in result.output
    letter = read(app, letters.get_letter, "big")
    statuses = dict(rows(app, sa.select(Signature.status, sa.func.count()).group_by(Signature.status)))
    assert statuses[SignatureStatus.CONFIRMED] > 2800
    assert statuses[SignatureStatus.UNCONFIRMED] > 0
    assert count(app, Signature, public=False) > 0
    result = recount(app, letter.id)
    assert (result.stored, result.actual) == (statuses[SignatureStatus.CONFIRMED],) * 2
    assert result.exact, result  # the hidden ones are in the public tallies too
    names = set(rows(app, Signature.name))
    assert any(not name.isascii() for name in names) and any(name.isascii() for name in names)
    # Searchable at once, and later signatures are indexed too (the trigger is back).
    assert read(app, listing.public_signatures, letter.id, limit=5, query="Lovelace").signatures
    zebulon = Signature(
        letter_id=letter.id,
        name="Zebulon Quux",
        email="z@example.org",
        email_key="z@example.org",
        status=SignatureStatus.CONFIRMED,
        confirmed_at=letter.updated_at,
    )
    write(app, lambda session: session.add(zebulon))
    found = read(app, listing.public_signatures, letter.id, limit=5, query="ebulon")
    assert [s.name for s in found.signatures] == ["Zebulon Quux"]


def test_seed_adds_to_an_existing_letter(app: Flask, runner: FlaskCliRunner, letter: object) -> None:
    assert runner.invoke(args=["dev", "seed", "test-letter", "--signatures", "10"]).exit_code == 0
    assert runner.invoke(args=["dev", "seed", "test-letter", "--signatures", "10"]).exit_code == 0
    assert count(app, Signature) == 20


def test_seeded_signers_are_in_the_public_log_as_if_each_had_confirmed(
    app: Flask, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed, "BATCH", 250)  # several batches: made by the worker process while written
    for _ in range(2):  # a second run adds to the same letter and its log
        assert runner.invoke(args=["dev", "seed", "big", "--signatures", "600"]).exit_code == 0
    signatures = {s.id: s for s in rows(app, Signature)}
    events = rows(app, LogEvent)
    confirmed = [s for s in signatures.values() if s.status == SignatureStatus.CONFIRMED]
    assert sorted(e.signature_id for e in events) == sorted(s.id for s in confirmed)
    assert any(not s.public for s in confirmed)
    for event in events:
        signature = signatures[event.signature_id]
        leaf = json.loads(event.leaf)
        assert (event.event, event.listed, leaf["listed"]) == ("add", signature.public, signature.public)
        if signature.public:
            assert event.fields == log.canonical(log.public_fields(signature))
            assert leaf["commitment"] == log.commitment(bytes.fromhex(event.salt or ""), event.fields)
        else:
            assert event.fields is None and event.salt is None and leaf["commitment"] is None
    assert len({e.salt for e in events if e.salt}) == sum(1 for s in confirmed if s.public)
    assert runner.invoke(args=["log", "sequence"]).exit_code == 0
    result = runner.invoke(args=["log", "verify", "big"])
    assert result.exit_code == 0 and "VERIFIED" in result.output, result.output


@pytest.mark.settings(LOG_ENABLED=False)
def test_with_the_log_off_seeding_logs_nothing(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["dev", "seed", "big", "--signatures", "50"]).exit_code == 0
    assert count(app, LogEvent) == 0
    assert count(app, Signature) == 50
