"""The addressee's reply, end to end in a real Chromium: signers sign, an organiser records the reply, the mail arrives.

The mail goes through the real worker path to the aiosmtpd server of tests.support, and the links
in it are opened in the browser as a signer would open them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from app.db import db
from app.models import Letter, ModeratorRole
from app.moderation import accounts
from tests.support import SMTPSink, deliver_mail, link_in, smtp_settings, text_of

pytestmark = pytest.mark.browser

SLUG = "test-letter"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Mail goes to the test SMTP server; the form may be sent back at once; pages are never kept.

    The page cache would show a page seen seconds before the change this test looks for.
    """
    fresh = {"PAGE_CACHE_SECONDS": 0, "PUBLIC_MAX_AGE": 0, "PUBLIC_STALE_WHILE_REVALIDATE": 0}
    return {**smtp_settings(smtp_sink), "SIGN_MIN_SECONDS": 0, **fresh}


def sign_in_browser(page: Page, app: Flask, sink: SMTPSink, name: str, email: str, *, updates: bool, lang: str) -> None:
    """Sign the letter on its page, then confirm from the mail the SMTP server received."""
    words = {"en": ("Full name", "Email me updates about this letter", "Sign", "Confirm my signature")}
    words["ko"] = ("이름", "이 서한의 새 소식을 이메일로 받겠습니다", "서명하기", "서명 확인하기")
    label, updates_label, sign_button, confirm_button = words[lang]
    page.goto(f"/letters/{SLUG}?lang={lang}")
    page.get_by_label(label, exact=True).fill(name)
    page.locator("#email").fill(email)
    if updates:
        page.get_by_label(updates_label).check()
    page.get_by_role("button", name=sign_button, exact=True).click()
    deliver_mail(app)
    page.goto(link_in(sink.messages_to(email)[-1]))
    page.get_by_role("button", name=confirm_button).click()
    expect(page.locator(".confirmed")).to_be_visible()


def test_the_reply_reaches_signers_through_the_smtp_server(
    app: Flask, letter: Letter, smtp_sink: SMTPSink, new_context: Callable[..., BrowserContext]
) -> None:
    ada = new_context().new_page()
    sign_in_browser(ada, app, smtp_sink, "Ada Lovelace", "ada@example.org", updates=True, lang="en")
    minji = new_context(locale="ko-KR").new_page()
    sign_in_browser(minji, app, smtp_sink, "김민지", "minji@example.org", updates=True, lang="ko")
    quiet = new_context().new_page()
    sign_in_browser(quiet, app, smtp_sink, "Quiet Signer", "quiet@example.org", updates=False, lang="en")
    before = len(smtp_sink.received)

    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "admin@example.org", PASSWORD, ModeratorRole.ADMIN)
    organiser = new_context().new_page()
    organiser.goto("/moderate/login")
    organiser.get_by_label("Email").fill("admin@example.org")
    organiser.get_by_label("Password").fill(PASSWORD)
    organiser.get_by_role("button", name="Sign in").click()
    organiser.goto(f"/moderate/letters/{SLUG}/updates")
    organiser.get_by_role("link", name="Record the addressee's response").click()
    organiser.get_by_label("Who answered").fill("The Minister of Culture")
    organiser.get_by_label("Date of the response").fill("2026-11-30")
    organiser.get_by_label("Link to the source").fill("https://ministry.example/statements/42")
    organiser.get_by_label("Text of the response (Markdown)").fill("We have read your letter.\n\nArtists will be paid.")
    organiser.get_by_role("button", name="Publish the response and email it").click()
    expect(organiser.get_by_role("status")).to_contain_text("The response is published.")

    assert deliver_mail(app).startswith("2 sent,")
    received = smtp_sink.received[before:]
    assert sorted(r.rcpt_tos[0] for r in received) == ["ada@example.org", "minji@example.org"]
    [english] = [r.message for r in received if r.rcpt_tos == ["ada@example.org"]]
    [korean] = [r.message for r in received if r.rcpt_tos == ["minji@example.org"]]
    assert english["Subject"] == "The Minister of Culture responded to “An open letter for testing”"
    assert "Artists will be paid." in text_of(english) and "November 30, 2026" in text_of(english)
    assert "답변했습니다" in korean["Subject"] and "2026년 11월 30일" in text_of(korean)
    assert english["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # The signer follows the mail: the letter with the reply at its top, and their own page.
    ada.goto(link_in(english, r"https?://\S+/letters/test-letter\S*"))
    box = ada.locator("section.response")
    expect(box.get_by_role("heading")).to_have_text("Response from The Minister of Culture, November 30, 2026")
    expect(box).to_contain_text("Artists will be paid.")
    expect(box.get_by_role("link", name="Read it where it was published")).to_have_attribute(
        "href", "https://ministry.example/statements/42"
    )
    ada.goto(link_in(english, r"https?://\S+/signature/\S+"))
    expect(ada.get_by_role("heading", level=1)).to_have_text("Your signature")
    expect(ada.locator(".status-word")).to_have_text("Confirmed and listed")
    ada.get_by_role("button", name="Stop emailing me updates").click()
    expect(ada.get_by_role("status")).to_contain_text("You will not get any more updates")

    minji.goto(link_in(korean, r"https?://\S+/signature/\S+"))
    expect(minji.get_by_role("heading", level=1)).to_have_text("내 서명")
