"""The signer's minute in a real Chromium, on a phone and on a laptop, in English and Korean."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import utcnow
from app.models import Letter
from tests.support import SMTPSink, deliver_mail, link_in, smtp_settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
LETTER = "/letters/test-letter"
SCREENS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
WORDS = {
    "en": {
        "name": "Full name",
        "sign": "Sign",
        "yes": "Yes, send my confirmation",
        "inbox": "Check your inbox",
        "confirm": "Confirm my signature",
        "place": "You are signer no. 1.",
        "kakao": "KakaoTalk",
        "copied": "Link copied: paste it into a KakaoTalk chat.",
    },
    "ko": {
        "name": "이름",
        "sign": "서명하기",
        "yes": "네, 확인 메일을 보내 주세요",
        "inbox": "받은편지함을 확인해 주세요",
        "confirm": "서명 확인하기",
        "place": "1번째 서명자입니다.",
        "kakao": "카카오톡",
        "copied": "링크를 복사했습니다. 카카오톡 대화방에 붙여 넣어 주세요.",
    },
}


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Mail goes to the test SMTP server; a form sent back within a minute counts as too fast (whatever the load)."""
    return {**smtp_settings(smtp_sink), "SIGN_MIN_SECONDS": 60}


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_form_filled_by_autofill_signs_with_two_clicks_never_silently_held(
    app: Flask,
    letter: Letter,
    smtp_sink: SMTPSink,
    new_context: Callable[..., BrowserContext],
    lang: str,
    screen: str,
) -> None:
    words = WORDS[lang]
    page = new_context(viewport=SCREENS[screen], locale={"en": "en-GB", "ko": "ko-KR"}[lang]).new_page()
    page.goto(f"{LETTER}?lang={lang}")
    # Autofill: every field filled and the form sent within a second of the page.
    page.get_by_label(words["name"], exact=True).fill("김민지")
    page.locator("#email").fill("kim.minji@example.org")
    page.get_by_role("button", name=words["sign"], exact=True).click()
    # Asked, not held: one button, and the address it will go to.
    yes = page.get_by_role("button", name=words["yes"])
    expect(yes).to_be_visible()
    expect(page.locator("main, body").first).to_contain_text("ki***@example.org")
    box = yes.bounding_box()
    assert box is not None and box["y"] + box["height"] <= SCREENS[screen]["height"]  # no scrolling to find it
    page.wait_for_timeout(1_200)  # a person reads the sentence
    yes.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["inbox"])
    expect(page.locator(".sent-to")).to_have_text("ki***@example.org")
    assert deliver_mail(app).startswith("1 sent,")
    [message] = smtp_sink.messages_to("kim.minji@example.org")
    assert "김민지" in message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    # No dead end after confirming: the place, the count, the signer's entry and the share step.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(link_in(message))
    page.get_by_role("button", name=words["confirm"]).click()
    expect(page.locator(".confirmed-place")).to_have_text(words["place"])
    expect(page.locator(".confirmed-count")).to_contain_text("1")
    page.locator(".confirmed a[href*='/signatures/']").click()  # their entry (the other link: their own page)
    expect(page.locator("main")).to_contain_text("김민지")
    page.go_back()
    kakao = page.get_by_role("button", name=words["kakao"])
    expect(kakao).to_be_visible()  # share.js: the share sheet, or else a copy to paste into a chat
    if not page.evaluate("typeof navigator.share === 'function'"):
        kakao.click()
        expect(page.locator(".copy-status")).to_have_text(words["copied"])
        assert page.evaluate("navigator.clipboard.readText()").endswith("/letters/test-letter")
    expect(page.get_by_role("link", name="WhatsApp")).to_be_visible()
    expect(page.get_by_role("link", name="LINE")).to_be_visible()


@pytest.fixture
def long_letter(create_letter: Callable[..., Letter]) -> Letter:
    """The demo letter: a real letter's length, so that what comes first matters."""
    return create_letter((ROOT / "demo" / "letter.md").read_text(), goal=1000)


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_count_and_the_way_to_sign_come_first(
    long_letter: Letter, new_context: Callable[..., BrowserContext], lang: str, screen: str
) -> None:
    size = SCREENS[screen]
    page = new_context(viewport=size).new_page()
    page.goto(f"/letters/{long_letter.slug}?lang={lang}")

    def top_and_bottom(selector: str) -> tuple[float, float]:
        element = page.locator(selector).first
        expect(element).to_be_visible()
        box = element.bounding_box()
        assert box is not None, selector
        return box["y"], box["y"] + box["height"]

    _, title_bottom = top_and_bottom("h1")
    if screen == "laptop":
        # The count and the form's first field above the fold, beside the title.
        assert top_and_bottom(".count-box [data-count]")[1] <= size["height"]
        assert top_and_bottom("#name")[1] <= size["height"]
    else:
        # The count right under the title, and a Sign button within the first screen.
        count_top, count_bottom = top_and_bottom(".count-inline [data-count]")
        assert title_bottom <= count_top and count_bottom <= size["height"]
        assert top_and_bottom(".count-inline .jump-to-sign")[1] <= size["height"]
        page.locator(".count-inline .jump-to-sign").click()
        assert top_and_bottom("#name")[0] < size["height"]  # the link brings the form into view
    # One compact line of trust instead of the ledger and the tree head.
    # The page was asked for in a language (?lang=): its links carry it on.
    expect(page.locator(".trust-line a").first).to_have_attribute(
        "href", re.compile(rf"^/letters/{long_letter.slug}/log(\?lang=(en|ko))?$")
    )
    expect(page.locator("#ledger-heading")).to_have_count(0)


@pytest.mark.parametrize("screen", SCREENS)
def test_a_closed_letter_says_so_at_the_top(
    create_letter: Callable[..., Letter], new_context: Callable[..., BrowserContext], screen: str
) -> None:
    letter = create_letter((ROOT / "demo" / "letter.md").read_text(), closes_at=utcnow() - timedelta(days=1))
    page = new_context(viewport=SCREENS[screen]).new_page()
    page.goto(f"/letters/{letter.slug}")
    banner = page.locator(".closed-banner")
    expect(banner).to_contain_text("Signing has closed.")
    expect(banner).to_contain_text("0 signatures")
    box = banner.bounding_box()
    assert box is not None and box["y"] + box["height"] <= SCREENS[screen]["height"] / 2
