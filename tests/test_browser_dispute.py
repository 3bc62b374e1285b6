""" "That's not me" in a real Chromium: the person a listed entry names takes it down in minutes.

Someone signs as Grace Hopper; Grace finds her name on the list, follows "That's not me", gives
her address and confirms from the mail that the aiosmtpd server received. The entry is gone from
the list and the letter at once, in both languages, while the count stays, and the moderators'
queue shows both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import db
from app.models import Letter, ModeratorRole
from app.moderation import accounts
from tests.support import SMTPSink, deliver_mail, link_in, smtp_settings
from tests.test_browser_response import sign_in_browser

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


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_person_named_takes_a_false_entry_down_from_their_own_address(
    app: Flask, letter: Letter, smtp_sink: SMTPSink, new_context: Callable[..., BrowserContext], lang: str
) -> None:
    impostor = new_context().new_page()
    sign_in_browser(impostor, app, smtp_sink, "Grace Hopper", "not-grace@example.org", updates=False, lang="en")
    sign_in_browser(impostor, app, smtp_sink, "Ada Lovelace", "ada@example.org", updates=False, lang="en")

    words = {
        "en": ("That's not me", "Your email", "This signature names me", "Send me the link to confirm"),
        "ko": ("제 서명이 아닙니다", "이메일", "이 서명에 적힌 사람이 저이며", "확인 링크 보내기"),
    }[lang]
    link_text, email_label, box_label, send = words
    grace = new_context(locale="ko-KR" if lang == "ko" else "en-GB").new_page()
    grace.goto(f"/letters/{SLUG}/signatures?verified=0&lang={lang}")
    entry = grace.locator("li.signer", has_text="Grace Hopper")
    entry.get_by_role("link", name=link_text).click()
    grace.get_by_label(email_label, exact=True).fill("grace.hopper@example.net")
    grace.get_by_label(box_label).check()
    grace.get_by_role("button", name=send).click()
    expect(grace.get_by_role("status")).to_be_visible()

    deliver_mail(app)
    [mail] = smtp_sink.messages_to("grace.hopper@example.net")
    grace.goto(link_in(mail, r"https?://\S+/disputes/\S+"))
    confirm = "Confirm: this is not me" if lang == "en" else "확인: 제 서명이 아닙니다"
    grace.get_by_role("button", name=confirm).click()
    expect(grace.get_by_role("status")).to_contain_text(
        "off the public list" if lang == "en" else "공개 명단에서 내려갔습니다"
    )

    # Gone from the list and the letter at once; Ada stays; the count is unchanged.
    visitor = new_context().new_page()
    visitor.goto(f"/letters/{SLUG}/signatures?verified=0")
    expect(visitor.locator("li.signer")).to_have_count(1)
    expect(visitor.locator("li.signer")).to_contain_text("Ada Lovelace")
    visitor.goto(f"/letters/{SLUG}")
    expect(visitor.locator("main")).not_to_contain_text("Grace Hopper")
    expect(visitor.locator("[data-count]").first).to_have_attribute("data-count", "2")

    # The moderators see the dispute beside the signature's own record.
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "mod@example.org", PASSWORD, ModeratorRole.MODERATOR)
    moderator = new_context().new_page()
    moderator.goto("/moderate/login")
    moderator.get_by_label("Email").fill("mod@example.org")
    moderator.get_by_label("Password").fill(PASSWORD)
    moderator.get_by_role("button", name="Sign in").click()
    moderator.goto(f"/moderate/letters/{SLUG}?view=all")
    row = moderator.locator("tbody tr[data-signature]", has_text="Grace Hopper")
    expect(row).to_contain_text("That's not me")
    expect(row).to_contain_text("not-grace@example.org")
    expect(row).to_contain_text("example.net")
