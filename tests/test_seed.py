"""`flask dev seed`: fake signers in bulk, counted, searchable, and the search triggers kept."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app.db import db
from app.models import Signature, SignatureStatus
from app.services import counting, letters, listing


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
