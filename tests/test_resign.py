"""Signing again with an address that has not confirmed: the owner confirms exactly what the owner saw.

Anyone can type anyone's address into the form. Each submission therefore gets its own
confirmation link; an earlier link stops confirming, and the mail and the page behind the newest
link show every detail that will be published or used, so nothing unseen can be confirmed.
"""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import TokenSuperseded
from app.models import Letter, OutboxMessage, Signature, SignatureStatus, Token, TokenPurpose
from app.services import signing
from tests.support import (
    SMTPSink,
    count,
    csrf_token,
    deliver_mail,
    link_in,
    one,
    path_of,
    sign,
    smtp_settings,
    text_of,
    write,
)

pytestmark = pytest.mark.engines

SLUG = "test-letter"
OWNER = "owner@cs.example.edu"
OWNERS_DETAILS: dict[str, Any] = {
    "name": "Owen Owner",
    "affiliation": "Example University",
    "country": "KR",
    "city": "Seoul",
    "comment": "I signed this myself.",
}
# What a stranger types with the owner's address: the same name, different hidden details.
STRANGERS_DETAILS: dict[str, Any] = {
    "name": "Owen Owner",
    "affiliation": "Example University",
    "country": "FR",
    "city": "Paris",
    "comment": "I take back everything I said.\nReally.",
    "show_domain": "y",
    "wants_updates": "y",
}
# Every detail the stranger's submission will publish or use, as the owner must be shown it.
STRANGERS_DETAILS_SHOWN = {
    "Name": "Owen Owner",
    "Affiliation or title": "Example University",
    "Country": "France",
    "City": "Paris",
    "Comment": "I take back everything I said.\nReally.",
    "Your name on the public list": "Shown",
    "The domain of your email address": "Shown: “confirmed via @cs.example.edu”",
    "Email updates about this letter": "Yes",
}


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Deliver to the test SMTP server."""
    return smtp_settings(smtp_sink)


def details_in_html(page: str) -> dict[str, str]:
    """The details listed on a page or in an HTML mail: each <dt> and its <dd>, as text."""
    listed = re.search(r'<dl class="signer-details"[^>]*>(.*?)</dl>', page, re.S)
    assert listed, page
    pairs = re.findall(r"<dt[^>]*>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", listed.group(1), re.S)

    def plain(fragment: str) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()

    return {plain(label): plain(value) for label, value in pairs}


def details_in_text(message: EmailMessage) -> dict[str, str]:
    """The details listed in a plain-text mail: "Label: value" lines, a value continued on indented lines."""
    block = re.search(r"\n\n((?:[^\n]+: [^\n]*\n(?:    [^\n]*\n)*)+)\n", text_of(message))
    assert block, text_of(message)
    details: dict[str, str] = {}
    label = ""
    for line in block.group(1).splitlines():
        if line.startswith("    "):
            details[label] += "\n" + line[4:]
        else:
            label, _, value = line.partition(": ")
            details[label] = value
    return details


def html_of(message: EmailMessage) -> str:
    """The HTML body of a message."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def stored(app: Flask) -> Signature:
    return one(app, Signature, email_key=OWNER)


def api_signatures(client: FlaskClient) -> list[dict[str, Any]]:
    return list(client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"])


def test_a_stranger_who_signs_again_cannot_change_what_the_owners_link_confirms(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG, email=OWNER, **OWNERS_DETAILS)
    deliver_mail(app)
    [owners_mail] = smtp_sink.messages_to(OWNER)
    owners_link = path_of(link_in(owners_mail))

    stranger = app.test_client()
    answer = sign(stranger, SLUG, email=OWNER, **STRANGERS_DETAILS)
    assert answer.status_code == 303  # the same answer as for anyone (see test_enumeration)
    deliver_mail(app)
    first, newest = smtp_sink.messages_to(OWNER)
    assert first["Message-ID"] == owners_mail["Message-ID"]

    # The owner's first link confirms nothing now: it says why, and where to look instead.
    for response in (
        client.get(owners_link),
        client.post(owners_link, data={"csrf_token": csrf_token(client, f"/letters/{SLUG}/resend")}),
    ):
        assert response.status_code == 410
        page = response.get_data(as_text=True)
        assert "This link cannot be used" in page
        assert "A newer request was made with this address" in page
        assert "Confirm my signature" not in page
        assert f"/letters/{SLUG}/resend" in page
    assert stored(app).status == SignatureStatus.UNCONFIRMED
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 0

    # The newest mail and the page behind its link show every detail that will be published or used.
    assert details_in_text(newest) == STRANGERS_DETAILS_SHOWN
    assert details_in_html(html_of(newest)) == STRANGERS_DETAILS_SHOWN
    newest_link = path_of(link_in(newest))
    page = client.get(newest_link)
    assert page.status_code == 200
    assert details_in_html(page.get_data(as_text=True)) == STRANGERS_DETAILS_SHOWN

    # Confirming stores and publishes exactly what was shown, nothing else.
    done = client.post(newest_link, data={"csrf_token": csrf_token(client, newest_link)})
    assert done.status_code == 200
    assert "your signature is confirmed" in done.get_data(as_text=True)
    [listed] = api_signatures(client)
    assert {k: listed[k] for k in ("name", "affiliation", "country", "city", "comment", "confirmed_domain")} == {
        "name": "Owen Owner",
        "affiliation": "Example University",
        "country": "FR",
        "city": "Paris",
        "comment": "I take back everything I said.\nReally.",
        "confirmed_domain": "cs.example.edu",
    }
    signature = stored(app)
    assert (signature.public, signature.show_domain, signature.wants_updates) == (True, True, True)
    # And the first link, still dead, says the signature is confirmed rather than confirming anything.
    assert "already confirmed" in client.get(owners_link).get_data(as_text=True)


def test_signing_again_between_opening_the_page_and_pressing_the_button_confirms_nothing(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    """The button confirms what its page showed: a submission in between makes it refuse, clearly."""
    sign(client, SLUG, email=OWNER, **OWNERS_DETAILS)
    deliver_mail(app)
    owners_link = path_of(link_in(smtp_sink.messages_to(OWNER)[0]))
    page = client.get(owners_link)
    assert details_in_html(page.get_data(as_text=True))["City"] == "Seoul"
    token = csrf_token(client, owners_link)

    sign(app.test_client(), SLUG, email=OWNER, **STRANGERS_DETAILS)
    pressed = client.post(owners_link, data={"csrf_token": token})
    assert pressed.status_code == 410
    assert "A newer request was made with this address" in pressed.get_data(as_text=True)
    signature = stored(app)
    assert signature.status == SignatureStatus.UNCONFIRMED
    assert signature.confirmed_at is None
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 0


def test_the_confirming_update_itself_refuses_a_submission_its_link_was_not_sent_for(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    """Even if the address signs again after the link was checked, the UPDATE confirms nothing."""
    sign(client, SLUG, email=OWNER, **OWNERS_DETAILS)
    body = one(app, OutboxMessage.body_text)
    match = re.search(r"/confirm/([\w-]+)", body)
    assert match, body
    raw = match.group(1)

    def check_then_confirm_after_a_new_submission(session: Session) -> None:
        # Loads the signature, submission 1, and keeps it in the session as a request would.
        checked = signing.check_confirmation_token(session, raw, now=utcnow()).signature
        # Another request signs again at this moment: the objects loaded above know nothing of it.
        session.execute(
            sa.update(Signature)
            .values(submission=Signature.submission + 1, city="Paris")
            .execution_options(synchronize_session=False)
        )
        assert checked.submission == 1
        with pytest.raises(TokenSuperseded):
            signing.confirm(session, raw, now=utcnow())

    write(app, check_then_confirm_after_a_new_submission)
    signature = stored(app)
    assert (signature.status, signature.city, signature.confirmed_at) == (SignatureStatus.UNCONFIRMED, "Paris", None)
    assert count(app, Token, Token.used_at.is_(None), purpose=TokenPurpose.CONFIRM) == 1


def test_the_owner_who_sees_strange_details_signs_again_and_confirms_their_own(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(app.test_client(), SLUG, email=OWNER, **STRANGERS_DETAILS)
    deliver_mail(app)
    strangers_mail = smtp_sink.messages_to(OWNER)[0]
    assert details_in_text(strangers_mail)["City"] == "Paris"
    assert "If any of this is not what you entered, do not confirm" in text_of(strangers_mail)

    sign(client, SLUG, email=OWNER, **OWNERS_DETAILS)
    deliver_mail(app)
    owners_mail = smtp_sink.messages_to(OWNER)[-1]
    assert details_in_text(owners_mail) == {
        "Name": "Owen Owner",
        "Affiliation or title": "Example University",
        "Country": "South Korea",
        "City": "Seoul",
        "Comment": "I signed this myself.",
        "Your name on the public list": "Shown",
        "The domain of your email address": "Not shown",
        "Email updates about this letter": "No",
    }
    assert client.get(path_of(link_in(strangers_mail))).status_code == 410
    link = path_of(link_in(owners_mail))
    assert client.post(link, data={"csrf_token": csrf_token(client, link)}).status_code == 200
    [listed] = api_signatures(client)
    assert (listed["city"], listed["comment"], listed["confirmed_domain"]) == ("Seoul", "I signed this myself.", None)
    assert stored(app).wants_updates is False


def test_a_new_link_asked_for_confirms_the_latest_details_and_the_older_links_stay_dead(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    """ "Send me a new link" is not a new submission: its link confirms what the latest one stored."""
    sign(client, SLUG, email=OWNER, **OWNERS_DETAILS)
    sign(app.test_client(), SLUG, email=OWNER, **STRANGERS_DETAILS)
    path = f"/letters/{SLUG}/resend"
    assert client.post(path, data={"csrf_token": csrf_token(client, path), "email": OWNER}).status_code == 303
    deliver_mail(app)
    first, second, resent = (path_of(link_in(m)) for m in smtp_sink.messages_to(OWNER))
    assert details_in_text(smtp_sink.messages_to(OWNER)[-1]) == STRANGERS_DETAILS_SHOWN
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200
    assert details_in_html(client.get(resent).get_data(as_text=True)) == STRANGERS_DETAILS_SHOWN
    assert client.post(resent, data={"csrf_token": csrf_token(client, resent)}).status_code == 200
    assert api_signatures(client)[0]["city"] == "Paris"


def test_a_webmail_domain_is_said_not_to_be_shown_and_an_anonymous_signer_not_to_be_listed(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG, email="quiet@gmail.com", name="Quiet Person", public=False, show_domain="y")
    deliver_mail(app)
    [message] = smtp_sink.messages_to("quiet@gmail.com")
    shown = details_in_text(message)
    assert shown["Your name on the public list"] == "Not shown: counted only"
    assert shown["The domain of your email address"] == "Not shown: @gmail.com is a public mail service"
    assert (shown["Affiliation or title"], shown["Country"], shown["City"], shown["Comment"]) == ("—",) * 4
    assert details_in_html(client.get(path_of(link_in(message))).get_data(as_text=True)) == shown


def test_korean_signers_read_every_detail_in_korean(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko"  # a Korean browser
    sign(client, SLUG, email=OWNER, **STRANGERS_DETAILS)
    deliver_mail(app)
    [message] = smtp_sink.messages_to(OWNER)
    shown = details_in_text(message)
    assert shown["국가"] == "프랑스"
    assert shown["이메일 주소의 도메인"] == "표시: “@cs.example.edu로 확인됨”"
    assert shown["이 서한의 소식 이메일"] == "예"
    assert details_in_html(client.get(path_of(link_in(message))).get_data(as_text=True)) == shown
