"""A private launch in a real Chromium: an organiser invites three founders before the launch and two
sign through their links; nothing is public before the launch; at the launch the founders and the
count appear, the log shows them, and the founders get the launch mail (through a real SMTP server)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from app.db import db
from app.models import AuditEntry, Letter, ModeratorRole
from app.moderation import accounts
from tests import factories
from tests.support import SMTPSink, deliver_mail, link_in, one, smtp_settings, text_of

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SLUG = "test-letter"
TITLE = "An open letter for testing"
FOUNDERS = {"ada@example.org": "Ada Lovelace", "grace@example.org": "Grace Hopper", "joan@example.org": None}


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    return smtp_settings(smtp_sink)


def invitation_link(sink: SMTPSink, address: str) -> str:
    [message] = [m for m in sink.messages_to(address) if "/invitations/" in text_of(m)]
    found = re.search(r"https?://\S+/invitations/\S+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def sign_as_founder(page: Page, link: str, name: str, address: str) -> None:
    page.goto(link)
    expect(page.locator(".private-banner")).to_contain_text("Not public yet.")
    expect(page.get_by_label("Email", exact=True)).to_have_value(address)  # the invited address, ready in the form
    page.get_by_label("Full name").fill(name)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")


def confirm(page: Page, sink: SMTPSink, address: str) -> None:
    [message] = [m for m in sink.messages_to(address) if "/confirm/" in text_of(m)]
    page.goto(link_in(message))
    page.locator("main button[type=submit]").click()
    expect(page.locator(".confirmed-private")).to_contain_text("not public yet")


def test_founders_sign_privately_and_appear_together_at_the_launch(
    app: Flask, new_context: Callable[..., BrowserContext], smtp_sink: SMTPSink
) -> None:
    with app.app_context(), db.transaction() as session:
        factories.letter(session, draft=True)
        accounts.create_moderator(session, "admin@example.org", PASSWORD, ModeratorRole.ADMIN)
    organiser = new_context().new_page()
    organiser.goto("/moderate/login")
    organiser.get_by_label("Email").fill("admin@example.org")
    organiser.get_by_label("Password").fill(PASSWORD)
    organiser.get_by_role("button", name="Sign in").click()

    # 1. The organiser invites three founders; two sign through their links.
    organiser.goto(f"/moderate/letters/{SLUG}/edit")
    organiser.get_by_role("link", name="Invitations and launch").click()
    organiser.get_by_label("Addresses").fill("\n".join(FOUNDERS))
    organiser.get_by_role("button", name="Invite and email").click()
    expect(organiser.get_by_role("status")).to_contain_text("3 invitations are on their way")
    expect(organiser.locator(".link-copy")).to_have_count(3)
    deliver_mail(app)
    for address, name in FOUNDERS.items():
        if name is None:
            continue
        founder = new_context().new_page()
        sign_as_founder(founder, invitation_link(smtp_sink, address), name, address)
        deliver_mail(app)
        confirm(founder, smtp_sink, address)
    founder.goto(invitation_link(smtp_sink, "grace@example.org").replace("/invitations/", "/invitations/preview/"))
    expect(founder.locator(".founders-preview .signer-name")).to_have_text(["Ada Lovelace", "Grace Hopper"])
    organiser.reload()
    expect(organiser.locator(".invitations-table tbody tr")).to_have_count(3)

    # 2. Nothing is visible publicly before the launch.
    public = new_context().new_page()
    for path in (f"/letters/{SLUG}", f"/letters/{SLUG}/signatures", f"/api/v1/letters/{SLUG}", f"/letters/{SLUG}/log"):
        assert public.goto(path).status == 404, path  # type: ignore[union-attr]
    public.goto("/letters")
    expect(public.locator("main")).not_to_contain_text(TITLE)

    # 3. The launch: the founders and the count appear, the log shows them, the founders get the mail.
    expect(organiser.get_by_label("Email the founding signatories that the letter is public")).to_be_checked()
    organiser.get_by_role("button", name="Launch now").click()
    expect(organiser.get_by_role("status")).to_contain_text("The letter is public, with 2 signatures")
    public.goto(f"/letters/{SLUG}")
    expect(public.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(public.locator(".count-box .count-number")).to_have_text("2")
    expect(public.locator(".signers.founding .signer-name")).to_have_text(["Grace Hopper", "Ada Lovelace"])
    result = app.test_cli_runner().invoke(args=["log", "sequence"])
    assert result.exit_code == 0, result.output
    public.goto(f"/letters/{SLUG}/log")
    expect(public.locator(".log-facts dd").first).to_have_text("2")
    verify = app.test_cli_runner().invoke(args=["log", "verify", SLUG])
    assert verify.exit_code == 0, verify.output
    deliver_mail(app)
    for address, name in FOUNDERS.items():
        launched = [m for m in smtp_sink.messages_to(address) if m["Subject"] == f"“{TITLE}” is public now"]
        assert len(launched) == (1 if name else 0), address
        if name:
            assert f"/letters/{SLUG}" in text_of(launched[0]) and f"Hello {name}" in text_of(launched[0])
    assert not one(app, Letter).draft
    assert one(app, AuditEntry, action="letter.launch").moderator_email == "admin@example.org"
