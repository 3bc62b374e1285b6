"""The addressee's response: recorded by admins, shown by the letter, in its feed and the API, mailed like an update."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.api.openapi import openapi_document
from app.db import utcnow
from app.models import AuditEntry, LetterUpdate, Moderator, ModeratorRole, UpdateKind
from tests.factories import add_confirmed, log_in, sign_and_confirm
from tests.support import (
    SMTPSink,
    count,
    csrf_token,
    deliver_mail,
    link_in,
    marked_settings,
    one,
    path_of,
    rows,
    sign,
    smtp_settings,
    text_of,
)

pytestmark = pytest.mark.engines

SLUG = "test-letter"
PAGE = f"/moderate/letters/{SLUG}/response"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def app_config(smtp_sink: SMTPSink, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Deliver to the test SMTP server (plus any settings the test marks)."""
    return smtp_settings(smtp_sink) | marked_settings(request)


@pytest.fixture
def admin_client(app: Flask, letter: Any, create_moderator: Callable[..., Moderator]) -> FlaskClient:
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    admin = app.test_client()
    assert log_in(admin, "admin@example.org").status_code == 303
    return admin


def record(admin: FlaskClient, **fields: str) -> Any:
    """Send the response form as an admin fills it in."""
    data = {
        "responder": "The Minister of Culture",
        "responded_on": (utcnow() - timedelta(days=2)).date().isoformat(),
        "source_url": "https://ministry.example/statements/42",
        "body_markdown": "We have read your letter. **Artists will be paid** from next year.",
    }
    data.update(fields)
    return admin.post(PAGE, data={"csrf_token": csrf_token(admin, PAGE), **data})


def valid(document: dict[str, Any], schema: str, value: Any) -> None:
    """Check ``value`` against a schema of the OpenAPI document (its $refs resolved within it)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    jsonschema_rs.validator_for(root, validate_formats=True).validate(value)


def test_the_response_is_shown_by_the_letter_in_the_feed_and_in_the_api(
    app: Flask, client: FlaskClient, letter: Any, admin_client: FlaskClient
) -> None:
    with app.app_context():
        document = openapi_document()
    before = client.get(f"/api/v1/letters/{SLUG}").get_json()
    assert before["response"] is None
    valid(document, "Letter", before)
    assert "Response from" not in client.get(f"/letters/{SLUG}").get_data(as_text=True)

    answer = record(admin_client)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/moderate/letters/{SLUG}/updates")
    said = admin_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "The response is published." in said and "Response from The Minister of Culture" in said

    day = (utcnow() - timedelta(days=2)).date()
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    box = page[page.index('<section class="response"') : page.index('<div class="letter-body">')]
    assert f"Response from The Minister of Culture, {day.strftime('%B')} {day.day}, {day.year}" in box
    assert "<strong>Artists will be paid</strong>" in box
    assert 'href="https://ministry.example/statements/42"' in box
    assert page.count("Artists will be paid") == 1  # in its box, not again among the updates
    assert page.index('class="response"') < page.index('class="letter-body"')  # near the top

    data = client.get(f"/api/v1/letters/{SLUG}").get_json()
    valid(document, "Letter", data)
    response = data["response"]
    assert response["kind"] == "response" and response["responder"] == "The Minister of Culture"
    assert response["response_date"] == day.isoformat()
    assert response["source_url"] == "https://ministry.example/statements/42"
    assert response["url"] == f"http://localhost/letters/{SLUG}#update-{response['id']}"
    listed = client.get("/api/v1/letters").get_json()["letters"]
    assert [item["response"]["id"] for item in listed] == [response["id"]]
    updates = client.get(f"/api/v1/letters/{SLUG}/updates").get_json()["updates"]
    assert [u["kind"] for u in updates] == ["response"]
    valid(document, "Update", updates[0])

    feed = ET.fromstring(client.get(f"/letters/{SLUG}/updates.atom").data)  # noqa: S314
    [entry] = feed.findall(f"{ATOM}entry")
    assert (entry.findtext(f"{ATOM}title") or "").startswith("Response from The Minister of Culture, ")
    related = [link.get("href") for link in entry.findall(f"{ATOM}link") if link.get("rel") == "related"]
    assert related == ["https://ministry.example/statements/42"]
    category = entry.find(f"{ATOM}category")
    assert category is not None and category.get("term") == "response"
    content = entry.findtext(f"{ATOM}content") or ""
    assert "<strong>Artists will be paid</strong>" in content and "https://ministry.example/statements/42" in content

    korean = client.get(f"/letters/{SLUG}?lang=ko").get_data(as_text=True)
    assert f"The Minister of Culture의 답변, {day.year}년 {day.month}월 {day.day}일" in korean

    # A second response takes the box; the first stays among the updates.
    record(admin_client, responder="The Prime Minister", source_url="", body_markdown="I agree with the minister.")
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    box = page[page.index('<section class="response"') : page.index('<div class="letter-body">')]
    assert "The Prime Minister" in box and "Read it where it was published" not in box
    assert "Response from The Minister of Culture" in page[page.index('class="updates"') :]
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["response"]["responder"] == "The Prime Minister"
    assert rows(app, AuditEntry.action) == ["letter.response", "letter.response"]


def test_the_response_is_mailed_to_confirmed_signers_who_asked_for_updates_and_one_click_stops_it(
    app: Flask, client: FlaskClient, letter: Any, smtp_sink: SMTPSink, admin_client: FlaskClient
) -> None:
    sign_and_confirm(app, client, "wants@example.org", sink=smtp_sink, name="Wants Updates", wants_updates="y")
    sign_and_confirm(app, client, "quiet@example.org", sink=smtp_sink, name="Quiet Signer")
    assert sign(client, SLUG, email="unconfirmed@example.org", wants_updates="y").status_code == 303
    deliver_mail(app)
    before = len(smtp_sink.received)

    assert record(admin_client).status_code == 303
    deliver_mail(app)
    new = smtp_sink.received[before:]
    assert [r.rcpt_tos for r in new] == [["wants@example.org"]]
    message = new[0].message
    assert message["Subject"] == "The Minister of Culture responded to “An open letter for testing”"
    text = text_of(message)
    assert "The Minister of Culture responded on" in text and "Artists will be paid from next year." in text
    assert "https://ministry.example/statements/42" in text.splitlines()
    assert message["List-Id"] == '"An open letter for testing" <test-letter.letters.example.org>'
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page = path_of(link_in(message, r"https?://\S+/signature/\S+"))
    assert "Confirmed and listed" in client.get(page).get_data(as_text=True)

    # One click in the mail program (RFC 8058): no more responses or updates to this signer.
    unsubscribe = path_of((message["List-Unsubscribe"] or "").strip().strip("<>"))
    assert app.test_client().post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    record(admin_client, responder="The Prime Minister")
    deliver_mail(app)
    assert len(smtp_sink.received) == before + 1


@pytest.mark.settings(MAIL_UPDATE_BATCH_SIZE=2)
def test_a_response_to_many_signers_goes_through_the_update_fan_out(
    app: Flask, letter: Any, smtp_sink: SMTPSink, admin_client: FlaskClient
) -> None:
    add_confirmed(app, letter.id, 5, wants_updates=True)
    add_confirmed(app, letter.id, 2)
    record(admin_client)
    deliver_mail(app)
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == sorted(f"s{n}@example.org" for n in range(5))
    assert all("responded to" in r.message["Subject"] for r in smtp_sink.received)


def test_only_admins_record_a_response_and_bad_ones_are_refused_with_a_reason(
    app: Flask, client: FlaskClient, letter: Any, admin_client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    assert client.get(PAGE).status_code in (302, 303)  # to the sign-in page
    create_moderator("mod@example.org")
    moderator = app.test_client()
    assert log_in(moderator).status_code == 303
    assert moderator.get(PAGE).status_code == 403
    assert admin_client.get(PAGE).status_code == 200
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    for fields, message in (
        ({"responder": ""}, "Please say who answered."),
        ({"responder": "x" * 201}, "at most 200 characters"),
        ({"responded_on": ""}, "Please enter the date of the response"),
        ({"responded_on": "yesterday"}, "Please enter the date of the response"),
        ({"responded_on": tomorrow}, "cannot be in the future"),
        ({"source_url": "javascript:alert(1)"}, "starts with https:// or http://"),
        ({"source_url": "ministry.example/page"}, "starts with https:// or http://"),
        ({"body_markdown": " "}, "Please enter the text of the response."),
    ):
        answer = record(admin_client, **fields)
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), fields
    assert count(app, LetterUpdate) == 0 and rows(app, AuditEntry.action) == []
    assert record(admin_client, source_url="").status_code == 303
    stored = one(app, LetterUpdate)
    assert (stored.kind, stored.source_url) == (UpdateKind.RESPONSE, None)
    assert stored.title == "The Minister of Culture"
