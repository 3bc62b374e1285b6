"""The count and the public tallies stay exact under any sequence of signing and moderation.

A Hypothesis state machine signs, confirms, hides, restores, deletes, approves, verifies and
withdraws signatures, undoes moderators' actions and switches the letter's moderation mode,
through the services the pages and the moderators use; after every step the stored numbers must
equal a recount, and the public count must equal the number of signers the public list returns
in full.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.errors import DomainError
from app.models import Letter, Moderator, OutboxMessage, RemovalReason, Signature
from app.services import moderation, signing, withdrawal
from app.services.tokens import TokenLifetimes
from tests import factories
from tests.support import recount, write

pytestmark = pytest.mark.engines

TTL = TokenLifetimes(confirm=timedelta(days=7), withdraw=timedelta(days=90))
CONFIRM_LINK = re.compile(r"/confirm/([A-Za-z0-9_-]+)")
PEOPLE = st.integers(min_value=0, max_value=4)
REASONS = st.sampled_from(RemovalReason)


def public_list(client: FlaskClient, slug: str) -> list[str]:
    """Every signer the public API lists, walking the cursors to the end."""
    names: list[str] = []
    cursor = None
    while True:
        query = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        response = client.get(f"/api/v1/letters/{slug}/signatures", query_string=query)
        assert response.status_code == 200
        data = response.get_json()
        names += [s["name"] for s in data["signatures"]]
        cursor = data["next_cursor"]
        if cursor is None:
            return names


# Up to 300 steps through the whole app: on a busy machine this takes minutes, and a timeout that
# fires inside Hypothesis is reported as a flaky failure rather than as slowness.
@pytest.mark.timeout(600)
def test_the_count_and_tallies_equal_a_recount_after_every_step(app: Flask, client: FlaskClient) -> None:
    moderator_id = write(app, factories.moderator).id
    numbers = itertools.count()

    @contextlib.contextmanager
    def step() -> Iterator[Session]:
        """A transaction of its own, committed unless it fails, as each request or action has."""
        with app.app_context(), db.transaction() as session:
            yield session

    class SigningAndModeration(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # A letter of its own for each example: nothing carries over.
            self.slug = f"invariant-{next(numbers)}"
            self.letter_id = write(app, factories.letter, slug=self.slug).id
            # The latest raw confirmation token mailed for each signature.
            self.tokens: dict[int, str] = {}
            # Audit entries of actions that can be undone, oldest first.
            self.undoable: list[int] = []

        # Signatures made so far (ids; a withdrawn or deleted one stays, as a tombstone or gone).
        signed = Bundle("signed")

        @initialize(target=signed, people=st.lists(PEOPLE, min_size=2, max_size=4, unique=True))
        def first_signers(self, people: list[int]) -> MultipleResults[int]:
            # A few confirmed signatures to begin with, so that every example has something to moderate.
            return multiple(*(self._sign(person, and_confirm=True) for person in people))

        @rule(target=signed, person=PEOPLE, and_confirm=st.booleans())
        def sign(self, person: int, and_confirm: bool) -> int:
            return self._sign(person, and_confirm=and_confirm)

        def _sign(self, person: int, *, and_confirm: bool) -> int:
            email = f"person{person}@example.org"
            data = signing.SignatureInput(name=f"Person {person}", email=email, email_key=email)
            with step() as session:
                letter = session.get(Letter, self.letter_id)
                assert letter is not None
                signing.sign(session, letter, data, now=utcnow(), ttl=TTL)
                signature_id = session.scalar(
                    sa.select(Signature.id).where(Signature.letter_id == self.letter_id, Signature.email_key == email)
                )
                assert signature_id is not None
                text = session.scalar(
                    sa.select(OutboxMessage.body_text)
                    .where(OutboxMessage.signature_id == signature_id, OutboxMessage.kind == "confirm")
                    .order_by(OutboxMessage.id.desc())
                    .limit(1)
                )
            # Every signature got a confirmation mail when it was made (signing again sends none).
            assert text is not None
            match = CONFIRM_LINK.search(text)
            assert match, text
            self.tokens[signature_id] = match.group(1)
            if and_confirm:
                # Most people confirm at once; reaching the later states needs confirmed signatures.
                self.confirm(signature_id)
            return signature_id

        @rule(signature_id=signed)
        def confirm(self, signature_id: int) -> None:
            token = self.tokens.get(signature_id)
            if token is None:
                return
            # A signature withdrawn or deleted since has no links left: that is refused, not counted.
            with step() as session, contextlib.suppress(DomainError):
                signing.confirm(session, token, now=utcnow())

        def _moderate(
            self, action: moderation.Action, signature_id: int, reason: RemovalReason | None = None, note: str = ""
        ) -> None:
            with step() as session:
                letter = session.get(Letter, self.letter_id)
                moderator = session.get(Moderator, moderator_id)
                assert letter is not None and moderator is not None
                # Signatures in a state the action does not apply to are skipped, as on the queue.
                outcome = moderation.act(
                    session, moderator, letter, action, [signature_id], now=utcnow(), reason=reason, note=note
                )
            if outcome.undoable and outcome.entry_id is not None:
                self.undoable.append(outcome.entry_id)

        @rule(signature_id=signed, reason=REASONS)
        def hide(self, signature_id: int, reason: RemovalReason) -> None:
            self._moderate(moderation.Action.HIDE, signature_id, reason)

        @rule(signature_id=signed)
        def restore(self, signature_id: int) -> None:
            self._moderate(moderation.Action.RESTORE, signature_id)

        @rule(signature_id=signed, reason=REASONS)
        def delete(self, signature_id: int, reason: RemovalReason) -> None:
            self._moderate(moderation.Action.DELETE, signature_id, reason)

        @rule(signature_id=signed)
        def approve(self, signature_id: int) -> None:
            self._moderate(moderation.Action.APPROVE, signature_id)

        @rule(signature_id=signed)
        def verify(self, signature_id: int) -> None:
            self._moderate(moderation.Action.VERIFY, signature_id, note="Checked by phone")

        @rule(latest=st.booleans())
        def undo(self, latest: bool) -> None:
            # The latest action, or an older one (whose signatures may have changed since: those stay).
            if not self.undoable:
                return
            entry_id = self.undoable.pop(-1 if latest else 0)
            with step() as session:
                moderator = session.get(Moderator, moderator_id)
                assert moderator is not None
                moderation.undo(session, moderator, entry_id, now=utcnow(), window=timedelta(minutes=30))

        @rule(signature_id=signed)
        def withdraw(self, signature_id: int) -> None:
            with step() as session:
                signature = session.get(Signature, signature_id)
                # As the withdrawal link allows: only signatures that still hold personal data
                # (an unconfirmed one withdrawn is deleted outright).
                if signature is not None and signature.status in withdrawal.LIVE_STATUSES:
                    withdrawal.erase_signature(session, signature, now=utcnow())

        @rule(mode=st.sampled_from(["pre", "post"]))
        def switch_moderation_mode(self, mode: str) -> None:
            with step() as session:
                session.execute(sa.update(Letter).where(Letter.id == self.letter_id).values(moderation_mode=mode))

        @invariant()
        def stored_numbers_equal_a_recount(self) -> None:
            result = recount(app, self.letter_id)
            assert result.exact, result
            count = client.get(f"/api/v1/letters/{self.slug}").get_json()["signature_count"]
            assert count == result.actual
            assert len(public_list(client, self.slug)) == count

    run_state_machine_as_test(
        SigningAndModeration,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
