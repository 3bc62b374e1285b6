"""The review queue in a real Chromium: sign in, pick signatures, apply a bulk action, see it in public."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import db
from app.models import Letter, ModeratorRole
from app.moderation import accounts
from tests.support import sign

pytestmark = pytest.mark.browser

SLUG = "test-letter"
PASSWORD = "correct horse battery staple"


def test_a_moderator_hides_flagged_fakes_in_bulk_from_the_queue(
    app: Flask,
    letter: Letter,
    new_context: Callable[..., BrowserContext],
) -> None:
    client = app.test_client()
    for name, email in (
        ("Elon Musk", "e1@example.net"),
        ("Sam Altman", "s1@example.net"),
        ("Ada Lovelace", "ada@example.org"),
    ):
        sign(client, SLUG, name=name, email=email)
    from tests.test_moderation import confirm_all

    confirm_all(app)
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "mod@example.org", PASSWORD, ModeratorRole.MODERATOR)

    visitor = new_context().new_page()
    visitor.goto(f"/letters/{SLUG}")
    expect(visitor.locator(".count-number")).to_have_text("3")

    page = new_context().new_page()
    page.goto("/moderate")
    expect(page).to_have_url(f"{page.url.split('/moderate')[0]}/moderate/login?next=%2Fmoderate")
    page.get_by_label("Email").fill("mod@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="An open letter for testing").click()

    rows = page.locator("tbody tr[data-signature]")
    expect(rows).to_have_count(2)  # the two watch-listed names, flagged; Ada is not in the queue
    expect(page.get_by_text("The name matches “Elon Musk” on the watch list.")).to_be_visible()
    page.get_by_label("Choose Elon Musk").check()
    page.get_by_label("Choose Sam Altman").check()
    page.get_by_label("Action").select_option("hide")
    page.get_by_label("Reason").select_option("fake")
    page.get_by_label("Note for moderators").fill("Impersonations")
    page.get_by_role("button", name="Apply").click()
    # More than one: first what it will do, then the button that does it.
    expect(page.get_by_role("heading", level=1)).to_have_text("Hide: 2 signatures?")
    expect(visitor.locator(".count-number")).to_have_text("3")
    page.get_by_role("button", name="Yes, apply to 2 signatures").click()
    expect(page.get_by_role("status")).to_contain_text("2 signatures changed.")
    expect(rows).to_have_count(0)

    # The open public page shows the corrected count without a reload.
    expect(visitor.locator(".count-number")).to_have_text("1", timeout=8_000)
    page.get_by_role("link", name="Audit log", exact=True).click()
    expect(page.locator(".audit-entry")).to_have_count(1)
    expect(page.locator(".audit-entry")).to_contain_text("Impersonations")
