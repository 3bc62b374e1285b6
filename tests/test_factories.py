"""The test factories store what the application's own paths store, and the session fixture leaves nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.models import Letter, ModeratorRole, RemovalReason, Signature, SignatureStatus
from app.services import counting
from tests import factories

pytestmark = pytest.mark.engines

SLUG = "test-letter"


def test_signers_in_every_state_keep_the_count_and_the_tallies_exact(session: Session, letter: Letter) -> None:
    for status in SignatureStatus:
        factories.signer(session, letter.id, status)
    factories.signer(session, letter.id, public=False)
    factories.signer(session, letter.id, founding=True, confirmed_domain="example.edu")
    factories.signer(session, letter.id, SignatureStatus.HIDDEN, reason=RemovalReason.FAKE)
    factories.confirmed_signers(session, letter.id, 5)
    stored = session.get(Letter, letter.id)
    assert stored is not None
    recount = counting.recount(session, stored, now=utcnow())
    assert recount.exact, recount
    assert recount.actual == 1 + 2 + 5  # confirmed: one of each state's, unlisted, founding, five at once
    assert recount.actual_tallies["pending"] == 1 and recount.actual_tallies["removed:fake"] == 1
    withdrawn = session.scalars(sa.select(Signature).where(Signature.status == SignatureStatus.WITHDRAWN)).one()
    assert withdrawn.name == withdrawn.email == "" and withdrawn.email_key.startswith("erased:")


def test_a_moderator_from_the_factory_can_sign_in(session: Session, client: FlaskClient) -> None:
    factories.moderator(session, "admin@example.org", ModeratorRole.ADMIN)
    assert factories.log_in(client, "admin@example.org").status_code == 303
    assert factories.log_in(client, "admin@example.org", "not the password").status_code != 303


def test_the_app_sees_the_session_fixture_s_writes_and_nothing_is_committed(
    app: Flask, session: Session, client: FlaskClient, letter: Letter
) -> None:
    factories.signer(session, letter.id, name="Ada Lovelace")
    session.flush()
    # A request, in the same transaction, sees the uncommitted signer.
    names = [s["name"] for s in client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]]
    assert names == ["Ada Lovelace"]
    # Another connection sees nothing: neither the test's writes nor the request's commits are kept.
    with app.app_context():
        engine = db.engine
    with engine.connect() as other:
        assert other.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0


def test_an_update_from_the_factory_is_published(
    app: Flask, session: Session, client: FlaskClient, letter: Letter
) -> None:
    with app.app_context():  # publishing queues mail, whose Message-ID needs the app's sender
        factories.update(session, letter.id, title="We delivered the letter", body="It was read aloud.")
    page = client.get(f"/letters/{SLUG}")
    assert page.status_code == 200, page.status_code
    assert "We delivered the letter" in page.get_data(as_text=True)
