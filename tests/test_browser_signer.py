"""The signer's minute in a real Chromium, on a phone and on a laptop, in English and Korean."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.models import Letter
from tests.support import SMTPSink, deliver_mail, smtp_settings

pytestmark = pytest.mark.browser

LETTER = "/letters/test-letter"
SCREENS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
WORDS = {
    "en": {"name": "Full name", "sign": "Sign", "yes": "Yes, send my confirmation", "inbox": "Check your inbox"},
    "ko": {
        "name": "이름",
        "sign": "서명하기",
        "yes": "네, 확인 메일을 보내 주세요",
        "inbox": "받은편지함을 확인해 주세요",
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
