"""End to end in a real Chromium: sign, confirm by the mailed link, watch the count change live."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from app.models import Letter
from tests.support import SMTPSink, deliver_mail, link_in, smtp_settings, table_counts

pytestmark = pytest.mark.browser

LETTER = "/letters/test-letter"
# Longer than two poll intervals plus the API's two-second cache, shorter than the brief's limit.
LIVE_TIMEOUT_MS = 8_000
INVALID_EMAIL_MESSAGE = "Please enter a valid email address, like name@example.org."


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Mail goes to the test SMTP server; the page polls every second."""
    return {**smtp_settings(smtp_sink), "LIVE_POLL_SECONDS": 1}


def deliver_one(app: Flask) -> None:
    """Send the one message waiting, as the operator's cron or worker would."""
    assert deliver_mail(app).startswith("1 sent,")


def fill_and_sign(page: Page, **fields: str) -> None:
    """Fill the signing form by its labels, as a person would, and press Sign."""
    values = {"name": "Ada Lovelace", "email": "ada@example.org", **fields}
    page.get_by_label("Full name", exact=True).fill(values["name"])
    page.get_by_label("Email", exact=True).fill(values["email"])
    if "affiliation" in values:
        page.get_by_label("Affiliation or title").fill(values["affiliation"])
    if "city" in values:
        page.get_by_label("City").fill(values["city"])
    page.get_by_role("button", name="Sign", exact=True).click()


def confirm_by_mail(app: Flask, smtp_sink: SMTPSink, page: Page, address: str, name: str) -> None:
    """Send the outbox, open the link from the mail and press the button on that page."""
    deliver_one(app)
    messages = smtp_sink.messages_to(address)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    link = link_in(messages[0])
    assert link.startswith(f"{app.config['BASE_URL']}/confirm/"), link

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your signature")
    expect(page.locator(".signer-details")).to_contain_text(name)
    page.get_by_role("button", name="Confirm my signature").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: your signature is confirmed")


def test_count_and_newest_signers_update_live_without_reload(
    app: Flask,
    letter: Letter,
    smtp_sink: SMTPSink,
    new_context: Callable[..., BrowserContext],
) -> None:
    watcher = new_context().new_page()
    navigations: list[str] = []
    watcher.on("framenavigated", lambda frame: navigations.append(frame.url) if frame.parent_frame is None else None)
    watcher.goto(LETTER)
    count = watcher.locator(".count-number")
    expect(count).to_have_text("0")
    expect(watcher.locator(".count-box .count-label")).to_have_text("signatures")
    expect(watcher.locator("[data-newest] .signer")).to_have_count(0)
    expect(watcher.locator("[data-empty]")).to_be_visible()
    watcher.evaluate("window.__marker = 42")
    polls: list[str] = []
    watcher.on("request", lambda request: polls.append(request.url) if "/api/v1/letters/" in request.url else None)

    signer = new_context().new_page()
    signer.goto(LETTER)
    fill_and_sign(signer, affiliation="Analytical Engine Society", city="London")
    expect(signer.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    # (The form's "#sign" fragment carries over the redirect, as browsers do.)
    assert urlsplit(signer.url).path == f"{LETTER}/signed", signer.url
    # Not counted before confirmation: the watcher keeps showing 0 meanwhile.
    expect(count).to_have_text("0")

    confirm_by_mail(app, smtp_sink, signer, "ada@example.org", "Ada Lovelace")

    expect(count).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    expect(count).to_have_attribute("data-count", "1")
    expect(watcher.locator(".count-box .count-label")).to_have_text("signature")
    # The count under the title (shown on narrow screens) follows too.
    expect(watcher.locator(".count-inline [data-count]")).to_have_text("1")
    expect(watcher.locator(".count-inline .count-label")).to_have_text("signature")
    newest = watcher.locator("[data-newest] .signer")
    expect(newest).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(newest.locator(".signer-name")).to_have_text("Ada Lovelace")
    expect(newest.locator(".signer-affiliation")).to_have_text("Analytical Engine Society")
    expect(newest.locator(".signer-place")).to_have_text("London")
    expect(watcher.locator("[data-empty]")).to_be_hidden()

    # The same document all along: the marker survived, there was one navigation, and the
    # page fetched the API instead.
    assert watcher.evaluate("window.__marker") == 42
    assert navigations == [watcher.url], navigations
    assert any(url.endswith("/api/v1/letters/test-letter") for url in polls), polls
    assert table_counts(app)["signatures"] == 1


def test_invalid_email_is_refused_next_to_the_field_keeping_what_was_typed(
    app: Flask,
    letter: Letter,
    new_context: Callable[..., BrowserContext],
) -> None:
    page = new_context().new_page()
    page.goto(LETTER)
    with page.expect_response(lambda r: r.request.method == "POST" and "/sign" in r.url) as answer:
        fill_and_sign(page, name="Ada Lovelace", email="ada at example dot org")
    assert answer.value.status == 422

    email = page.get_by_label("Email", exact=True)
    error = page.locator("#email-error")
    expect(error).to_contain_text(INVALID_EMAIL_MESSAGE)
    # Next to the field: in the same field block, tied to the input for screen readers.
    expect(page.locator(".field-error").filter(has=email)).to_contain_text(INVALID_EMAIL_MESSAGE)
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile(re.escape(INVALID_EMAIL_MESSAGE)))
    expect(page.locator("#error-summary")).to_contain_text(INVALID_EMAIL_MESSAGE)
    # What the person typed is still there; only the bad field is marked.
    expect(page.get_by_label("Full name", exact=True)).to_have_value("Ada Lovelace")
    expect(email).to_have_value("ada at example dot org")
    expect(page.get_by_label("Full name", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".count-number")).to_have_text("0")
    assert table_counts(app) == {"signatures": 0, "tokens": 0, "outbox_messages": 0, "jobs": 0}


def test_letter_page_works_without_javascript(
    app: Flask,
    letter: Letter,
    smtp_sink: SMTPSink,
    new_context: Callable[..., BrowserContext],
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(LETTER)
    expect(page.get_by_role("heading", level=1)).to_have_text("An open letter for testing")
    expect(page.locator(".count-number")).to_have_text("0")
    expect(page.locator("[data-empty]")).to_have_text("No public signatures yet.")
    expect(page.get_by_role("button", name="Sign", exact=True)).to_be_visible()

    fill_and_sign(page, name="Grace Hopper", email="grace@example.org")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")

    # Confirming needs no script either, and the server-rendered page shows the result.
    confirm_by_mail(app, smtp_sink, page, "grace@example.org", "Grace Hopper")
    page.goto(LETTER)
    # The browser may keep the public page for PUBLIC_MAX_AGE seconds (without a script nothing
    # updates it); reloading asks the site again, which answers with the new page.
    page.reload()
    expect(page.locator(".count-number")).to_have_text("1")
    expect(page.locator(".count-box .count-label")).to_have_text("signature")
    expect(page.locator("[data-newest] .signer-name")).to_have_text(["Grace Hopper"])
