"""A signer's own page: reached from every mail, it says where the signature stands and changes it through the log."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import db
from app.mail.links import page_token
from app.models import (
    Flag,
    FlagKind,
    Letter,
    LetterDomainTally,
    LogEvent,
    Organisation,
    OutboxMessage,
    RemovalReason,
    Signature,
    SignatureStatus,
)
from app.services.moderation import Action
from app.worker import sequence_logs
from tests import factories
from tests.factories import sign_and_confirm
from tests.support import (
    SMTPSink,
    count,
    csrf_token,
    deliver_mail,
    execute,
    link_in,
    marked_settings,
    one,
    path_of,
    recount,
    rows,
    sign,
    smtp_settings,
    text_of,
)
from tests.test_log import moderate

pytestmark = pytest.mark.engines

SLUG = "test-letter"
PAGE_LINK = r"https?://\S+/signature/\S+"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_config(smtp_sink: SMTPSink, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Deliver to the test SMTP server (plus any settings the test marks)."""
    return smtp_settings(smtp_sink) | marked_settings(request)


def page_link(message: EmailMessage) -> str:
    """The path of the signer's page in a message: the same link in its text and its HTML."""
    link = link_in(message, PAGE_LINK)
    html = message.get_body(preferencelist=("html",))
    assert html is not None and f'href="{link}"' in html.get_content()
    return path_of(link)


def own_path(app: Flask, signature_id: int) -> str:
    """The path of a stored signature's page, as its mails link to it."""
    key = one(app, Signature.page_key, id=signature_id)
    with app.app_context():
        return f"/signature/{page_token(key)}"


def edit(client: FlaskClient, page: str, **fields: Any) -> Any:
    """Send the form that changes what is shown, from the signer's page (ticked boxes as "y")."""
    path = page.replace("/signature/", "/signature/edit/", 1).split("?")[0]
    data = {"csrf_token": csrf_token(client, path), **{k: v for k, v in fields.items() if v is not False}}
    return client.post(path, data=data)


def sequence_and_verify(app: Flask, runner: FlaskCliRunner) -> str:
    with app.app_context():
        sequence_logs()
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 0, result.output
    return result.output


def test_every_mail_a_signer_gets_leads_to_one_private_page(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    address = "ada@example.org"
    assert sign(client, SLUG, email=address, name="Ada Lovelace", wants_updates="y").status_code == 303
    deliver_mail(app)
    [confirmation] = smtp_sink.messages_to(address)
    page = page_link(confirmation)
    # Before confirming: the page says so, and how.
    before = client.get(page)
    assert before.status_code == 200
    assert "Not confirmed yet" in before.get_data(as_text=True)
    assert before.headers["Cache-Control"] == "no-store"
    assert before.headers["Referrer-Policy"] == "no-referrer"
    assert before.headers["X-Robots-Tag"] == "noindex"

    confirm = path_of(link_in(confirmation))
    done = client.post(confirm, data={"csrf_token": csrf_token(client, confirm)}).get_data(as_text=True)
    assert f'href="{page.split("?")[0]}' in done  # the confirmation page links to it too
    again = client.get(confirm).get_data(as_text=True)  # the confirmation link opened later
    assert f'href="{page.split("?")[0]}' in again

    # The "already signed" note, the withdrawal link, an update and a material change: the same page.
    assert sign(client, SLUG, email=address, name="Ada Lovelace").status_code == 303
    token = csrf_token(client, f"/letters/{SLUG}/withdraw")
    client.post(f"/letters/{SLUG}/withdraw", data={"email": address, "csrf_token": token})
    (tmp_path / "update.md").write_text("# News\n\nWe met them.\n", encoding="utf-8")
    assert runner.invoke(args=["letter", "update", SLUG, str(tmp_path / "update.md")]).exit_code == 0
    (tmp_path / "v2.md").write_text(factories.LETTER_TEXT.replace("better tests", "much better tests"))
    changed = runner.invoke(args=["letter", "load", str(tmp_path / "v2.md"), "--material", "--note", "Stronger."])
    assert changed.exit_code == 0, changed.output
    deliver_mail(app)
    later = smtp_sink.messages_to(address)[1:]
    assert len(later) == 4
    assert {page_link(message) for message in later} == {page}

    shown = client.get(page).get_data(as_text=True)
    assert "Confirmed and listed" in shown and "Ada Lovelace" in shown
    assert "a***@example.org" in shown and address not in shown  # masked, as on "check your inbox"
    assert "You signed version 1 of the text." in shown and "it is now version 2" in shown
    assert f"/api/v1/letters/{SLUG}/log/proof/signature/" in shown


@pytest.mark.parametrize(
    ("status", "reason", "words"),
    [
        (SignatureStatus.CONFIRMED, None, "Confirmed and listed"),
        (SignatureStatus.PENDING, None, "Confirmed, awaiting review"),
        (SignatureStatus.HIDDEN, RemovalReason.FAKE, "could not be sure that the name is that of the person"),
        (SignatureStatus.HIDDEN, RemovalReason.DUPLICATE, "repeat another signature by the same person"),
        (SignatureStatus.HIDDEN, RemovalReason.ABUSE, "broke the rules of the letter"),
        (SignatureStatus.HIDDEN, RemovalReason.OTHER, "for another reason"),
        (SignatureStatus.UNCONFIRMED, None, "Not confirmed yet"),
    ],
)
def test_the_page_says_where_the_signature_stands_in_plain_words(
    app: Flask, client: FlaskClient, letter: Letter, status: SignatureStatus, reason: RemovalReason | None, words: str
) -> None:
    with app.app_context(), db.transaction() as session:
        signature = factories.signer(session, letter.id, status, reason=reason, moderator_note="Secret note")
        signature_id = signature.id
    page = client.get(own_path(app, signature_id)).get_data(as_text=True)
    assert words in page
    assert "Secret note" not in page  # the moderators' note stays theirs
    offers_change = "/signature/edit/" in page
    assert offers_change == (status in (SignatureStatus.CONFIRMED, SignatureStatus.PENDING))
    assert "/signature/withdraw/" in page


def test_a_change_is_listed_at_once_logged_and_verifiable(
    app: Flask, client: FlaskClient, letter: Letter, runner: FlaskCliRunner
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace", comment="First words.")
    page = own_path(app, signed.id)
    answer = edit(client, page, name="Ada King", affiliation="Analytical Society", comment="Better words.", public="y")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("done=saved")
    assert "Your changes are saved." in client.get(answer.headers["Location"]).get_data(as_text=True)

    shown = client.get(f"/api/v1/letters/{SLUG}/signatures/{signed.id}").get_json()
    assert (shown["name"], shown["affiliation"]) == ("Ada King", "Analytical Society")
    assert shown["comment"] == "Better words."
    assert "Ada King" in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    added, updated = rows(app, LogEvent, signature_id=signed.id)
    assert (added.event, updated.event, updated.listed) == ("add", "update", True)
    # The old words are served nowhere any more; the new ones are opened by the latest entry.
    assert added.fields is None and added.salt is None
    assert json.loads(updated.fields or "{}")["name"] == "Ada King"
    assert "VERIFIED" in sequence_and_verify(app, runner)
    assert recount(app, letter.id).exact

    # Sending the same details again changes nothing and logs nothing.
    same = edit(client, page, name="Ada King", affiliation="Analytical Society", comment="Better words.", public="y")
    assert same.headers["Location"].endswith("done=nothing")
    assert count(app, LogEvent, signature_id=signed.id) == 2


def test_taking_the_name_off_the_list_keeps_the_count_and_leaves_no_opening(
    app: Flask, client: FlaskClient, letter: Letter, runner: FlaskCliRunner
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    assert edit(client, own_path(app, signed.id), name="Ada Lovelace").status_code == 303  # public unticked
    assert client.get(f"/api/v1/letters/{SLUG}/signatures/{signed.id}").status_code == 404
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 1
    events = rows(app, LogEvent, signature_id=signed.id)
    assert [(e.event, e.listed) for e in events] == [("add", True), ("update", False)]
    assert all(e.fields is None and e.salt is None for e in events)
    assert all("Ada" not in e.leaf for e in events)
    sequence_and_verify(app, runner)
    page = client.get(own_path(app, signed.id)).get_data(as_text=True)
    assert "Confirmed, not listed" in page


def test_a_new_name_meets_the_same_flags_as_a_new_signature(
    app: Flask, client: FlaskClient, letter: Letter, runner: FlaskCliRunner
) -> None:
    # "Elon Musk" is on the watch list the migrations seed.
    execute(app, sa.insert(Organisation).values(domain="example.edu", name="Example University"))
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    assert count(app, Flag, signature_id=signed.id) == 0
    page = own_path(app, signed.id)
    answer = edit(client, page, name="Elon Musk", affiliation="Example University", public="y")
    assert answer.headers["Location"].endswith("done=flagged")
    kinds = set(rows(app, Flag.kind, signature_id=signed.id))
    assert kinds == {FlagKind.WATCHLIST, FlagKind.AFFILIATION}
    # A watch-listed name is held as at signing: still counted, off every public list until reviewed,
    # and the log's update names no one.
    api = f"/api/v1/letters/{SLUG}"
    assert client.get(f"{api}/signatures/{signed.id}").status_code == 404
    assert client.get(api).get_json()["signature_count"] == 1
    assert "Elon Musk" not in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert [(e.event, e.listed) for e in rows(app, LogEvent, signature_id=signed.id)] == [
        ("add", True),
        ("update", False),
    ]
    assert "Elon Musk" not in client.get(f"{api}/log/entries?start=0").get_data(as_text=True)
    sequence_and_verify(app, runner)
    flagged_page = client.get(f"{page}?done=flagged").get_data(as_text=True)
    assert "off the public list until a moderator" in flagged_page
    assert "Counted, off the list until reviewed" in flagged_page and "Confirmed and listed" not in flagged_page

    moderate(app, letter, Action.APPROVE, [signed.id])
    assert client.get(f"{api}/signatures/{signed.id}").get_json()["name"] == "Elon Musk"
    sequence_and_verify(app, runner)


@pytest.mark.settings(LIST_FLAGGED=True)
def test_with_list_flagged_a_new_watch_listed_name_stays_listed_and_flagged(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    answer = edit(client, own_path(app, signed.id), name="Elon Musk", public="y")
    assert answer.headers["Location"].endswith("done=saved")
    assert set(rows(app, Flag.kind, signature_id=signed.id)) == {FlagKind.WATCHLIST}
    assert client.get(f"/api/v1/letters/{SLUG}/signatures/{signed.id}").get_json()["name"] == "Elon Musk"


def test_in_pre_moderation_a_change_goes_back_to_the_moderators(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, create_letter: Callable[..., Letter]
) -> None:
    letter = create_letter(moderation_mode="pre")
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace", comment="Some words.")
    moderate(app, letter, Action.APPROVE, [signed.id])
    page = own_path(app, signed.id)
    form = client.get(page.replace("/signature/", "/signature/edit/")).get_data(as_text=True)
    assert "review every signature before it is listed" in form and "Changes show on the list at once" not in form

    # Taking something away needs nobody's review: still listed, the change logged.
    answer = edit(client, page, name="Ada Lovelace", public="y", comment="")
    assert answer.headers["Location"].endswith("done=saved")
    assert client.get(f"/api/v1/letters/{SLUG}/signatures/{signed.id}").get_json()["comment"] is None
    # A new name does: off the list and the count until a moderator looks again.
    answer = edit(client, page, name="Ada King", public="y")
    assert answer.headers["Location"].endswith("done=review")
    assert one(app, Signature.status, id=signed.id) == SignatureStatus.PENDING
    api = client.get(f"/api/v1/letters/{SLUG}").get_json()
    assert api["signature_count"] == 0 and api["moderation"]["awaiting_review"] == 1
    assert [e.event for e in rows(app, LogEvent, signature_id=signed.id)] == ["add", "update", "hide"]
    assert recount(app, letter.id).exact
    assert "Confirmed, awaiting review" in client.get(page).get_data(as_text=True)
    moderate(app, letter, Action.APPROVE, [signed.id])
    assert client.get(f"/api/v1/letters/{SLUG}/signatures/{signed.id}").get_json()["name"] == "Ada King"
    sequence_and_verify(app, runner)


def test_showing_or_hiding_the_domain_keeps_the_organisations_tally(
    app: Flask, client: FlaskClient, letter: Letter, runner: FlaskCliRunner
) -> None:
    signed = sign_and_confirm(app, client, "ada@cs.example.edu", name="Ada Lovelace")
    page = own_path(app, signed.id)
    edit(client, page, name="Ada Lovelace", public="y", show_domain="y")
    assert one(app, Signature.confirmed_domain, id=signed.id) == "cs.example.edu"
    assert one(app, LetterDomainTally.value, letter_id=letter.id) == 1
    shown = client.get(f"/api/v1/letters/{SLUG}/signatures/{signed.id}").get_json()
    assert shown["confirmed_domain"] == "cs.example.edu"
    edit(client, page, name="Ada Lovelace", public="y")
    assert one(app, Signature.confirmed_domain, id=signed.id) is None
    assert one(app, LetterDomainTally.value, letter_id=letter.id) == 0
    assert recount(app, letter.id).exact
    sequence_and_verify(app, runner)


def test_updates_are_started_and_stopped_from_the_page(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    page = own_path(app, signed.id)
    updates_path = page.replace("/signature/", "/signature/updates/")
    token = csrf_token(client, page)
    assert client.post(updates_path, data={"wanted": "yes"}).status_code == 400  # no CSRF token, no change
    answer = client.post(updates_path, data={"csrf_token": token, "wanted": "yes"})
    assert answer.status_code == 303 and one(app, Signature.wants_updates, id=signed.id) is True
    with app.app_context(), db.transaction() as session:
        factories.update(session, letter.id)
    with app.app_context():
        from app.jobs import Settings, run_due

        run_due(Settings.from_config(app.config), worker_id="test")  # the update's mail, not sent yet
    assert count(app, OutboxMessage, signature_id=signed.id, kind="update") == 1
    client.post(updates_path, data={"csrf_token": token, "wanted": "no"})
    assert one(app, Signature.wants_updates, id=signed.id) is False
    assert count(app, OutboxMessage, signature_id=signed.id, kind="update") == 0  # and what waited is dropped
    assert "You will not get any more updates" in client.get(page + "?done=updates-off").get_data(as_text=True)


def test_withdrawing_from_the_page_erases_the_signature_and_its_link(
    app: Flask, client: FlaskClient, letter: Letter, runner: FlaskCliRunner
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    page = own_path(app, signed.id)
    withdraw = page.replace("/signature/", "/signature/withdraw/")
    confirm_page = client.get(withdraw)
    assert confirm_page.status_code == 200 and confirm_page.headers["Cache-Control"] == "no-store"
    assert count(app, Signature, status=SignatureStatus.CONFIRMED) == 1  # opening it changes nothing
    done = client.post(withdraw, data={"csrf_token": csrf_token(client, withdraw)})
    assert done.status_code == 200 and "Your signature is withdrawn" in done.get_data(as_text=True)
    stored = one(app, Signature, id=signed.id)
    assert (stored.status, stored.name, stored.email, stored.page_key) == (SignatureStatus.WITHDRAWN, "", "", None)
    gone = client.get(page)
    assert gone.status_code == 404 and "does not lead to a signature any more" in gone.get_data(as_text=True)
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 0
    sequence_and_verify(app, runner)


def test_only_a_genuine_link_opens_a_page_and_only_allowed_changes_are_made(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    with app.app_context(), db.transaction() as session:
        hidden = factories.signer(session, letter.id, SignatureStatus.HIDDEN, name="Hidden Name").id
        unconfirmed = factories.signer(session, letter.id, SignatureStatus.UNCONFIRMED).id
    page = own_path(app, hidden)
    key, _, mac = page.removeprefix("/signature/").partition(".")
    forged = [f"/signature/{key}.{mac[:-2]}xx", f"/signature/{key}", f"/signature/{key}.", "/signature/x" * 3]
    with app.app_context():
        original = app.config["SECRET_KEY"]
        app.config["SECRET_KEY"] = "another key entirely, as after a rotation of it"
        forged.append(f"/signature/{page_token(key)}")
        app.config["SECRET_KEY"] = original
    for path in forged:
        assert client.get(path).status_code == 404, path
    assert client.get(page + "/").status_code == 404  # a mangled link
    # Hidden by the moderators, or not confirmed: not changeable, whatever is sent.
    for signature_id in (hidden, unconfirmed):
        path = own_path(app, signature_id).replace("/signature/", "/signature/edit/")
        assert client.get(path).status_code == 409
        token = csrf_token(client, own_path(app, signature_id).replace("/signature/", "/signature/withdraw/"))
        assert client.post(path, data={"csrf_token": token, "name": "Changed", "public": "y"}).status_code == 409
    assert one(app, Signature.name, id=hidden) == "Hidden Name"
    assert count(app, LogEvent) == 0


def test_bad_details_are_refused_with_a_reason_and_nothing_is_stored(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace", comment="Kept.")
    page = own_path(app, signed.id)
    for fields, message in (
        ({"name": ""}, "Please enter your name."),
        ({"name": "Ada", "comment": "<b>bold</b>"}, "HTML tags are not allowed here."),
        ({"name": "https://spam.example"}, "Please enter your name, not a web address."),
        ({"name": "x" * 121}, "at most 120 characters"),
    ):
        answer = edit(client, page, public="y", **fields)
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), fields
    stored = one(app, Signature, id=signed.id)
    assert (stored.name, stored.comment) == ("Ada Lovelace", "Kept.")
    assert count(app, LogEvent, signature_id=signed.id) == 1


def test_signing_again_before_confirming_moves_the_page_to_the_newest_mail(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    address = "ada@example.org"
    sign(client, SLUG, email=address, city="Seoul")
    sign(client, SLUG, email=address, city="Paris")
    deliver_mail(app)
    first, second = smtp_sink.messages_to(address)
    # As with their confirmation links: only the newest mail's page link works.
    assert client.get(page_link(first)).status_code == 404
    assert "Paris" in client.get(page_link(second)).get_data(as_text=True)
    assert "Paris" in text_of(second)


def test_an_outsider_verifies_the_list_after_signers_change_it(
    app: Flask, client: FlaskClient, letter: Letter, live_server: str
) -> None:
    ids = [sign_and_confirm(app, client, f"s{n}@example.org", name=f"Signer {n}").id for n in range(4)]
    edit(client, own_path(app, ids[0]), name="Signer Zero", comment="Changed my mind about the wording.", public="y")
    edit(client, own_path(app, ids[1]), name="Signer 1")  # off the list
    edit(client, own_path(app, ids[1]), name="Signer One", public="y")  # and back, renamed
    with app.app_context():
        sequence_logs()
    result = subprocess.run(
        [sys.executable, str(ROOT / "verifier" / "undersigned_verify.py"), f"{live_server}/letters/{SLUG}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"4 listed signatures compared", result.stdout), result.stdout
