"""The letter editor in a real Chromium: an admin writes a bilingual letter from nothing, watches the
preview follow the typing, publishes it, and the public reads it in both languages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import db
from app.models import AuditEntry, ModeratorRole
from app.moderation import accounts
from tests.support import count

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def test_an_admin_writes_a_bilingual_letter_and_publishes_it(
    app: Flask, new_context: Callable[..., BrowserContext]
) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "admin@example.org", PASSWORD, ModeratorRole.ADMIN)
    page = new_context().new_page()
    page.goto("/moderate/login")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="New letter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New letter")
    # The editor's script has run (it sets up the tabs after the address suggestion): typing now is seen.
    expect(page.locator(".tabs-on")).to_have_count(1)

    # The address follows the title until it is typed.
    page.get_by_label("Title", exact=True).fill("Safe Streets for Schools")
    expect(page.get_by_label("Address")).to_have_value("safe-streets-for-schools")
    page.get_by_label("Summary", exact=True).fill("Slow the traffic near every school.")
    statement = page.locator("#body_markdown")
    statement.fill("We ask for **slower** streets.")
    preview = page.locator("#preview-original")
    expect(preview.locator("strong")).to_have_text("slower")
    # The preview follows the typing, sanitised by the server: the script is text, never run.
    statement.fill("We ask for *30 km/h* zones. <script>window.pwned = 1</script>")
    expect(preview.locator("em")).to_have_text("30 km/h")
    expect(preview).to_contain_text("<script>")
    assert page.evaluate("window.pwned") is None
    statement.fill("We ask for *30 km/h* zones near every school.")
    expect(preview).to_have_text("We ask for 30 km/h zones near every school.")

    # The Korean translation in its own tab.
    korean_tab = page.get_by_role("tab", name="Translation: 한국어")
    expect(page.locator("#body_ko")).to_be_hidden()
    korean_tab.click()
    expect(korean_tab).to_have_attribute("aria-selected", "true")
    page.locator("#title_ko").fill("학교 앞 안전한 길")
    page.locator("#body_ko").fill("모든 학교 앞에 **시속 30km** 구역을 요청합니다.")
    expect(page.locator("#preview-ko strong")).to_have_text("시속 30km")
    page.get_by_label("Goal").fill("300")
    page.get_by_role("button", name="Save as a draft").click()

    expect(page.get_by_role("status")).to_contain_text("saved as a draft")
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit: Safe Streets for Schools")
    public = new_context().new_page()
    assert public.goto("/letters/safe-streets-for-schools").status == 404  # type: ignore[union-attr]

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("The letter is published")
    expect(page.get_by_role("button", name="Close signing")).to_be_visible()

    public.goto("/letters/safe-streets-for-schools")
    expect(public.get_by_role("heading", level=1)).to_have_text("Safe Streets for Schools")
    expect(public.locator(".letter-body em")).to_have_text("30 km/h")
    public.goto("/letters/safe-streets-for-schools?lang=ko")
    expect(public.get_by_role("heading", level=1)).to_have_text("학교 앞 안전한 길")
    expect(public.locator(".letter-body strong")).to_have_text("시속 30km")
    assert count(app, AuditEntry) == 2


def test_the_editor_works_without_javascript(app: Flask, new_context: Callable[..., BrowserContext]) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "admin@example.org", PASSWORD, ModeratorRole.ADMIN)
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/moderate/login")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/moderate/letters/new")
    # Every text is on the page, reached by the links above them.
    page.get_by_role("link", name="Translation: 한국어").click()
    expect(page.locator("#body_ko")).to_be_visible()
    page.locator("#title").fill("No script")
    page.locator("#body_markdown").fill("Plain **HTML**.")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-original strong")).to_have_text("HTML")
    page.get_by_role("button", name="Save as a draft").click()
    expect(page.get_by_role("status")).to_contain_text("saved as a draft")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("The letter is published")
