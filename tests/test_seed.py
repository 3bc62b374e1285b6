"""`flask dev seed`: fake signers in bulk, counted, searchable, in the public log, and the search triggers kept."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app import log
from app.db import db
from app.dev import seed
from app.models import LogEvent, Signature, SignatureStatus
from app.services import counting, letters
from app.services.queries import listing

pytestmark = pytest.mark.engines


def test_seed_fills_a_new_letter_with_varied_signers(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["dev", "seed", "big", "--signatures", "3000"])
    assert result.exit_code == 0, result.output
    assert "Added 3000 signers to 'big'" in result.output
    with app.app_context():
        session = db.session
        letter = letters.get_letter(session, "big")
        statuses = dict(session.execute(sa.select(Signature.status, sa.func.count()).group_by(Signature.status)).all())
        assert statuses[SignatureStatus.CONFIRMED] > 2800
        assert statuses[SignatureStatus.UNCONFIRMED] > 0
        assert session.scalar(sa.select(sa.func.count()).where(Signature.public.is_(False))) > 0
        result = counting.recount(session, letter, now=letter.updated_at)
        assert (result.stored, result.actual) == (statuses[SignatureStatus.CONFIRMED],) * 2
        assert result.exact, result  # the hidden ones are in the public tallies too
        names = set(session.scalars(sa.select(Signature.name)))
        assert any(not name.isascii() for name in names) and any(name.isascii() for name in names)
        # Searchable at once, and later signatures are indexed too (the trigger is back).
        assert listing.public_signatures(session, letter.id, limit=5, query="Lovelace").signatures
        session.add(
            Signature(
                letter_id=letter.id,
                name="Zebulon Quux",
                email="z@example.org",
                email_key="z@example.org",
                status=SignatureStatus.CONFIRMED,
                confirmed_at=letter.updated_at,
            )
        )
        session.commit()
        found = listing.public_signatures(session, letter.id, limit=5, query="ebulon")
        assert [s.name for s in found.signatures] == ["Zebulon Quux"]


def test_seed_adds_to_an_existing_letter(app: Flask, runner: FlaskCliRunner, letter: object) -> None:
    assert runner.invoke(args=["dev", "seed", "test-letter", "--signatures", "10"]).exit_code == 0
    assert runner.invoke(args=["dev", "seed", "test-letter", "--signatures", "10"]).exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 20


def test_seeded_signers_are_in_the_public_log_as_if_each_had_confirmed(
    app: Flask, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed, "BATCH", 700)  # several batches: made by the worker process while written
    for _ in range(2):  # a second run adds to the same letter and its log
        assert runner.invoke(args=["dev", "seed", "big", "--signatures", "1500"]).exit_code == 0
    with app.app_context():
        session = db.session
        signatures = {s.id: s for s in session.scalars(sa.select(Signature))}
        events = list(session.scalars(sa.select(LogEvent).order_by(LogEvent.id)))
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
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LogEvent)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 50
