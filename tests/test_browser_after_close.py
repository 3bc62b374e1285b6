"""An admin closes a letter with "hide names after close" set, in a real Chromium: the names are gone.

The admin ticks the box in the editor's "Privacy after the letter ends" fieldset, saves, and
presses "Close signing". A visitor then sees the count and the numbers on the letter page and on
the list, no name anywhere, and a log page whose tree head still covers every signature; the list
and the signer pages ask not to be indexed. In English and Korean, on a phone and on a laptop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import db
from app.models import Letter, ModeratorRole
from app.worker import sequence_logs
from tests import factories

pytestmark = pytest.mark.browser

LETTER = "/letters/test-letter"
NAMES = ("Signer 0000", "Signer 0001", "Signer 0002")
SCREENS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
LOCALES = {"en": "en-GB", "ko": "ko-KR"}
WORDS = {
    "en": {
        "hide": "Hide the names once signing closes",
        "save": "Save",
        "close": "Close signing",
        "hidden": "The signers' names are no longer shown",
        "all": "3 signatures in all",
        "now": "The names of this letter are hidden now",
    },
    "ko": {
        "hide": "서명이 마감되면 이름 숨기기",
        "save": "저장",
        "close": "서명 마감하기",
        "hidden": "서명자의 이름은 더 이상 공개되지 않습니다",
        "all": "전체 서명 3건",
        "now": "이 편지의 이름은 지금 숨겨져 있습니다",
    },
}


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Pages are read afresh (not from the page cache or the browser's)."""
    return {"PAGE_CACHE_SECONDS": 0, "PUBLIC_MAX_AGE": 0, "PUBLIC_STALE_WHILE_REVALIDATE": 0}


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_closing_with_hide_names_leaves_the_counts_and_a_verifiable_log_but_no_names(
    app: Flask, letter: Letter, new_context: Callable[..., BrowserContext], lang: str, screen: str
) -> None:
    words = WORDS[lang]
    with app.app_context(), db.transaction() as session:
        factories.moderator(session, "admin@example.org", ModeratorRole.ADMIN)
        factories.confirmed_signers(session, letter.id, 3)
    factories.log_confirmed(app, letter.id)
    with app.app_context():
        sequence_logs()

    def new_page() -> Any:
        return new_context(viewport=SCREENS[screen], locale=LOCALES[lang]).new_page()

    visitor = new_page()
    visitor.goto(f"{LETTER}/signatures?lang={lang}")
    expect(visitor.locator(".signer")).to_have_count(3)

    admin = new_page()
    admin.goto(f"/moderate/login?lang={lang}")
    admin.locator("#email").fill("admin@example.org")
    admin.locator("#password").fill(factories.PASSWORD)
    admin.locator("main button[type=submit]").click()
    expect(admin.locator(".mod-nav")).to_be_visible()
    admin.goto(f"/moderate/letters/test-letter/edit?lang={lang}")
    admin.get_by_label(words["hide"]).check()
    admin.locator(".editor-buttons .button-primary").click()
    expect(admin.get_by_label(words["hide"])).to_be_checked()
    admin.get_by_role("button", name=words["close"]).click()
    expect(admin.locator("#privacy-after-close .notice")).to_contain_text(words["now"])
    with app.app_context():
        sequence_logs()

    for path in (f"{LETTER}?lang={lang}", f"{LETTER}/signatures?lang={lang}"):
        visitor.goto(path)
        expect(visitor.locator(".names-hidden h2")).to_have_text(words["hidden"])
        expect(visitor.locator(".names-hidden .tier-counts")).to_contain_text(words["all"])
        for name in NAMES:
            expect(visitor.locator("body")).not_to_contain_text(name)
    expect(visitor.locator("[data-newest]")).to_have_count(0)
    visitor.goto(f"{LETTER}/signatures?lang={lang}&q=Signer")
    expect(visitor.locator(".signer")).to_have_count(0)
    # The log page: a signed tree head over all six entries (three adds, three "counted, not named").
    visitor.goto(f"{LETTER}/log?lang={lang}")
    expect(visitor.locator(".log-facts dd").first).to_have_text("6")
    expect(visitor.locator("[data-ledger=confirmed]")).to_have_text("3")
    for name in NAMES:
        expect(visitor.locator("body")).not_to_contain_text(name)
    response = visitor.request.get("/api/v1/letters/test-letter/log/head")
    assert response.json()["tree_size"] == 6
