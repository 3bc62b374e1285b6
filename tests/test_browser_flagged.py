"""A famous name is never on the public page before a moderator has approved it, in a real Chromium.

Someone signs as "Elon Musk" (on the watch list) through the form and confirms through the mail the
SMTP sink received: the count takes them at once, the letter page and the list never show the
name, and the ledger says one signature awaits review. Once a moderator approves it, the name
appears, on the page already open too. On a phone and on a laptop, in English and Korean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import db
from app.models import Letter
from tests import factories
from tests.support import SMTPSink, deliver_mail, link_in, smtp_settings

pytestmark = pytest.mark.browser

LETTER = "/letters/test-letter"
NAME = "Elon Musk"
SCREENS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
LOCALES = {"en": "en-GB", "ko": "ko-KR"}
WORDS = {
    "en": {
        "name": "Full name",
        "sign": "Sign",
        "inbox": "Check your inbox",
        "confirm": "Confirm my signature",
        "place": "You are signer no. 2.",
        "review": "Your signature counts. Your name will appear on the list of signers once the organisers have "
        "reviewed it.",
        "queue": "Awaiting review: counted, not yet on the public list.",
    },
    "ko": {
        "name": "이름",
        "sign": "서명하기",
        "inbox": "받은편지함을 확인해 주세요",
        "confirm": "서명 확인하기",
        "place": "2번째 서명자입니다.",
        "review": "서명이 집계되었습니다. 이름은 주최 측이 검토한 뒤 서명자 명단에 올라갑니다.",
        "queue": "검토 대기: 집계되었지만 아직 공개 명단에 없습니다.",
    },
}


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Mail goes to the test SMTP server; pages are read afresh (not from the browser's cache either),
    and the letter page polls every second."""
    fresh = {"PAGE_CACHE_SECONDS": 0, "PUBLIC_MAX_AGE": 0, "PUBLIC_STALE_WHILE_REVALIDATE": 0}
    return {**smtp_settings(smtp_sink), **fresh, "LIVE_POLL_SECONDS": 1}


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_watch_listed_name_is_not_on_the_public_page_until_a_moderator_approves_it(
    app: Flask,
    letter: Letter,
    smtp_sink: SMTPSink,
    new_context: Callable[..., BrowserContext],
    lang: str,
    screen: str,
) -> None:
    words = WORDS[lang]
    with app.app_context(), db.transaction() as session:
        factories.watched_name(session, NAME)
        factories.moderator(session)
        factories.confirmed_signers(session, letter.id, 1)  # someone listed, so the list is not empty

    def new_page() -> Any:
        return new_context(viewport=SCREENS[screen], locale=LOCALES[lang]).new_page()

    signer = new_page()
    signer.goto(f"{LETTER}?lang={lang}")
    signer.get_by_label(words["name"], exact=True).fill(NAME)
    signer.locator("#email").fill("elon@example.net")
    signer.locator("#affiliation").fill("Tesla")
    signer.get_by_role("button", name=words["sign"], exact=True).click()
    expect(signer.get_by_role("heading", level=1)).to_have_text(words["inbox"])
    assert deliver_mail(app).startswith("1 sent,")
    [message] = smtp_sink.messages_to("elon@example.net")
    signer.goto(link_in(message))
    signer.get_by_role("button", name=words["confirm"]).click()
    # Counted (their place says so), told the name waits for review, and no link to an entry not shown.
    expect(signer.locator(".confirmed-place")).to_have_text(words["place"])
    expect(signer.locator(".confirmed-review")).to_have_text(words["review"])
    expect(signer.locator(".confirmed a[href*='/signatures/']")).to_have_count(0)

    # What a journalist sees: the count has the signature, no page has the name.
    visitor = new_page()
    visitor.goto(f"{LETTER}?lang={lang}")
    expect(visitor.locator(".count-box [data-count]")).to_have_attribute("data-count", "2")
    expect(visitor.locator("[data-newest] .signer")).to_have_count(1)
    expect(visitor.locator("body")).not_to_contain_text(NAME)
    listing = new_page()
    listing.goto(f"{LETTER}/signatures?lang={lang}")
    expect(listing.locator(".signer")).to_have_count(1)
    expect(listing.locator("body")).not_to_contain_text(NAME)
    listing.goto(f"{LETTER}/signatures?lang={lang}&q=Musk")
    expect(listing.locator(".signer")).to_have_count(0)
    listing.goto(f"{LETTER}/log?lang={lang}")
    expect(listing.locator("[data-ledger=awaiting_review]")).to_have_text("1")
    expect(listing.locator("[data-ledger=awaiting_review_counted]")).to_have_text("1")
    expect(listing.locator("body")).not_to_contain_text(NAME)

    # The moderator sees that approving publishes the name, and finds the signature fine.
    moderator = new_page()
    moderator.goto("/moderate/login")
    moderator.locator("#email").fill("mod@example.org")
    moderator.locator("#password").fill(factories.PASSWORD)
    moderator.locator("main button[type=submit]").click()
    expect(moderator.locator(".mod-nav")).to_be_visible()
    moderator.goto("/moderate/letters/test-letter")
    row = moderator.locator("tbody tr[data-signature]", has_text=NAME)
    expect(row.locator(".awaiting-listing")).to_contain_text(words["queue"])
    row.locator("button[name=decision][value=fine]").click()  # "Looks fine": its flag is dealt with
    expect(row.locator(".done-message")).to_be_visible()

    # On the page the visitor has open (no reload), and on every page from now.
    expect(visitor.locator("[data-newest]")).to_contain_text(NAME, timeout=8_000)
    listing.goto(f"{LETTER}/signatures?lang={lang}")
    expect(listing.locator(".signer", has_text=NAME)).to_have_count(1)
    listing.goto(f"{LETTER}?lang={lang}")
    expect(listing.locator("[data-newest] .signer").first).to_contain_text(NAME)
