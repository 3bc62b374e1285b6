""" "That's not me": a person named on the list takes the entry down, or asks the moderators to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import utcnow
from app.models import AuditEntry, Dispute, Flag, FlagKind, Letter, LogEvent, Moderator, ModeratorRole, RemovalReason
from app.services.disputes import spells_name
from app.services.moderation import Action
from app.worker import sequence_logs
from tests.factories import log_in, sign_and_confirm
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
    ratelimit_settings,
    rows,
    smtp_settings,
    text_of,
)
from tests.test_log import moderate

pytestmark = pytest.mark.engines

SLUG = "test-letter"
API = f"/api/v1/letters/{SLUG}"
LINK = r"https?://\S+/disputes/\S+"


@pytest.fixture
def app_config(smtp_sink: SMTPSink, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Deliver to the test SMTP server (plus any settings the test marks)."""
    return smtp_settings(smtp_sink) | marked_settings(request)


def form_path(signature_id: int) -> str:
    return f"/letters/{SLUG}/signatures/{signature_id}/dispute"


def dispute(client: FlaskClient, signature_id: int, **fields: str) -> Any:
    """Send the "that's not me" form (the box ticked unless ``named=""``)."""
    path = form_path(signature_id)
    data = {"csrf_token": csrf_token(client, f"/letters/{SLUG}/resend"), "named": "y", **fields}
    return client.post(path, data={k: v for k, v in data.items() if v})


def confirm_link(app: Flask, smtp_sink: SMTPSink, address: str) -> str:
    """Deliver the outbox and read the link in the newest dispute mail to ``address``."""
    deliver_mail(app)
    [*_, message] = smtp_sink.messages_to(address)
    assert "not your signature" in message["Subject"], message["Subject"]
    return path_of(link_in(message, LINK))


def listed(client: FlaskClient, signature_id: int) -> bool:
    return client.get(f"{API}/signatures/{signature_id}").status_code == 200


@pytest.mark.parametrize(
    ("address", "name", "spells"),
    [
        ("jane.doe@example.org", "Jane Doe", True),
        ("Jane_Doe@example.org", "Jane Doe", True),
        ("doe-jane@example.org", "Jane Doe", True),
        ("jdoe@example.org", "Jane Doe", True),
        ("j.doe2@example.org", "Jane Doe", True),
        ("jane.doe+letters@example.org", "Jane Doe", True),
        ("janemarydoe@example.org", "Jane Mary Doe", True),
        ("jane.doe@example.org", "Dr. Jané Doe", False),  # "dr" is the first word the name has
        ("jane@example.org", "Jane Doe", False),
        ("jdoe.fan@example.org", "Jane Doe", False),
        ("john.doe@example.org", "Jane Doe", False),
        ("jane.doe@mailinator.com", "Jane Doe", False),  # a disposable-address service
        ("madonna@example.org", "Madonna", False),  # one word spells nothing about a person
        ("hong@example.org", "홍길동", False),  # an address cannot spell hangul
    ],
)
def test_an_address_spells_a_name_only_in_the_ways_people_write_theirs(address: str, name: str, spells: bool) -> None:
    assert spells_name(address, name) is spells


def test_a_dispute_from_an_address_that_spells_the_name_takes_it_off_the_list_until_reviewed(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    runner: FlaskCliRunner,
    smtp_sink: SMTPSink,
    create_moderator: Callable[..., Moderator],
) -> None:
    signed = sign_and_confirm(app, client, "someone@example.org", name="Jane Doe", comment="I support this.")
    page = client.get(f"/letters/{SLUG}/signatures?verified=0").get_data(as_text=True)
    assert form_path(signed.id) in page and "That's not me" in page

    # Without the box ticked: a clear error next to it, and nothing stored or mailed.
    refused = dispute(client, signed.id, email="jane.doe@example.net", named="")
    assert refused.status_code == 422
    assert "Please tick this box if the signature names you." in refused.get_data(as_text=True)
    assert count(app, Dispute) == 0

    sent = dispute(client, signed.id, email="Jane.Doe@example.net", statement="I have never heard of this letter.")
    assert sent.status_code == 303 and sent.headers["Location"].endswith(f"/letters/{SLUG}/dispute-sent")
    assert "Check your inbox" in client.get(sent.headers["Location"]).get_data(as_text=True)
    assert listed(client, signed.id)  # nothing happens before the address confirms
    link = confirm_link(app, smtp_sink, "Jane.Doe@example.net")

    # The link's page changes nothing by itself (mail scanners open links); its button does.
    opened = client.get(link)
    assert opened.status_code == 200 and "Confirm: this is not me" in opened.get_data(as_text=True)
    assert listed(client, signed.id)
    confirmed = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert confirmed.status_code == 200
    assert "The signature is off the public list" in confirmed.get_data(as_text=True)

    # Off every public list at once, still counted; the log's update names no one.
    assert client.get(f"{API}/signatures/{signed.id}").get_json()["error"] == "not_listed"
    assert client.get(API).get_json()["signature_count"] == 1
    assert "Jane Doe" not in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert [(e.event, e.listed) for e in rows(app, LogEvent, signature_id=signed.id)] == [
        ("add", True),
        ("update", False),
    ]
    with app.app_context():
        sequence_logs()
    verified = runner.invoke(args=["log", "verify", SLUG])
    assert verified.exit_code == 0, verified.output

    # The moderators see both sides; the audit log says what happened, and who caused it.
    flag = one(app, Flag, signature_id=signed.id)
    assert flag.kind == FlagKind.DISPUTE and flag.resolved_at is None
    entry = one(app, AuditEntry, action="dispute")
    assert (entry.signature_ids, entry.moderator_email, entry.reason) == (str(signed.id), "", "hidden until reviewed")
    create_moderator("mod@example.org", ModeratorRole.MODERATOR)
    moderator = app.test_client()
    assert log_in(moderator, "mod@example.org").status_code == 303
    queue = moderator.get(f"/moderate/letters/{SLUG}?view=all").get_data(as_text=True)
    assert "That&#39;s not me" in queue and "I have never heard of this letter." in queue
    assert "example.net" in queue and "someone@example.org" in queue and "I support this." in queue
    audit = moderator.get("/moderate/audit").get_data(as_text=True)
    assert "“That&#39;s not me” confirmed" in audit

    # The signer hears of it, and answers on their own page; the moderators read the answer beside the dispute.
    deliver_mail(app)
    [notice] = smtp_sink.messages_to("someone@example.org")[1:]
    assert "off the list for now" in notice["Subject"] and "example.net" in text_of(notice)
    own = path_of(link_in(notice, r"https?://\S+/signature/\S+"))
    page = client.get(own).get_data(as_text=True)
    assert "Someone says this signature is not yours" in page and "Counted, off the list until reviewed" in page
    answer_path = own.split("?")[0].replace("/signature/", "/signature/answer/")
    empty = client.post(answer_path, data={"csrf_token": csrf_token(client, own), "answer": " "})
    assert empty.status_code == 422 and "Please write your answer." in empty.get_data(as_text=True)
    answered = client.post(
        answer_path, data={"csrf_token": csrf_token(client, own), "answer": "It is me: Jane Doe, of Springfield."}
    )
    assert answered.status_code == 303 and answered.headers["Location"].endswith("done=answered")
    queue = moderator.get(f"/moderate/letters/{SLUG}?view=all").get_data(as_text=True)
    assert "The signer answered: It is me: Jane Doe, of Springfield." in queue

    # A second press changes nothing more.
    again = client.post(link, data={"csrf_token": csrf_token(client, f"/letters/{SLUG}/resend")})
    assert "Already confirmed" in again.get_data(as_text=True)
    assert count(app, Flag, signature_id=signed.id) == 1

    # The moderators decide it is genuine after all: listed again; the purge then forgets the address.
    moderate(app, letter, Action.APPROVE, [signed.id])
    assert listed(client, signed.id)
    assert count(app, Dispute) == 1
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert count(app, Dispute) == 0


def test_a_dispute_from_an_address_that_does_not_spell_the_name_only_asks_the_moderators(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    signed = sign_and_confirm(app, client, "jane.doe@example.org", name="Jane Doe")
    assert dispute(client, signed.id, email="impostor@example.net").status_code == 303
    link = confirm_link(app, smtp_sink, "impostor@example.net")
    answer = client.post(link, data={"csrf_token": csrf_token(client, link)}).get_data(as_text=True)
    assert "The moderators will look at it" in answer
    assert listed(client, signed.id)
    assert one(app, Flag.kind, signature_id=signed.id) == FlagKind.DISPUTE
    assert one(app, AuditEntry.reason, action="dispute") == "sent to the queue"
    assert [e.event for e in rows(app, LogEvent, signature_id=signed.id)] == ["add"]
    # Nothing changed for the signer, so nothing is mailed to them.
    deliver_mail(app)
    assert len(smtp_sink.messages_to("jane.doe@example.org")) == 1  # their confirmation only


def test_only_listed_entries_can_be_disputed_and_a_stale_link_says_so(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink, runner: FlaskCliRunner
) -> None:
    hidden = sign_and_confirm(app, client, "a@example.org", name="Ann Smith")
    moderate(app, letter, Action.HIDE, [hidden.id], reason=RemovalReason.FAKE)
    assert client.get(form_path(hidden.id)).status_code == 404
    assert dispute(client, 999999, email="ann.smith@example.org").status_code == 404

    signed = sign_and_confirm(app, client, "b@example.org", name="Bob Jones")
    assert dispute(client, signed.id, email="bob.jones@example.org").status_code == 303
    link = confirm_link(app, smtp_sink, "bob.jones@example.org")
    execute(app, "UPDATE disputes SET expires_at = :then", then=utcnow() - timedelta(minutes=1))
    stale = client.get(link)
    assert stale.status_code == 404 and "This link does not work" in stale.get_data(as_text=True)
    assert client.post(link, data={"csrf_token": csrf_token(client, f"/letters/{SLUG}/resend")}).status_code == 404
    assert listed(client, signed.id) and count(app, Flag) == 0
    assert client.get("/disputes/not-a-real-token").status_code == 404
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert count(app, Dispute) == 0


@pytest.mark.settings(
    RATELIMIT_ENABLED=True, RATELIMIT_DISPUTES_PER_NETWORK="2 per hour", **ratelimit_settings("memory")
)
def test_disputes_are_limited_per_network_and_mail_an_address_only_so_often(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    signed = sign_and_confirm(app, client, "a@example.org", name="Ann Smith")
    assert dispute(client, signed.id, email="ann.smith@example.org").status_code == 303
    assert dispute(client, signed.id, email="ann.smith@example.org").status_code == 303
    limited = dispute(client, signed.id, email="ann.smith@example.org")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert count(app, Dispute) == 2


def test_the_dispute_pages_and_mail_speak_korean(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    signed = sign_and_confirm(app, client, "a@example.org", name="Ann Smith")
    form = client.get(form_path(signed.id) + "?lang=ko").get_data(as_text=True)
    assert 'lang="ko"' in form and "This signature names me" not in form
    path = form_path(signed.id) + "?lang=ko"
    data = {"csrf_token": csrf_token(client, path), "named": "y", "email": "ann.smith@example.org"}
    assert client.post(path, data=data).status_code == 303
    deliver_mail(app)
    [message] = smtp_sink.messages_to("ann.smith@example.org")
    assert "Confirm that this is not your signature" not in message["Subject"]
    assert "Someone, probably you" not in text_of(message)
    assert "?lang=ko" in link_in(message, LINK)
