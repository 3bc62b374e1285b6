"""The review queue for an hour's work: previews before bulk and final actions, undo, errors in place,
one decision per row, the context to judge by, a readable audit log, all of it in the moderator's language."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from app.db import db, utcnow
from app.models import (
    AuditEntry,
    Flag,
    FlagKind,
    Letter,
    ModerationUndo,
    Moderator,
    RemovalReason,
    Signature,
    SignatureStatus,
    SuspectReason,
)
from app.services import counting, moderation, retention
from tests import factories
from tests.factories import log_in
from tests.support import confirmation_fields, csrf_token, sign

SLUG = "test-letter"
QUEUE = f"/moderate/letters/{SLUG}"


def build(app: Flask, make: Callable[[Session], Any]) -> Any:
    """Store what ``make`` adds, committed (the pages read it on their own connections)."""
    with app.app_context(), db.transaction() as session:
        return make(session)


def flagged(app: Flask, letter_id: int, names: list[str], **fields: Any) -> list[int]:
    """Confirmed, counted signatures under ``names``, each flagged (watch list); their ids."""

    def make(session: Session) -> list[int]:
        made = [factories.signer(session, letter_id, name=name, **fields) for name in names]
        for signature in made:
            factories.flag(session, signature)
        return [s.id for s in made]

    return list(build(app, make))


def post_action(client: FlaskClient, query: str = "", **fields: Any) -> Any:
    """The queue's action form, as a browser sends it (ticked ids under ``signature``)."""
    data = MultiDict({"csrf_token": csrf_token(client, QUEUE)})
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.add(name, str(item))
    return client.post(f"{QUEUE}/actions{query}", data=data)


def confirm(client: FlaskClient, page: Any, query: str = "", **extra: str) -> Any:
    """Press the button of a confirmation page (with ``extra`` fields, e.g. the typed phrase)."""
    fields = confirmation_fields(page.get_data(as_text=True))
    return client.post(f"{QUEUE}/actions{query}", data=MultiDict(fields + list(extra.items())))


def public(client: FlaskClient) -> tuple[int, list[tuple[str, str]]]:
    """The public count and the whole public list (name, signed_at), in its order."""
    count = client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"]
    listed = client.get(f"/api/v1/letters/{SLUG}/signatures?limit=100").get_json()["signatures"]
    return count, [(s["name"], s["signed_at"]) for s in listed]


def audit(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)))


def statuses(app: Flask) -> dict[str, tuple[SignatureStatus, RemovalReason | None]]:
    with app.app_context():
        return {s.name: (s.status, s.removal_reason) for s in db.session.scalars(sa.select(Signature))}


def recount_is_exact(app: Flask, letter_id: int) -> bool:
    with app.app_context(), db.transaction() as session:
        letter = session.get(Letter, letter_id)
        assert letter is not None
        return counting.recount(session, letter, now=utcnow()).exact


def text_of(response: Any) -> str:
    """A page's text without its tags, spaces folded (to read sentences that span elements)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


@pytest.fixture
def moderator(app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator]) -> Moderator:
    """A signed-in moderator (``client`` is their browser)."""
    made = create_moderator()
    assert log_in(client).status_code == 303
    return made


# --- previews before bulk and final actions ---------------------------------------------------


@pytest.mark.engines
def test_a_bulk_action_shows_how_many_whom_and_why_and_changes_nothing_until_confirmed(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    ids = flagged(app, letter.id, ["Elon Musk", "Sam Altman", "Ada Lovelace"])
    before = public(client)
    page = post_action(client, "?view=flagged", action="hide", reason="fake", note="Impersonations", signature=ids[:2])
    assert page.status_code == 200
    text = text_of(page)
    assert "Hide: 2 signatures?" in text
    assert "Elon Musk" in text and "Sam Altman" in text and "Ada Lovelace" not in text
    assert "Reason fake" in text and "Impersonations" in text
    assert "The public count goes from 3 to 1" in text
    assert "You can undo this for 30 minutes" in text
    # Nothing has happened yet: not the count, the list, the audit log.
    assert public(client) == before and audit(app) == []
    done = confirm(client, page, "?view=flagged")
    assert done.status_code == 303 and done.headers["Location"] == f"{QUEUE}?view=flagged"
    assert public(client)[0] == 1
    assert [(e.action, e.signature_count, e.reason) for e in audit(app)] == [("hide", 2, "fake Impersonations")]


def test_a_single_row_can_be_hidden_without_a_preview_but_never_deleted(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    [one] = flagged(app, letter.id, ["Elon Musk"])
    page = post_action(client, action="delete", reason="fake", signature=[one])
    assert page.status_code == 200
    text = text_of(page)
    assert "Delete 1 signature for good?" in text
    assert "This cannot be undone." in text and "There is no undo for deleting." in text
    assert "Yes, delete 1 signature for good" in text
    assert statuses(app) == {"Elon Musk": (SignatureStatus.CONFIRMED, None)} and audit(app) == []
    assert confirm(client, page).status_code == 303
    assert statuses(app) == {"": (SignatureStatus.REMOVED, RemovalReason.FAKE)}
    # Hiding one signature is at once (it can be undone).
    [other] = flagged(app, letter.id, ["Sam Altman"])
    assert post_action(client, action="hide", reason="fake", signature=[other]).status_code == 303


@pytest.mark.engines
def test_an_empty_search_deletes_every_signature_only_when_the_letter_is_named(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    build(app, lambda s: factories.confirmed_signers(s, letter.id, 6))
    before = public(client)
    page = post_action(client, "?view=all", action="delete", reason="other", all_matching="y")
    text = text_of(page)
    assert page.status_code == 200 and "Delete 6 signatures for good?" in text
    assert "This search has no terms: it is every signature of this letter." in text
    assert 'name="phrase"' in page.get_data(as_text=True)
    # The button without the name, or with another, does nothing.
    for typed in ({}, {"phrase": "yes"}, {"phrase": "Test-Letter "}):
        refused = confirm(client, page, "?view=all", **typed)
        assert refused.status_code == 422
        assert "Type test-letter exactly, or go back." in text_of(refused)
        assert public(client) == before and audit(app) == []
    # A search with terms asks for no name; the letter's name deletes them all.
    narrow = post_action(client, "?view=all&q=Signer", action="delete", reason="other", all_matching="y")
    assert 'name="phrase"' not in narrow.get_data(as_text=True)
    assert confirm(client, page, "?view=all", phrase="test-letter").status_code == 303
    assert public(client) == (0, []) and audit(app)[-1].signature_count == 6
    assert recount_is_exact(app, letter.id)


@pytest.mark.engines
def test_a_confirmation_applies_to_what_it_showed_or_to_nothing(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    build(app, lambda s: [factories.signer(s, letter.id, email=f"bot{n}@spam.example") for n in range(3)])
    page = post_action(client, "?view=all&domain=spam.example", action="hide", reason="fake", all_matching="y")
    assert "Hide: 3 signatures?" in text_of(page)
    # Another one arrives before the button is pressed: the page asks again, with the new number.
    build(app, lambda s: factories.signer(s, letter.id, email="bot9@spam.example"))
    again = confirm(client, page, "?view=all&domain=spam.example")
    assert again.status_code == 409
    assert "The search matches other signatures now" in text_of(again) and "Hide: 4 signatures?" in text_of(again)
    assert public(client)[0] == 4 and audit(app) == []
    assert confirm(client, again, "?view=all&domain=spam.example").status_code == 303
    assert public(client)[0] == 0


# --- errors in place -------------------------------------------------------------------------


def test_form_errors_come_back_beside_their_control_with_the_search_and_ticks_kept(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    ids = flagged(app, letter.id, ["Bot One", "Bot Two", "Ada Lovelace"])
    no_reason = post_action(client, "?view=all&q=Bot", action="hide", signature=ids[:2])
    page = no_reason.get_data(as_text=True)
    assert no_reason.status_code == 422
    assert "could not be understood" not in page and "Go to the front page" not in page
    assert re.search(r'id="reason-error">.*Choose a reason: hiding and deleting say why.', page)
    assert '<select aria-describedby="reason-error" aria-invalid="true" id="reason" name="reason">' in page
    assert 'id="search-q" type="search" name="q" value="Bot"' in page  # the search is kept
    assert f'action="{QUEUE}/actions?view=all&amp;q=Bot"' in page
    ticked = re.findall(r'name="signature" value="(\d+)"[^>]*checked', page)
    assert sorted(map(int, ticked)) == sorted(ids[:2])  # and so are the ticks
    assert '<option selected value="hide">' in page  # and the chosen action

    nothing = post_action(client, "?view=all", action="hide", reason="fake")
    assert nothing.status_code == 422
    assert re.search(r'id="signature-error">.*Tick at least one signature', nothing.get_data(as_text=True))
    no_note = post_action(client, action="verify", signature=ids[:1])
    assert no_note.status_code == 422
    assert re.search(r'id="note-error">.*Say how the identity was checked', no_note.get_data(as_text=True))
    nonsense = post_action(client, action="hide", reason="fake", signature=["1x"])
    assert nonsense.status_code == 422 and "A ticked signature is not valid." in nonsense.get_data(as_text=True)
    assert audit(app) == [] and public(client)[0] == 3


def test_nothing_matching_and_too_many_are_said_beside_the_choice(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(app, lambda s: factories.confirmed_signers(s, letter.id, 3))
    empty = post_action(client, "?view=all&q=nobody", action="hide", reason="fake", all_matching="y")
    assert empty.status_code == 422
    assert re.search(r'id="all_matching-error">.*No signature matches this search.', empty.get_data(as_text=True))
    monkeypatch.setattr(moderation, "MAX_BULK", 2)
    page = client.get(f"{QUEUE}?view=all").get_data(as_text=True)
    assert "more than 2, too many for one action" in page
    assert post_action(client, "?view=all", action="hide", reason="fake", all_matching="y").status_code == 422


# --- one decision per row --------------------------------------------------------------------


def test_a_row_decision_is_a_plain_form_that_comes_back_to_the_search_at_the_next_row(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    first, second, third = flagged(app, letter.id, ["Elon Musk", "Sam Altman", "Ada Lovelace"])
    page = client.get(f"{QUEUE}?view=flagged&q=a").get_data(as_text=True)
    path = f"{QUEUE}/signatures/{third}/decide?view=flagged&amp;q=a"
    assert f'action="{path}" class="row-decide"' in page
    token = csrf_token(client, QUEUE)
    answer = client.post(
        path.replace("&amp;", "&"), data={"csrf_token": token, "decision": "fake", "next": str(second)}
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{QUEUE}?view=flagged&q=a#signature-{second}"
    assert statuses(app)["Ada Lovelace"] == (SignatureStatus.HIDDEN, RemovalReason.FAKE)
    # Back in the queue: a banner says what happened and offers the undo.
    back = client.get(f"{QUEUE}?view=flagged&q=a").get_data(as_text=True)
    banner = back[back.index('id="undo-banner"') :]
    [entry] = audit(app)
    assert "Hidden (fake): Ada Lovelace" in banner and f"/moderate/audit/{entry.id}/undo" in banner
    # "Looks fine" dismisses the flags; "Hide as duplicate" hides with that reason.
    for signature_id, decision in ((first, "fine"), (second, "duplicate")):
        answer = client.post(
            f"{QUEUE}/signatures/{signature_id}/decide", data={"csrf_token": token, "decision": decision}
        )
        assert answer.status_code == 303
    assert statuses(app)["Sam Altman"] == (SignatureStatus.HIDDEN, RemovalReason.DUPLICATE)
    assert statuses(app)["Elon Musk"] == (SignatureStatus.CONFIRMED, None)
    assert [e.action for e in audit(app)] == ["hide", "dismiss", "hide"]
    assert "Nothing here." in client.get(f"{QUEUE}?view=flagged").get_data(as_text=True)


def test_the_script_gets_the_row_as_it_is_now_and_the_tabs_numbers(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    [one, _two] = flagged(app, letter.id, ["Elon Musk", "Sam Altman"])
    answer = client.post(
        f"{QUEUE}/signatures/{one}/decide?view=flagged",
        data={"csrf_token": csrf_token(client, QUEUE), "decision": "fake"},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200
    body = answer.get_json()
    [entry] = audit(app)
    assert body["message"] == "Hidden (fake): Elon Musk"
    row = body["rows"][str(one)]
    assert row.lstrip().startswith(f'<tr id="signature-{one}"') and 'class="row-done"' in row
    assert "Hidden: fake" in row and f"/moderate/audit/{entry.id}/undo?view=flagged" in row
    assert f"/moderate/audit/{entry.id}/undo" in body["banner"] and "You can undo this for 30 minutes" in body["banner"]
    assert body["counts"] == {"review": "1", "flagged": "1", "held": "0"}
    # A decision that does not apply (hiding what is hidden) is refused, and says why.
    again = client.post(
        f"{QUEUE}/signatures/{one}/decide",
        data={"csrf_token": csrf_token(client, QUEUE), "decision": "fine"},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 200  # looks fine on a hidden signature restores it
    assert statuses(app)["Elon Musk"] == (SignatureStatus.CONFIRMED, None)
    bad = client.post(
        f"{QUEUE}/signatures/{one}/decide",
        data={"csrf_token": csrf_token(client, QUEUE), "decision": "verify"},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 422 and "Say how the identity was checked" in bad.get_json()["message"]


def test_verifying_from_a_row_asks_for_the_note_in_the_rows_details(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    [one] = flagged(app, letter.id, ["Hayao Miyazaki"])
    token = csrf_token(client, QUEUE)
    asked = client.post(
        f"{QUEUE}/signatures/{one}/decide?view=flagged", data={"csrf_token": token, "decision": "verify"}
    )
    assert asked.status_code == 422
    page = asked.get_data(as_text=True)
    row = page[page.index(f'id="signature-{one}"') :]
    assert '<details class="signature-detail" open>' in row
    assert re.search(rf'id="note-{one}-error">.*Say how the identity was checked', row)
    assert 'id="search-q"' in page and '<input type="hidden" name="view" value="flagged">' in page
    done = client.post(
        f"{QUEUE}/signatures/{one}/decide",
        data={"csrf_token": token, "decision": "verify", "note": "Called the studio"},
    )
    assert done.status_code == 303
    with app.app_context():
        signature = db.session.get(Signature, one)
        assert signature is not None and signature.verified_note == "Called the studio"


def test_a_decision_on_another_letters_signature_is_not_found(
    app: Flask, client: FlaskClient, letter: Letter, create_letter: Callable[..., Letter], moderator: Moderator
) -> None:
    other = create_letter(slug="other-letter")
    [theirs] = flagged(app, other.id, ["Elon Musk"])
    token = csrf_token(client, QUEUE)
    answer = client.post(f"{QUEUE}/signatures/{theirs}/decide", data={"csrf_token": token, "decision": "fake"})
    assert answer.status_code == 404
    assert statuses(app)["Elon Musk"] == (SignatureStatus.CONFIRMED, None)


# --- undo ------------------------------------------------------------------------------------


def undo(client: FlaskClient, entry_id: int, back: str = QUEUE) -> Any:
    return client.post(f"/moderate/audit/{entry_id}/undo", data={"csrf_token": csrf_token(client, QUEUE), "back": back})


@pytest.mark.engines
def test_undoing_a_hide_restores_the_count_the_public_list_and_the_queue_exactly(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    build(app, lambda s: factories.confirmed_signers(s, letter.id, 4))
    ids = flagged(app, letter.id, ["Elon Musk", "Sam Altman"])
    before = public(client)
    queue_before = client.get(QUEUE).get_data(as_text=True).count("data-signature=")
    page = post_action(client, action="hide", reason="fake", note="Impersonations", signature=ids)
    assert confirm(client, page).status_code == 303
    assert public(client)[0] == before[0] - 2
    [hide] = audit(app)
    answer = undo(client, hide.id, back=f"{QUEUE}?view=review")
    assert answer.status_code == 303 and answer.headers["Location"] == f"{QUEUE}?view=review"
    assert "Undone: 2 signatures are back as they were." in client.get(answer.headers["Location"]).get_data(
        as_text=True
    )
    assert public(client) == before  # the count, and the list in its order
    assert client.get(QUEUE).get_data(as_text=True).count("data-signature=") == queue_before  # flags open again
    with app.app_context():
        notes = set(db.session.scalars(sa.select(Signature.moderator_note).where(Signature.id.in_(ids))))
        assert notes == {None}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ModerationUndo)) == 0
    entries = audit(app)
    assert [(e.action, e.undoes_id, e.signature_count) for e in entries] == [("hide", None, 2), ("undo", hide.id, 2)]
    assert recount_is_exact(app, letter.id)
    # Once is enough.
    again = undo(client, hide.id)
    assert "This action was undone already." in client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(audit(app)) == 2


@pytest.mark.engines
def test_undo_puts_back_approvals_verifications_restores_and_dismissals(
    app: Flask, client: FlaskClient, create_letter: Callable[..., Letter], moderator: Moderator
) -> None:
    letter = create_letter(moderation_mode="pre")

    def make(session: Session) -> dict[str, int]:
        pending = factories.signer(session, letter.id, SignatureStatus.PENDING, name="Waiting One")
        verified = factories.signer(session, letter.id, name="Known Person", verified=True)
        hidden = factories.signer(
            session, letter.id, SignatureStatus.HIDDEN, name="Hidden One", reason=RemovalReason.ABUSE
        )
        plain = factories.signer(session, letter.id, name="Plain Person")
        factories.flag(session, plain)
        return {"pending": pending.id, "verified": verified.id, "hidden": hidden.id, "plain": plain.id}

    ids = build(app, make)
    with app.app_context():
        original = {
            s.id: (s.status, s.removal_reason, s.confirmed_at, s.verified_at, s.verified_note)
            for s in db.session.scalars(sa.select(Signature))
        }
    before = public(client)
    token = csrf_token(client, QUEUE)
    for name, decision, note in (
        ("pending", "fine", ""),
        ("verified", "unverify", ""),
        ("hidden", "fine", ""),
        ("plain", "fine", ""),
    ):
        answer = client.post(
            f"{QUEUE}/signatures/{ids[name]}/decide", data={"csrf_token": token, "decision": decision, "note": note}
        )
        assert answer.status_code == 303, name
    assert [e.action for e in audit(app)] == ["approve", "unverify", "restore", "dismiss"]
    assert public(client) != before
    for entry in audit(app):
        assert undo(client, entry.id).status_code == 303
    with app.app_context():
        after = {
            s.id: (s.status, s.removal_reason, s.confirmed_at, s.verified_at, s.verified_note)
            for s in db.session.scalars(sa.select(Signature))
        }
        open_flags = db.session.scalar(sa.select(sa.func.count()).select_from(Flag).where(Flag.resolved_at.is_(None)))
    assert after == original and open_flags == 1
    assert public(client) == before and recount_is_exact(app, letter.id)


def test_undo_is_refused_for_deletions_and_keeps_what_others_changed_since(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    ids = flagged(app, letter.id, ["Elon Musk", "Sam Altman"])
    page = post_action(client, action="hide", reason="fake", signature=ids)
    confirm(client, page)
    [hide] = audit(app)
    # Someone restores one of them meanwhile: the undo leaves it as that moderator left it.
    client.post(
        f"{QUEUE}/signatures/{ids[0]}/decide", data={"csrf_token": csrf_token(client, QUEUE), "decision": "fine"}
    )
    page = post_action(client, action="hide", reason="abuse", signature=[ids[0]])
    answer = undo(client, hide.id)
    message = text_of(client.get(answer.headers["Location"]))
    assert "Undone: 1 signature is back as it was. 1 was changed since, so it stays as it is." in message
    assert statuses(app) == {
        "Elon Musk": (SignatureStatus.HIDDEN, RemovalReason.ABUSE),
        "Sam Altman": (SignatureStatus.CONFIRMED, None),
    }
    deleting = post_action(client, action="delete", reason="fake", signature=[ids[1]])
    confirm(client, deleting)
    delete = audit(app)[-1]
    refused = undo(client, delete.id)
    assert "This action cannot be undone." in text_of(client.get(refused.headers["Location"]))
    page = client.get("/moderate/audit?action=delete").get_data(as_text=True)
    assert f"/moderate/audit/{delete.id}/undo" not in page


@pytest.mark.settings(MODERATION_UNDO_MINUTES=0)
def test_the_time_to_undo_is_a_setting(app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator) -> None:
    [one] = flagged(app, letter.id, ["Elon Musk"])
    post_action(client, action="hide", reason="fake", signature=[one])
    [hide] = audit(app)
    assert f"/moderate/audit/{hide.id}/undo" not in client.get("/moderate/audit").get_data(as_text=True)
    refused = undo(client, hide.id)
    assert "The time to undo this action has passed." in text_of(client.get(refused.headers["Location"]))
    assert statuses(app)["Elon Musk"] == (SignatureStatus.HIDDEN, RemovalReason.FAKE)


def test_the_undo_goes_back_only_to_this_sites_moderation_pages(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    [one] = flagged(app, letter.id, ["Elon Musk"])
    post_action(client, action="hide", reason="fake", signature=[one])
    [hide] = audit(app)
    answer = undo(client, hide.id, back="https://evil.example/moderate/")
    assert answer.headers["Location"] == "/moderate/audit"
    assert undo(client, 999).status_code == 303  # an unknown entry: a message, not an error page


@pytest.mark.engines
def test_the_purge_drops_what_undo_needed_once_the_time_has_passed(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    [one] = flagged(app, letter.id, ["Elon Musk"])
    post_action(client, action="hide", reason="fake", note="A private note", signature=[one])
    policy = retention.policy_from_config(app.config)
    with app.app_context(), db.transaction() as session:
        assert retention.purge(session, policy, now=utcnow()).undos == 0
        assert retention.purge(session, policy, now=utcnow() + timedelta(minutes=31)).undos == 1


# --- context to judge ------------------------------------------------------------------------


def test_held_signatures_say_why_with_the_facts_recorded(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    now = utcnow()

    def make(session: Session) -> None:
        held = SignatureStatus.SUSPECT
        factories.signer(
            session, letter.id, held, name="Quick", suspect_reason=SuspectReason.TOO_FAST, fill_seconds=1.24
        )
        factories.signer(session, letter.id, held, name="Trapped", suspect_reason=SuspectReason.HONEYPOT)
        factories.signer(session, letter.id, held, name="Stampless", suspect_reason=SuspectReason.NO_FORM_TIME)
        for n in range(12):
            factories.signer(
                session,
                letter.id,
                held,
                name=f"Flood {n}",
                suspect_reason=SuspectReason.NETWORK_FLOOD,
                network_hash="one-network",
                created_at=now - timedelta(minutes=5) + timedelta(seconds=25 * n + 5 * (n == 11)),
            )

    build(app, make)
    text = text_of(client.get(f"{QUEUE}?view=held"))
    assert "Held: Sent 1.2 s after the form loaded." in text
    assert "Held: A field that people do not see (a trap for bots) was filled in." in text
    assert "Held: Sent without the form's time stamp, or with a forged one" in text
    assert "Held: 12 signatures from this network in 5 minutes." in text
    assert "Signed 30 seconds after the previous one from the same network." in text
    assert "(too_fast)" not in text and "too_fast" not in text and "honeypot" not in text
    korean = text_of(client.get(f"{QUEUE}?view=held&lang=ko"))
    assert "양식이 열린 지 1.2초 만에 보냈습니다." in korean
    assert "이 네트워크에서 5분 동안 서명 12건." in korean


def test_each_row_shows_where_from_whom_and_the_links_to_compare(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    now = utcnow()

    def make(session: Session) -> dict[str, int]:
        kim = factories.signer(
            session,
            letter.id,
            name="김하늘",
            affiliation="Seoul National University",
            country="KR",
            city="Seoul",
            confirmed_domain="snu.ac.kr",
            network_hash="office",
            created_at=now - timedelta(minutes=3),
            verified=True,
        )
        factories.flag(session, kim, FlagKind.REPORT, reason="fake", details="She told me she did not sign.")
        same_network = factories.signer(session, letter.id, name="Colleague", network_hash="office", created_at=now)
        elsewhere = factories.signer(session, letter.id, name="Stranger", network_hash="home", created_at=now)
        jane = factories.signer(session, letter.id, name="Jane Doe", created_at=now - timedelta(hours=2))
        again = factories.signer(session, letter.id, name="jane  DOE.", created_at=now - timedelta(hours=1))
        factories.flag(session, again, FlagKind.SIMILAR_NAMES)
        late = factories.signer(
            session, letter.id, name="Jane Doe", email="late@example.org", created_at=now - timedelta(days=3)
        )
        return {
            "kim": kim.id,
            "colleague": same_network.id,
            "stranger": elsewhere.id,
            "jane": jane.id,
            "again": again.id,
            "late": late.id,
        }

    ids = build(app, make)
    page = client.get(f"{QUEUE}?view=flagged")
    row = text_of(page)
    assert "Seoul National University" in row and "Seoul, South Korea" in row and "confirmed via @snu.ac.kr" in row
    assert "Reported as fake: this person did not sign. The reporter wrote: She told me she did not sign." in row
    assert "How the identity was checked Checked by phone" in row  # the verification note, in the details
    assert "2 signatures from this network in 3 minutes." in row
    html = page.get_data(as_text=True)
    assert f'href="{QUEUE}?view=all&amp;same_network={ids["kim"]}"' in html
    assert f'href="{QUEUE}?view=all&amp;same_name={ids["again"]}"' in html
    network = client.get(f"{QUEUE}?view=all&same_network={ids['kim']}").get_data(as_text=True)
    assert 'data-signature="{}"'.format(ids["colleague"]) in network and "Stranger" not in network
    assert "Showing the signatures from the same network as" in network
    names = client.get(f"{QUEUE}?view=all&same_name={ids['again']}").get_data(as_text=True)
    found = {int(i) for i in re.findall(r'data-signature="(\d+)"', names)}
    assert found == {ids["jane"], ids["again"]}  # not the one three days before, nor anyone else
    one = client.get(f"{QUEUE}?view=all&signature={ids['stranger']}").get_data(as_text=True)
    assert re.findall(r'data-signature="(\d+)"', one) == [str(ids["stranger"])]
    assert client.get(f"{QUEUE}?view=all&same_name=abc").status_code == 400


@pytest.mark.settings(SIGN_MIN_SECONDS=3)
def test_signing_records_how_long_the_form_was_open(
    app: Flask, client: FlaskClient, letter: Letter, clock: Any
) -> None:
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    started = re.search(r'name="started"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="started"', page
    )
    assert started
    clock.advance(42.5)
    assert sign(client, SLUG, email="slow@example.org", started=started.group(1)).status_code == 303
    clock.advance(1)
    assert (
        sign(
            client, SLUG, email="quick@example.org", website="http://spam.example", started=started.group(1)
        ).status_code
        == 303
    )
    with app.app_context():
        seconds = dict(db.session.execute(sa.select(Signature.email, Signature.fill_seconds)).all())
    assert seconds == {"slow@example.org": pytest.approx(42.5, abs=1), "quick@example.org": pytest.approx(43.5, abs=1)}


# --- the audit log ---------------------------------------------------------------------------


@pytest.mark.engines
def test_the_audit_log_reads_in_words_with_names_links_and_filters(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator, create_moderator: Callable[..., Moderator]
) -> None:
    ids = flagged(app, letter.id, ["Elon Musk", "Sam Altman", "Ada Lovelace"])
    token = csrf_token(client, QUEUE)
    client.post(f"{QUEUE}/signatures/{ids[0]}/decide", data={"csrf_token": token, "decision": "fake"})
    confirm(
        client, post_action(client, action="delete", reason="duplicate", note="=cmd|' /C calc'!A0", signature=[ids[1]])
    )
    page = client.get("/moderate/audit")
    text = text_of(page)
    html = page.get_data(as_text=True)
    assert "Hidden mod@example.org" not in text  # who and what are in their own columns
    assert re.search(r"just now \w{3} \d{1,2}, \d{4} \d\d:\d\d UTC", text)  # relative and absolute
    assert " PM" not in text and " AM" not in text
    assert "Hidden" in text and "Deleted for good" in text and "fake" in text
    assert f'<a href="{QUEUE}?view=all&amp;signature={ids[0]}">Elon Musk</a>' in html
    assert f"#{ids[1]} (erased)" in text  # deleted: its id, no name
    assert "Sam Altman" not in text
    # Filters: moderator, action, letter and date.
    create_moderator("other@example.org")
    colleague = app.test_client()
    log_in(colleague, "other@example.org")
    colleague.post(
        f"{QUEUE}/signatures/{ids[2]}/decide", data={"csrf_token": csrf_token(colleague, QUEUE), "decision": "fine"}
    )
    by_colleague = text_of(client.get("/moderate/audit?moderator=other@example.org"))
    assert "Flags dismissed" in by_colleague and "Ada Lovelace" in by_colleague and "Elon Musk" not in by_colleague
    assert text_of(client.get("/moderate/audit?action=hide")).count("Elon Musk") == 1
    today = utcnow().date()
    assert (
        client.get(f"/moderate/audit?since={today}&until={today}").get_data(as_text=True).count('class="audit-entry"')
        == 3
    )
    later = (today + timedelta(days=1)).isoformat()
    assert client.get(f"/moderate/audit?since={later}").get_data(as_text=True).count('class="audit-entry"') == 0
    assert (
        client.get(f"/moderate/audit?letter={SLUG}&action=delete").get_data(as_text=True).count('class="audit-entry"')
        == 1
    )
    assert client.get("/moderate/audit?since=yesterday").status_code == 400
    # The same entries as CSV: UTF-8 with a byte order mark, no formula runs in a spreadsheet.
    response = client.get(f"/moderate/audit.csv?letter={SLUG}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [(r["action"], r["action_in_words"], r["letter"], r["moderator"]) for r in rows] == [
        ("dismiss", "Flags dismissed", SLUG, "other@example.org"),
        ("delete", "Deleted for good", SLUG, "mod@example.org"),
        ("hide", "Hidden", SLUG, "mod@example.org"),
    ]
    assert rows[1]["reason"] == "duplicate =cmd|' /C calc'!A0" and rows[2]["signature_ids"] == str(ids[0])
    korean = client.get("/moderate/audit.csv?lang=ko").get_data().decode("utf-8-sig")
    assert "영구 삭제" in korean


def test_the_audit_csv_guards_every_cell_against_formulas(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    [one] = flagged(app, letter.id, ["Elon Musk"])
    client.post(
        f"{QUEUE}/signatures/{one}/decide",
        data={"csrf_token": csrf_token(client, QUEUE), "decision": "verify", "note": '=HYPERLINK("http://x")'},
    )
    rows = list(csv.DictReader(io.StringIO(client.get("/moderate/audit.csv").get_data().decode("utf-8-sig"))))
    assert rows[0]["reason"] == '\'=HYPERLINK("http://x")'


# --- in the moderator's language -------------------------------------------------------------


def test_the_queue_the_preview_and_the_log_read_in_korean_without_codes_or_am_pm(
    app: Flask, client: FlaskClient, letter: Letter, moderator: Moderator
) -> None:
    ids = flagged(app, letter.id, ["Elon Musk", "Sam Altman"])
    build(app, lambda s: factories.signer(s, letter.id, SignatureStatus.SUSPECT, name="Quick", fill_seconds=0.5))
    # Chosen in the address, the language stays in every form and link of the queue.
    chosen = client.get(f"{QUEUE}?view=all&lang=ko").get_data(as_text=True)
    assert f'action="{QUEUE}/signatures/{ids[0]}/decide?view=all&amp;lang=ko"' in chosen
    assert f'action="{QUEUE}/actions?view=all&amp;lang=ko"' in chosen
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko-KR,ko;q=0.9"  # a moderator whose browser speaks Korean
    queue = client.get(f"{QUEUE}?view=all")
    text = text_of(queue)
    for code in ("confirmed", "suspect", "honeypot", "watchlist", "Looks fine", "Hide as fake", "Status"):
        assert code not in text, code
    for word in ("PM", "AM", "오후", "오전"):
        assert word not in text, word
    assert "확인됨" in text and "가짜로 숨기기" in text and "괜찮음" in text
    preview = post_action(client, action="hide", reason="fake", signature=ids)
    assert "숨기기: 서명 2건?" in text_of(preview) and "가짜" in text_of(preview)
    confirm(client, preview)
    log = text_of(client.get("/moderate/audit"))
    assert "숨김" in log and "방금" in log and "hide" not in log and "PM" not in log and "오후" not in log
