"""Flagged until reviewed: a name on the watch list, or a disposable address, counts at once but is
listed only once a moderator approves it (or dismisses its flags), in post-moderation too.

Every public reader asks one question (``Signature.listed``): the letter page and its newest
signers, the list and its search, the API, the downloads, the signer's page, the report form, the
public log's openings and its snapshots. The count, the goal and the ledger go on counting it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import log
from app.db import db, utcnow
from app.errors import DomainError
from app.models import (
    Flag,
    FlagKind,
    Letter,
    LogEvent,
    Moderator,
    Organisation,
    OutboxMessage,
    RemovalReason,
    Signature,
    SignatureStatus,
)
from app.services import counting, moderation, reports
from app.services.moderation import Action
from app.services.queries import export, ledger, listing, search
from app.worker import sequence_logs
from tests import factories
from tests.factories import log_in, sign_and_confirm
from tests.support import csrf_token, path_of, press, recorded_sql, sign
from tests.test_log import moderate

pytestmark = pytest.mark.engines

SLUG = "test-letter"
WATCHED = "Elon Musk"
# Pages and files read afresh on every request, so that each assertion sees the change just made.
FRESH_SETTINGS = {"PAGE_CACHE_SECONDS": 0, "EXPORT_CACHE_SECONDS": 0, "RATELIMIT_DOWNLOADS_PER_NETWORK": "100 per hour"}
FRESH = pytest.mark.settings(**FRESH_SETTINGS)


def watch(app: Flask, name: str = WATCHED) -> None:
    """Put ``name`` on the watch list (the migration seeds public figures; a test says so itself)."""
    with app.app_context(), db.transaction() as session:
        factories.watched_name(session, name)


def shown_to_the_public(client: FlaskClient, name: str) -> dict[str, bool]:
    """Whether ``name`` appears in each public reader of the letter's signers."""
    readers = {
        "letter page": f"/letters/{SLUG}",
        "newest signers": f"/letters/{SLUG}/newest",
        "list": f"/letters/{SLUG}/signatures",
        # (A search page repeats the words searched for: it searches for the surname alone.)
        "list search": f"/letters/{SLUG}/signatures?q={name.split()[-1]}",
        "API list": f"/api/v1/letters/{SLUG}/signatures",
        "API search": f"/api/v1/letters/{SLUG}/signatures?q={name.split()[-1]}",
        "CSV download": f"/letters/{SLUG}/signatures.csv",
        "JSON download": f"/letters/{SLUG}/signatures.json",
        "log entries": f"/api/v1/letters/{SLUG}/log/entries",
        "embed": f"/letters/{SLUG}/embed",
        "badge": f"/letters/{SLUG}/badge.svg",
        "updates feed": f"/letters/{SLUG}/updates.atom",
    }
    found = {}
    for reader, path in readers.items():
        with client.get(path) as response:  # the downloads are files: closed when read
            assert response.status_code == 200, (reader, response.status_code)
            found[reader] = name in response.get_data(as_text=True)
    return found


def numbers(client: FlaskClient) -> tuple[int, dict[str, Any]]:
    """The count and the public moderation numbers, as the API gives them."""
    data = client.get(f"/api/v1/letters/{SLUG}").get_json()
    return data["signature_count"], data["moderation"]


def latest_events(app: Flask, signature_id: int) -> list[tuple[str, bool, bool]]:
    """The signature's log events in order: (event, listed, opened)."""
    with app.app_context():
        rows = db.session.scalars(
            sa.select(LogEvent).where(LogEvent.signature_id == signature_id).order_by(LogEvent.id)
        ).all()
        return [(row.event, row.listed, row.fields is not None) for row in rows]


def checks_out(runner: FlaskCliRunner) -> None:
    """The stored count, tallies and log agree with the signatures."""
    recount = runner.invoke(args=["letter", "recount", SLUG])
    assert recount.exit_code == 0, recount.output
    with runner.app.app_context():
        sequence_logs()
    verified = runner.invoke(args=["log", "verify", SLUG])
    assert verified.exit_code == 0, verified.output


@FRESH
def test_a_watch_listed_name_counts_but_stays_off_every_public_list_until_a_moderator_approves_it(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    watch(app)
    sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    signed = sign_and_confirm(app, client, "elon@example.net", name=WATCHED, affiliation="Tesla")
    elon = signed.id
    # The signer is told their signature counts and that the name waits for the organisers.
    assert "You are signer no. 2." in signed.page
    assert "once the organisers have reviewed it" in signed.page
    assert f"/letters/{SLUG}/signatures/{elon}" not in signed.page  # no link to an entry that is not there

    count, moderation = numbers(client)
    assert count == 2 and moderation["awaiting_review"] == 1 and moderation["awaiting_review_counted"] == 1
    assert not any(shown_to_the_public(client, WATCHED).values())
    assert shown_to_the_public(client, "Ada Lovelace")["list search"]
    # Its own addresses answer as for a signature that is not on the list.
    api = client.get(f"/api/v1/letters/{SLUG}/signatures/{elon}")
    assert api.status_code == 404 and api.get_json()["error"] == "not_listed"
    assert client.get(f"/letters/{SLUG}/signatures/{elon}").status_code == 404
    assert client.get(f"/letters/{SLUG}/signatures/{elon}/report").status_code == 404
    # The log counts it without naming it, and the ledger says one waits.
    assert latest_events(app, elon) == [("add", False, False)]
    checks_out(runner)
    ledger_page = client.get(f"/letters/{SLUG}/log").get_data(as_text=True)
    assert 'data-ledger="awaiting_review">1<' in ledger_page
    assert (
        'data-ledger="awaiting_review_counted">1<' in ledger_page
        and "Of these, counted but not yet listed" in ledger_page
    )
    assert WATCHED not in ledger_page
    assert "1 awaiting review" in client.get(f"/letters/{SLUG}").get_data(as_text=True)

    # The moderator sees that approving publishes the name, and approves it.
    create_moderator()
    assert log_in(client).status_code == 303
    queue = client.get(f"/moderate/letters/{SLUG}").get_data(as_text=True)
    assert "<strong>Awaiting review:</strong> counted, not yet on the public list." in queue
    assert "The name matches “Elon Musk” on the watch list." in queue
    token = csrf_token(client, f"/moderate/letters/{SLUG}")
    data = {"csrf_token": token, "action": "approve", "signature": [str(elon)]}
    assert client.post(f"/moderate/letters/{SLUG}/actions", data=data).status_code == 303
    assert "counted, not yet on the public list" not in client.get(f"/moderate/letters/{SLUG}").get_data(as_text=True)
    assert log_out(client)

    assert numbers(client) == (2, moderation | {"awaiting_review": 0, "awaiting_review_counted": 0})
    assert all(
        shown_to_the_public(client, WATCHED)[reader] for reader in ("letter page", "list", "API list", "CSV download")
    )
    assert client.get(f"/api/v1/letters/{SLUG}/signatures/{elon}").get_json()["name"] == WATCHED
    # An update opens the name in the log: verifiers know it, and the list matches the log.
    assert latest_events(app, elon) == [("add", False, False), ("update", True, True)]
    checks_out(runner)
    assert "Awaiting review" not in client.get(f"/letters/{SLUG}/log").get_data(as_text=True)


def log_out(client: FlaskClient) -> bool:
    """Sign the moderator out, so the pages that follow are the public's."""
    return client.post("/moderate/logout", data={"csrf_token": csrf_token(client, "/moderate")}).status_code == 303


@FRESH
def test_a_disposable_address_waits_too_and_dismissing_its_flag_lists_it(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    throwaway = sign_and_confirm(app, client, "x@mailinator.com", name="Throwaway Person").id
    assert numbers(client)[0] == 1 and not shown_to_the_public(client, "Throwaway Person")["list"]
    checks_out(runner)
    moderate(app, letter, Action.DISMISS, [throwaway])
    assert shown_to_the_public(client, "Throwaway Person")["list"]
    assert latest_events(app, throwaway) == [("add", False, False), ("update", True, True)]
    checks_out(runner)


@pytest.mark.settings(**FRESH_SETTINGS, FLAG_NETWORK_BURST="1 per hour")
def test_reports_and_the_other_flags_never_take_a_signer_off_the_list(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    """Only the watch list and disposable addresses wait for review: a report must never hide a real signer."""
    with app.app_context(), db.transaction() as session:
        session.add(Organisation(domain="example.edu", name="Example University"))
    sign_and_confirm(app, client, "one@example.org", name="Grace Hopper")
    # The same name again (similar names), from the same network again (a burst), and an
    # affiliation with an organisation the address is not at.
    sign_and_confirm(app, client, "two@example.org", name="Grace Hopper", affiliation="Example University")
    with app.app_context():
        raised = {flag.kind for flag in db.session.scalars(sa.select(Flag))}
        ids = list(db.session.scalars(sa.select(Signature.id).order_by(Signature.id)))
    assert {FlagKind.SIMILAR_NAMES, FlagKind.NETWORK_BURST, FlagKind.AFFILIATION} <= raised
    assert FlagKind.WATCHLIST not in raised and FlagKind.DISPOSABLE not in raised
    listed = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]
    assert sorted(s["id"] for s in listed) == ids
    # A report puts the signature in the queue and leaves it listed.
    report = {"reason": "fake", "csrf_token": csrf_token(client, f"/letters/{SLUG}/resend")}
    assert client.post(f"/letters/{SLUG}/signatures/{ids[0]}/report", data=report).status_code == 303
    assert client.get(f"/api/v1/letters/{SLUG}/signatures/{ids[0]}").status_code == 200
    assert numbers(client)[1]["awaiting_review"] == 0
    checks_out(runner)


@pytest.mark.settings(**FRESH_SETTINGS, LIST_FLAGGED=True)
def test_with_list_flagged_a_watch_listed_name_is_listed_at_once_and_still_flagged(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    watch(app)
    elon = sign_and_confirm(app, client, "elon@example.net", name=WATCHED).id
    assert shown_to_the_public(client, WATCHED)["letter page"]
    assert client.get(f"/api/v1/letters/{SLUG}/signatures/{elon}").status_code == 200
    assert numbers(client)[1]["awaiting_review"] == 0
    assert latest_events(app, elon) == [("add", True, True)]
    with app.app_context():
        assert db.session.scalars(sa.select(Flag.kind).where(Flag.signature_id == elon)).all() == [FlagKind.WATCHLIST]
    checks_out(runner)


@FRESH
def test_in_pre_moderation_approving_a_watch_listed_name_counts_and_lists_it_at_once(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    watch(app)
    with app.app_context(), db.transaction() as session:
        session.execute(sa.update(Letter).values(moderation_mode="pre"))
    elon = sign_and_confirm(app, client, "elon@example.net", name=WATCHED).id
    assert numbers(client) == (0, numbers(client)[1] | {"awaiting_review": 1, "awaiting_review_counted": 0})
    moderate(app, letter, Action.APPROVE, [elon])
    assert numbers(client)[0] == 1 and shown_to_the_public(client, WATCHED)["list"]
    assert latest_events(app, elon) == [("add", True, True)]  # one entry: counted and named together
    checks_out(runner)


@FRESH
def test_hiding_keeps_it_off_and_never_opens_the_name_restoring_lists_it(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    watch(app)
    elon = sign_and_confirm(app, client, "elon@example.net", name=WATCHED).id
    moderate(app, letter, Action.HIDE, [elon], reason=RemovalReason.FAKE)
    count, moderation = numbers(client)
    assert count == 0 and moderation["awaiting_review_counted"] == 0 and moderation["removed"]["fake"] == 1
    assert latest_events(app, elon) == [("add", False, False), ("hide", False, False)]
    assert not any(shown_to_the_public(client, WATCHED).values())
    checks_out(runner)
    moderate(app, letter, Action.RESTORE, [elon])
    assert shown_to_the_public(client, WATCHED)["list"] and numbers(client)[0] == 1
    assert latest_events(app, elon)[-1] == ("restore", True, True)
    checks_out(runner)


@FRESH
def test_withdrawing_or_deleting_while_awaiting_review_keeps_the_numbers_exact(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    watch(app)
    withdrawn = sign_and_confirm(app, client, "elon@example.net", name=WATCHED)
    deleted = sign_and_confirm(app, client, "elon2@example.net", name=WATCHED).id
    assert numbers(client)[1]["awaiting_review_counted"] == 2
    assert (
        client.post(withdrawn.withdraw, data={"csrf_token": csrf_token(client, withdrawn.withdraw)}).status_code == 200
    )
    moderate(app, letter, Action.DELETE, [deleted], reason=RemovalReason.DUPLICATE)
    count, moderation = numbers(client)
    assert count == 0 and moderation["awaiting_review"] == 0 and moderation["awaiting_review_counted"] == 0
    assert moderation["removed"] | {} == moderation["removed"] and moderation["removed"]["withdrawn"] == 1
    checks_out(runner)


@FRESH
def test_signing_again_under_another_name_before_confirming_still_waits_for_review(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    """The watch-list flag stays open in the queue, so a change of details does not slip past it."""
    watch(app)
    assert sign(client, SLUG, name=WATCHED, email="elon@example.net").status_code == 303
    assert sign(client, SLUG, name="Someone Ordinary", email="elon@example.net").status_code == 303
    with app.app_context():
        body = db.session.scalars(
            sa.select(OutboxMessage.body_text).order_by(OutboxMessage.id.desc()).limit(1)
        ).one()  # the latest mail: its link confirms the details signed last
    assert "Someone Ordinary" in body
    confirm = path_of(re.search(r"https?://\S+/confirm/\S+", body).group(0))  # type: ignore[union-attr]
    assert press(client, confirm, "Confirm my signature").status_code == 200
    [signed] = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"] or [None]
    assert signed is None and numbers(client) == (1, numbers(client)[1])
    assert numbers(client)[1]["awaiting_review_counted"] == 1


# --- the read side, on both databases ----------------------------------------------------------


@pytest.fixture
def waiting(session: Any, letter: Letter) -> dict[str, int]:
    """A listed signer and one counted while awaiting review, with the same surname."""
    listed = factories.signer(session, letter.id, name="Ada Lovelace", comment="Listed")
    unlisted = factories.signer(session, letter.id, name="Ava Lovelace", unlisted_until_review=True)
    return {"listed": listed.id, "unlisted": unlisted.id}


def test_every_public_query_leaves_out_a_signature_awaiting_review(
    session: Any, letter: Letter, waiting: dict[str, int]
) -> None:
    listed = [waiting["listed"]]
    assert [s.id for s in listing.public_signatures(session, letter.id, limit=10).signatures] == listed
    assert [
        s.id for s in listing.public_signatures(session, letter.id, limit=10, query="Lovelace").signatures
    ] == listed
    assert [s.id for s in listing.public_signatures(session, letter.id, limit=10, query="Av").signatures] == []
    assert search.few_matching_ids(session, letter.id, "Lovelace") == listed
    assert listing.public_signature(session, letter.id, waiting["unlisted"]) is None
    assert [row["name"] for row in export.public_rows(session, letter.id)] == ["Ada Lovelace"]
    csv_text = "".join(export.public_csv(session, letter.id))
    assert "Ada Lovelace" in csv_text and "Ava Lovelace" not in csv_text
    with pytest.raises(DomainError):
        reports.reportable_signature(session, letter, waiting["unlisted"])
    # Counted all the same, and said so in the ledger; the recount agrees.
    current = session.get(Letter, letter.id)
    assert current.signature_count == 2
    numbers = ledger.ledger(session, current)
    assert (numbers.awaiting_review, numbers.awaiting_review_counted, numbers.shows_awaiting_review) == (1, 1, True)
    assert counting.recount(session, current, now=utcnow()).exact
    # One predicate decides, in Python and in SQL alike.
    unlisted = session.get(Signature, waiting["unlisted"])
    assert not unlisted.listed and session.get(Signature, waiting["listed"]).listed
    assert session.scalars(sa.select(Signature.id).where(Signature.listed)).all() == listed


def test_the_public_list_reads_one_range_of_the_listing_index(
    app: Flask, letter: Letter, session: Any, waiting: dict[str, int]
) -> None:
    """Signatures awaiting review sit in a range of their own: the newest page is an index range, never a sort."""
    with recorded_sql(app) as seen:
        listing.public_signatures(session, letter.id, limit=10)
    # The list's own statement (the letter's names_hidden may be read first, if it is not loaded yet).
    (statement,) = [
        item for item in seen if item[0].lstrip().upper().startswith("SELECT") and "FROM signatures" in item[0]
    ]
    text, parameters = statement
    raw = session.connection().connection.driver_connection
    cursor = raw.cursor()
    if app.config["DATABASE_URL"].startswith("sqlite"):
        cursor.execute("EXPLAIN QUERY PLAN " + text, parameters)
        plan = str(cursor.fetchall())
        assert "ix_signatures_listing (letter_id=? AND status=? AND unlisted_until_review=?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        # Whatever else the planner could do, it must be able to read the order from the index.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + text, parameters)
        plan = str(cursor.fetchall())
        assert "ix_signatures_listing" in plan and "unlisted_until_review = false" in plan, plan
        assert "Sort" not in plan, plan


def test_the_log_says_counted_not_named_and_opens_the_name_only_once_approved(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    watch(app)
    elon = sign_and_confirm(app, client, "elon@example.net", name=WATCHED).id
    with app.app_context():
        sequence_logs()
    assert runner.invoke(args=["log", "snapshot"]).exit_code == 0
    day = utcnow().date().isoformat()
    snapshot = client.get(f"/letters/{SLUG}/snapshots/{day}.json").get_data(as_text=True)
    assert json.loads(snapshot)["signatures"] == [] and WATCHED not in snapshot
    [entry] = client.get(f"/api/v1/letters/{SLUG}/log/entries").get_json()["entries"]
    assert json.loads(entry["leaf"]) | {"at": None} == {
        "v": log.VERSION,
        "event": "add",
        "signature": elon,
        "at": None,
        "listed": False,
        "commitment": None,
    }
    assert entry["fields"] is None and entry["salt"] is None


def act_and_undo(app: Flask, letter: Letter, action: Action, ids: list[int], **options: Any) -> None:
    """A moderator's action through the service, then its undo from the banner (within the time allowed)."""
    with app.app_context(), db.transaction() as session:
        moderator = factories.moderator(session, "undo@example.org")
        current = session.get(Letter, letter.id)
        assert current is not None
        outcome = moderation.act(session, moderator, current, action, ids, now=utcnow(), **options)
        assert outcome.changed == len(ids) and outcome.undoable and outcome.entry_id is not None
        entry_id, moderator_id = outcome.entry_id, moderator.id
    with app.app_context(), db.transaction() as session:
        moderator = session.get(Moderator, moderator_id)
        assert moderator is not None
        moderation.undo(session, moderator, entry_id, now=utcnow(), window=timedelta(minutes=30))


@FRESH
@pytest.mark.parametrize(
    ("action", "options"),
    [(Action.APPROVE, {}), (Action.DISMISS, {}), (Action.HIDE, {"reason": RemovalReason.FAKE})],
)
def test_an_undone_decision_puts_the_signature_back_to_awaiting_review_and_the_name_off_the_log(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    letter: Letter,
    action: Action,
    options: dict[str, Any],
) -> None:
    watch(app)
    elon = sign_and_confirm(app, client, "elon@example.net", name=WATCHED).id
    before = numbers(client)
    act_and_undo(app, letter, action, [elon], **options)
    assert numbers(client) == before  # counted, one awaiting review, nothing removed
    assert not any(shown_to_the_public(client, WATCHED).values())
    # Whatever the decision had opened in the log is withdrawn; the latest entry counts it unnamed.
    assert latest_events(app, elon)[-1][:2] in {("update", False), ("restore", False)}
    assert not any(opened for _event, _listed, opened in latest_events(app, elon))
    checks_out(runner)
    # Its flag is open again: a moderator can still decide, and approving lists it.
    moderate(app, letter, Action.APPROVE, [elon])
    assert shown_to_the_public(client, WATCHED)["list"]
    checks_out(runner)


def test_the_preview_of_approving_a_signature_awaiting_review_adds_nothing_to_the_count(
    session: Any, letter: Letter
) -> None:
    waiting = factories.signer(session, letter.id, name=WATCHED, unlisted_until_review=True)
    pending = factories.signer(session, letter.id, SignatureStatus.PENDING, name="Waits For Approval")
    listed = factories.signer(session, letter.id, name="Already Listed")
    current = session.get(Letter, letter.id)
    shown = moderation.preview(session, current, Action.APPROVE, [waiting.id, pending.id, listed.id])
    assert (shown.applicable, shown.skipped, shown.count_change) == (2, 1, 1)
    assert [name for _id, name, _email in shown.first] == [WATCHED, "Waits For Approval"]
