"""The signer's minute: where the link went, a too-fast form that asks, no dead end after confirming."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import Letter
from app.text import mask_address
from app.web import signed_when, time_tag
from tests.factories import sign_and_confirm
from tests.support import csrf_token, mail_links, sign

SLUG = "test-letter"


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("kim.minji@example.org", "ki***@example.org"),
        ("ada@example.org", "a***@example.org"),
        ("a@example.org", "a***@example.org"),
        ("ab@xn--bcher-kva.example", "a***@xn--bcher-kva.example"),
    ],
)
def test_an_address_is_masked_to_its_first_letters_and_domain(address: str, shown: str) -> None:
    assert mask_address(address) == shown


def inbox_page(client: FlaskClient, response: object) -> str:
    assert getattr(response, "status_code", None) == 303
    page = client.get(f"/letters/{SLUG}/signed").get_data(as_text=True)
    assert "Check your inbox" in page
    return page


def test_check_your_inbox_shows_where_the_link_went_masked(client: FlaskClient, letter: Letter) -> None:
    page = inbox_page(client, sign(client, SLUG, email="kim.minji@example.org"))
    assert '<strong class="sent-to">ki***@example.org</strong>' in page
    assert "kim.minji" not in page
    assert f'href="/letters/{SLUG}#sign">Sign again with the right one</a>' in page
    assert f'href="/letters/{SLUG}/resend">Send me a new link</a>' in page


def test_the_page_is_the_same_whether_or_not_the_address_signed_before(app: Flask, letter: Letter) -> None:
    first, second = app.test_client(), app.test_client()
    inbox_page(first, sign(first, SLUG, email="kim.minji@example.org"))
    again = inbox_page(second, sign(second, SLUG, email="kim.minji@example.org"))
    fresh = inbox_page(second, sign(second, SLUG, email="kim.minho@example.org"))

    def shown(page: str) -> str:
        return re.sub(r'name="csrf_token"[^>]*>', "", page)

    assert shown(again).replace("ki***@example.org", "") == shown(fresh).replace("ki***@example.org", "")
    assert "ki***@example.org" in again


def test_a_new_link_asked_for_also_says_where_it_goes(client: FlaskClient, letter: Letter) -> None:
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    response = client.post(f"/letters/{SLUG}/resend", data={"email": "grace@example.org", "csrf_token": token})
    assert '<strong class="sent-to">gr***@example.org</strong>' in inbox_page(client, response)


def test_the_address_is_shown_only_on_the_letter_it_was_sent_for(
    client: FlaskClient, letter: Letter, create_letter: object
) -> None:
    create_letter(slug="other-letter")  # type: ignore[operator]
    inbox_page(client, sign(client, SLUG, email="kim.minji@example.org"))
    other = client.get("/letters/other-letter/signed").get_data(as_text=True)
    assert "ki***" not in other
    assert "We have sent an email to the address you gave." in other


def test_after_confirming_the_signer_sees_their_place_the_count_their_entry_and_how_to_share(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    first = sign_and_confirm(app, client, "grace@example.org", name="Grace Hopper").page
    assert "You are signer no. 1." in first
    ada = sign_and_confirm(app, app.test_client(), "ada@example.org")
    page = ada.page
    assert "You are signer no. 2." in page
    assert "now has 2 signatures." in page
    # The mailed link carried the signer's language, and so do the page's links.
    entry = f'href="/letters/{SLUG}/signatures/{ada.id}?lang=en"'
    assert f"{entry}>See your entry in the list of signers</a>" in page
    assert "Ask others to sign" in page
    letter_url = f"http://localhost/letters/{SLUG}"
    assert f'data-share-url="{letter_url}"' in page  # the share sheet and KakaoTalk (share.js)
    assert f'data-copy="{letter_url}"' in page
    for network in ("https://wa.me/?text=", "https://social-plugins.line.me/lineit/share?url=", "https://x.com/"):
        assert network in page
    assert "https://bsky.app/intent/compose" in page and "facebook.com/sharer" in page and "mailto:?" in page
    assert "share.js" in page
    assert '<script src="http' not in page  # no third-party script


def test_an_unlisted_signer_gets_no_entry_link_and_a_second_press_no_place(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    page = sign_and_confirm(app, client, "quiet@example.org", public=False).page
    assert "You are signer no. 1." in page
    assert "See your entry" not in page
    confirm, _ = mail_links(app, "quiet@example.org")
    again = client.post(confirm, data={"csrf_token": csrf_token(client, f"/letters/{SLUG}/resend")})
    text = again.get_data(as_text=True)
    assert "Your signature was already confirmed" in text
    assert "signer no." not in text and "now has 1 signature." in text


def test_in_pre_moderation_the_page_says_it_waits_and_gives_no_place(
    app: Flask, client: FlaskClient, create_letter: object
) -> None:
    create_letter(moderation_mode="pre")  # type: ignore[operator]
    page = sign_and_confirm(app, client, "ada@example.org").page
    assert "awaiting review" in page
    assert "signer no." not in page and "Ask others to sign" not in page


def test_the_place_and_count_read_in_korean(app: Flask, client: FlaskClient, letter: Letter) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko"  # a Korean browser
    page = sign_and_confirm(app, client, "minji@example.org", button="서명 확인하기").page
    assert "1번째 서명자입니다." in page
    assert "지금까지 1명이 서명했습니다." in page
    assert "카카오톡" in page


@pytest.mark.parametrize(
    ("lang", "ago", "shown"),
    [
        ("en", timedelta(seconds=20), "just now"),
        ("en", timedelta(minutes=5, seconds=30), "5 minutes ago"),
        ("en", timedelta(hours=2, minutes=59), "2 hours ago"),
        ("ko", timedelta(minutes=5), "5분 전"),
        ("ko", timedelta(hours=23), "23시간 전"),
        ("ko", timedelta(seconds=5), "방금"),
    ],
)
def test_recent_signatures_say_how_long_ago_in_the_visitors_language(
    app: Flask, lang: str, ago: timedelta, shown: str
) -> None:
    moment = datetime.now(UTC) - ago
    with app.test_request_context(f"/?lang={lang}", headers={"Accept-Language": lang}):
        app.preprocess_request()
        html = str(signed_when(moment))
    assert f">{shown}</time>" in html
    assert "data-relative" in html
    assert f'datetime="{moment:%Y-%m-%dT%H:%M:%S}Z"' in html
    title = re.search(r'title="([^"]+)"', html)
    assert title and re.search(r"\d\d:\d\d UTC$", title.group(1))  # to the minute: no seconds, no AM/PM


@pytest.mark.parametrize(("lang", "day"), [("en", "Nov 25, 2026"), ("ko", "2026. 11. 25.")])
def test_older_signatures_show_their_date(app: Flask, lang: str, day: str) -> None:
    moment = datetime(2026, 11, 25, 18, 5, 9, tzinfo=UTC)
    with app.test_request_context(f"/?lang={lang}", headers={"Accept-Language": lang}):
        app.preprocess_request()
        html = str(signed_when(moment))
        closing = str(time_tag(moment, "long", with_time=True))
    assert f'title="{day} 18:05 UTC">{day}</time>' in html and "data-relative" not in html
    assert "18:05 UTC</time>" in closing and ">18:05:09" not in closing and "PM" not in closing


def test_the_newest_signers_say_how_long_ago(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign_and_confirm(app, client, "ada@example.org")
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert re.search(r'<time class="signer-date" datetime="[^"]+" title="[^"]+" data-relative>just now</time>', page)
    korean = client.get(f"/letters/{SLUG}?lang=ko").get_data(as_text=True)
    assert "data-relative>방금</time>" in korean
