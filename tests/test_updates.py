"""Updates to signers: published, shown on the page, in an Atom feed and the API, emailed with one-click unsubscribe."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import AuditEntry, Job, Letter, LetterUpdate, Moderator, ModeratorRole, OutboxMessage, Signature
from tests.factories import add_confirmed, log_in, sign_and_confirm
from tests.support import (
    SMTPSink,
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
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def app_config(smtp_sink: SMTPSink, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Deliver to the test SMTP server (plus any settings the test marks)."""
    return smtp_settings(smtp_sink) | marked_settings(request)


def publish_by_cli(app: Flask, tmp_path: Any, title: str, body: str) -> None:
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.md"
    path.write_text(f"---\ntitle: {title}\n---\n{body}\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["letter", "update", SLUG, str(path)])
    assert result.exit_code == 0, result.output


@pytest.fixture
def admin_client(app: Flask, letter: Letter, create_moderator: Callable[..., Moderator]) -> FlaskClient:
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    admin = app.test_client()
    assert log_in(admin, "admin@example.org").status_code == 303
    return admin


def test_only_opted_in_signers_get_an_update_and_one_click_stops_the_next(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink, admin_client: FlaskClient, tmp_path: Any
) -> None:
    sign_and_confirm(app, client, "wants@example.org", sink=smtp_sink, name="Wants Updates", wants_updates="y")
    sign_and_confirm(app, client, "quiet@example.org", sink=smtp_sink, name="Quiet Signer")
    assert sign(client, SLUG, email="unconfirmed@example.org", wants_updates="y").status_code == 303
    deliver_mail(app)
    before = len(smtp_sink.received)

    page = f"/moderate/letters/{SLUG}/updates"
    data = {
        "csrf_token": csrf_token(admin_client, page),
        "title": "We met the minister",
        "body_markdown": "It **went** well.",
    }
    assert admin_client.post(page, data=data).status_code == 303
    deliver_mail(app)

    new = smtp_sink.received[before:]
    assert [r.rcpt_tos for r in new] == [["wants@example.org"]]
    message = new[0].message
    assert "We met the minister" in message["Subject"]
    assert "It went well." in text_of(message)  # the text part is text, not Markdown
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "<strong>went</strong>" in str(html.get_content())
    unsubscribe = link_in(message, r"https?://\S+/unsubscribe/\S+")
    assert str(message["List-Unsubscribe"]).strip() == f"<{unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Opening the link changes nothing (link scanners); the one-click POST, without CSRF, unsubscribes.
    shown = client.get(path_of(unsubscribe))
    assert shown.status_code == 200 and "Stop emailing me updates" in shown.get_data(as_text=True)
    assert one(app, Signature.wants_updates, name="Wants Updates")
    one_click = app.test_client().post(
        path_of(unsubscribe),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert one_click.status_code == 200
    assert not one(app, Signature.wants_updates, name="Wants Updates")
    assert app.test_client().post(path_of(unsubscribe)).status_code == 200  # twice is harmless

    publish_by_cli(app, tmp_path, "Second update", "More news.")
    deliver_mail(app)
    assert len(smtp_sink.received) == before + 1
    assert rows(app, AuditEntry.action) == ["letter.update"]


def test_an_update_to_many_signers_is_expanded_a_batch_at_a_time(
    app: Flask, letter: Letter, smtp_sink: SMTPSink, tmp_path: Any
) -> None:
    add_confirmed(app, letter.id, 7, wants_updates=True)
    add_confirmed(app, letter.id, 3)
    publish_by_cli(app, tmp_path, "News", "Text.")
    assert rows(app, OutboxMessage.kind) == []
    assert rows(app, Job.kind) == ["update_request"]  # publishing writes one job, whatever the number of signers
    deliver_mail(app)
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == sorted(f"s{n}@example.org" for n in range(7))
    job = one(app, Job, kind="update_request")
    assert job.status == "done" and job.cursor == 7  # the last signer of batches of 3, 3 and 1
    deliver_mail(app)
    assert len(smtp_sink.received) == 7  # nobody twice


test_an_update_to_many_signers_is_expanded_a_batch_at_a_time = pytest.mark.settings(MAIL_UPDATE_BATCH_SIZE=3)(
    test_an_update_to_many_signers_is_expanded_a_batch_at_a_time
)


def test_updates_are_on_the_page_in_the_atom_feed_and_in_the_api(
    app: Flask, client: FlaskClient, letter: Letter, tmp_path: Any
) -> None:
    empty = client.get(f"/letters/{SLUG}/updates.atom")
    assert empty.status_code == 200
    assert ET.fromstring(empty.data).findall(f"{ATOM}entry") == []  # noqa: S314
    publish_by_cli(app, tmp_path, "First <news>", "Hello & welcome.")
    publish_by_cli(app, tmp_path, "Second news", "<script>alert(1)</script> [link](javascript:alert(1))")

    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert '<link rel="alternate" type="application/atom+xml"' in page
    assert f"http://localhost/letters/{SLUG}/updates.atom" in page
    assert page.index("Second news") < page.index("First &lt;news&gt;")
    assert "<script>alert(1)" not in page and 'href="javascript' not in page

    response = client.get(f"/letters/{SLUG}/updates.atom")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)  # noqa: S314
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{required}") is not None
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Second news", "First <news>"]
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.findtext(f"{ATOM}updated") or "")
        assert (entry.findtext(f"{ATOM}id") or "").startswith(f"http://localhost/letters/{SLUG}#update-")
    content = entries[1].find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html" and "Hello &amp; welcome." in (content.text or "")

    data = client.get(f"/api/v1/letters/{SLUG}/updates").get_json()
    assert [u["title"] for u in data["updates"]] == ["Second news", "First <news>"]
    assert set(data["updates"][0]) == {
        "id",
        "kind",
        "title",
        "published_at",
        "body_html",
        "body_markdown",
        "url",
        "responder",
        "response_date",
        "source_url",
    }
    assert data["updates"][0]["kind"] == "update" and data["updates"][0]["responder"] is None
    assert "<script>" not in data["updates"][0]["body_html"]
    assert client.get("/api/v1/letters/nothing/updates").status_code == 404


def test_a_forged_or_dead_unsubscribe_link_is_refused(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink, tmp_path: Any
) -> None:
    assert client.get("/unsubscribe/abc.def").status_code == 404
    assert app.test_client().post("/unsubscribe/MQ.forged").status_code == 404
    sign_and_confirm(app, client, "wants@example.org", sink=smtp_sink, name="Wants", wants_updates="y")
    publish_by_cli(app, tmp_path, "News", "Text.")
    deliver_mail(app)
    unsubscribe = path_of(link_in(smtp_sink.messages_to("wants@example.org")[-1], r"https?://\S+/unsubscribe/\S+"))
    # Withdrawing erases the consent and kills the link (it was bound to the address).
    withdraw = path_of(link_in(smtp_sink.messages_to("wants@example.org")[0], r"https?://\S+/withdraw/\S+"))
    assert client.post(withdraw, data={"csrf_token": csrf_token(client, withdraw)}).status_code == 200
    assert client.get(unsubscribe).status_code == 404


def test_admins_only_publish_and_bad_updates_are_refused(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    admin_client: FlaskClient,
    tmp_path: Any,
    create_moderator: Callable[..., Moderator],
) -> None:
    create_moderator("mod@example.org")
    moderator = app.test_client()
    assert log_in(moderator).status_code == 303
    assert moderator.get(f"/moderate/letters/{SLUG}/updates").status_code == 403

    page = f"/moderate/letters/{SLUG}/updates"
    refused = admin_client.post(
        page, data={"csrf_token": csrf_token(admin_client, page), "title": "", "body_markdown": ""}
    )
    assert refused.status_code == 422
    no_title = tmp_path / "x.md"
    no_title.write_text("Just text.\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["letter", "update", SLUG, str(no_title)])
    assert result.exit_code == 1 and "needs a title" in result.output
    heading = tmp_path / "y.md"
    heading.write_text("# From a heading\n\nBody.\n", encoding="utf-8")
    assert app.test_cli_runner().invoke(args=["letter", "update", "nothing", str(heading)]).exit_code == 1
    assert app.test_cli_runner().invoke(args=["letter", "update", SLUG, str(heading)]).exit_code == 0
    assert rows(app, LetterUpdate.title) == ["From a heading"]
