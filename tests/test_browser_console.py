"""An organiser's whole campaign in a real Chromium, without a terminal after setup.

An admin writes a bilingual letter from nothing, previews it, publishes it; people sign it in
English and in Korean; the dashboard shows their signatures; the admin closes the letter and
downloads the delivery PDF, made by the worker, whose text holds the letter, the count and the
names.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from pypdf import PdfReader

from app import jobs
from app.db import db
from app.models import ModeratorRole
from app.moderation import accounts
from tests.support import mail_links

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SLUG = "fair-pay-for-artists"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """The form may be sent back at once."""
    return {"SIGN_MIN_SECONDS": 0}


def sign_and_confirm(page: Page, app: Flask, name: str, email: str, lang: str) -> None:
    """Sign on the letter's page in ``lang`` and confirm from the link in the mail."""
    page.goto(f"/letters/{SLUG}?lang={lang}")
    page.locator("#name").fill(name)
    page.locator("#email").fill(email)
    page.locator("#sign button[type=submit]").click()
    expect(page.locator("h1")).to_have_count(1)
    confirm, _withdraw = mail_links(app, email)
    page.goto(confirm)
    page.locator("main button[type=submit]").click()
    expect(page.locator(".confirmed")).to_be_visible()


def run_worker(app: Flask) -> None:
    """What the mail worker does between two looks: every job that is due."""
    with app.app_context():
        settings = jobs.Settings.from_config(app.config)
        while jobs.run_due(settings, worker_id="test"):
            pass


def test_an_organiser_writes_publishes_watches_closes_and_hands_in_a_letter(
    app: Flask, new_context: Callable[..., BrowserContext]
) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "admin@example.org", PASSWORD, ModeratorRole.ADMIN)
    admin = new_context().new_page()
    admin.goto("/moderate/login")
    admin.get_by_label("Email").fill("admin@example.org")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Sign in").click()

    # Write it, in two languages, with the preview beside the text.
    admin.get_by_role("link", name="New letter").click()
    # The editor's script has run (it sets up the tabs after the address suggestion): typing now is seen.
    expect(admin.locator(".tabs-on")).to_have_count(1)
    admin.get_by_label("Title", exact=True).fill("Fair Pay for Artists")
    expect(admin.get_by_label("Address")).to_have_value(SLUG)
    admin.locator("#body_markdown").fill("We ask the ministry to **pay artists** for their work.")
    expect(admin.locator("#preview-original strong")).to_have_text("pay artists")
    admin.get_by_role("tab", name="Translation: 한국어").click()
    admin.locator("#title_ko").fill("예술가에게 정당한 대가를")
    admin.locator("#body_ko").fill("문화부에 **예술가의 작업에 대가를** 지급할 것을 요청합니다.")
    expect(admin.locator("#preview-ko strong")).to_have_text("예술가의 작업에 대가를")
    admin.get_by_role("button", name="Save as a draft").click()
    expect(admin.get_by_role("status")).to_contain_text("saved as a draft")
    admin.get_by_role("button", name="Publish").click()
    expect(admin.get_by_role("status")).to_contain_text("The letter is published")

    # People sign it, in English and in Korean.
    signer = new_context().new_page()
    sign_and_confirm(signer, app, "Ada Lovelace", "ada@example.org", "en")
    sign_and_confirm(signer, app, "김민지", "minji@example.org", "ko")

    # The dashboard shows them.
    admin.goto(f"/moderate/letters/{SLUG}")
    admin.get_by_role("link", name="Dashboard").click()
    counted = admin.locator(".dash-numbers div", has_text="Counted").locator("dd")
    expect(counted).to_have_text("2")

    # Close it, and hand it in: the PDF is made by the worker while the page waits for it.
    admin.goto(f"/moderate/letters/{SLUG}/edit")
    admin.get_by_role("button", name="Close signing").click()
    expect(admin.get_by_role("status")).to_be_visible()
    admin.goto("/moderate")
    admin.locator("tr", has_text="Fair Pay for Artists").get_by_role("link", name="Delivery document").click()
    expect(admin.locator("main")).to_contain_text("Ada Lovelace")
    admin.get_by_role("button", name="Make a PDF").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("PDF of the delivery document")
    run_worker(app)
    download_link = admin.get_by_role("link", name="Download the PDF")
    expect(download_link).to_be_visible(timeout=15_000)
    with admin.expect_download() as waiting:
        download_link.click()
    pdf = PdfReader(io.BytesIO(waiting.value.path().read_bytes()))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Fair Pay for Artists" in text and "pay artists" in text
    assert "Ada Lovelace" in text and "김민지" in text
    assert "2 signatures" in text
