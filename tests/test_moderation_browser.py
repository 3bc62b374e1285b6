"""The review queue in a real Chromium: bulk actions seen in public, fifty flags triaged by keyboard, deletions
that need their confirmation, undo that restores the list exactly, the queue without JavaScript, and tables
that split no word. The tests marked ``engines`` run on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from app.db import db, utcnow
from app.models import AuditEntry, Flag, FlagKind, Letter, ModeratorRole, Signature, SuspectReason
from app.models import RemovalReason as R
from app.models import SignatureStatus as S
from app.moderation import accounts
from app.services import counting
from tests import factories
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


# --- an hour in the queue --------------------------------------------------------------------

QUEUE = f"/moderate/letters/{SLUG}"


def signed_in(new_context: Callable[..., BrowserContext], **options: Any) -> Page:
    """A moderator's page, signed in through the form."""
    page = new_context(**options).new_page()
    page.goto("/moderate/login")
    page.locator("#email").fill("mod@example.org")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page.locator(".mod-nav")).to_be_visible()
    return page


def public_list(app: Flask) -> tuple[int, list[tuple[str, str]]]:
    """The public count and the whole public list (name, signed_at) in its order, as the API serves them."""
    client = app.test_client()
    count = client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"]
    listed = client.get(f"/api/v1/letters/{SLUG}/signatures?limit=100").get_json()["signatures"]
    return count, [(s["name"], s["signed_at"]) for s in listed]


def recount_is_exact(app: Flask) -> bool:
    with app.app_context(), db.transaction() as session:
        letter = session.scalars(sa.select(Letter).where(Letter.slug == SLUG)).one()
        return counting.recount(session, letter, now=utcnow()).exact


@pytest.mark.engines
def test_fifty_flagged_signatures_are_triaged_by_keyboard_alone_in_one_page_load(
    app: Flask, letter: Letter, new_context: Callable[..., BrowserContext]
) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "mod@example.org", PASSWORD, ModeratorRole.MODERATOR)
        for n in range(50):
            factories.flag(session, factories.signer(session, letter.id, name=f"Flagged {n:02d}"))
    page = signed_in(new_context)
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    page.goto(f"{QUEUE}?view=flagged")
    rows = page.locator("tbody tr[data-signature]")
    expect(rows).to_have_count(50)
    expect(page.locator("[data-keys-hint]")).to_be_visible()

    keys: list[str] = []

    def press(key: str) -> None:
        keys.append(key)
        page.keyboard.press(key)

    press("?")  # the keys, shown and put away
    expect(page.locator("#keys-help")).to_be_visible()
    expect(page.locator("#keys-help")).to_contain_text("Hide as fake")
    press("Escape")
    expect(page.locator("#keys-help")).to_be_hidden()
    press("j")
    expect(rows.first).to_be_focused()
    decisions = "yfd" * 17  # looks fine, fake, duplicate, in turn
    for n, key in enumerate(decisions[:50]):
        press(key)
        if n < 49:
            expect(rows.nth(n + 1)).to_be_focused()  # the next signature is chosen at once
    expect(page.locator("tbody tr.row-done")).to_have_count(50, timeout=60_000)
    expect(page.locator("tbody tr.row-busy")).to_have_count(0)

    assert len(loads) == 1, loads  # the queue was loaded once; every decision stayed on it
    assert page.url.endswith(f"{QUEUE}?view=flagged")
    assert len(keys) <= 2 * 50, len(keys)
    expect(page.locator('[data-count-view="flagged"]')).to_have_text("0")
    with app.app_context():
        found = db.session.execute(
            sa.select(Signature.name, Signature.status, Signature.removal_reason).where(
                Signature.letter_id == letter.id
            )
        ).all()
        open_flags = db.session.scalar(sa.select(sa.func.count()).select_from(Flag).where(Flag.resolved_at.is_(None)))
        entries = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    expected = {  # the queue lists the newest first
        f"Flagged {49 - n:02d}": {"y": (S.CONFIRMED, None), "f": (S.HIDDEN, R.FAKE), "d": (S.HIDDEN, R.DUPLICATE)}[key]
        for n, key in enumerate(decisions[:50])
    }
    assert {name: (status, reason) for name, status, reason in found} == expected
    assert open_flags == 0 and entries == 50
    assert public_list(app)[0] == 17 and recount_is_exact(app)
    page.reload()
    expect(page.locator("tbody")).to_contain_text("Nothing here.")


@pytest.mark.engines
def test_a_bulk_delete_without_its_confirmation_changes_nothing_and_undo_restores_the_list_exactly(
    app: Flask, letter: Letter, new_context: Callable[..., BrowserContext]
) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "mod@example.org", PASSWORD, ModeratorRole.MODERATOR)
        factories.confirmed_signers(session, letter.id, 6)
    before = public_list(app)
    visitor = new_context().new_page()
    visitor.goto(f"/letters/{SLUG}")
    expect(visitor.locator(".count-number")).to_have_text("6")

    page = signed_in(new_context)
    page.goto(f"{QUEUE}?view=all")
    page.get_by_label("Instead of the ticked ones: all 6 signatures that match this search").check()
    page.get_by_label("Action").select_option("delete")
    page.get_by_label("Reason").select_option("fake")
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete 6 signatures for good?")
    expect(page.locator(".warning-box")).to_contain_text("This cannot be undone.")
    expect(page.locator(".preview-names li")).to_have_count(6)
    # The button without the letter's name typed: refused, in place.
    page.get_by_role("button", name="Yes, delete 6 signatures for good").click()
    expect(page.locator("#phrase-error")).to_contain_text("Type test-letter exactly, or go back.")
    page.get_by_role("link", name="No, go back").click()
    expect(page).to_have_url(re.compile(rf"{QUEUE}\?view=all$"))
    assert public_list(app) == before
    expect(visitor.locator(".count-number")).to_have_text("6")

    # A wrong hide, by keyboard, and its undo: the count and the list are as they were.
    page.keyboard.press("j")
    page.keyboard.press("f")
    expect(page.locator("tbody tr.row-done")).to_have_count(1)
    expect(page.locator("#undo-banner")).to_contain_text("Hidden (fake)")
    assert public_list(app)[0] == 5
    expect(visitor.locator(".count-number")).to_have_text("5", timeout=8_000)
    page.keyboard.press("u")
    expect(page.locator("#undo-banner")).to_contain_text("Undone: 1 signature is back as it was.")
    expect(page.locator("tbody tr.row-done")).to_have_count(0)
    assert public_list(app) == before and recount_is_exact(app)
    expect(visitor.locator(".count-number")).to_have_text("6", timeout=8_000)

    # A bulk hide, confirmed, undone from its entry in the audit log.
    page.locator("tbody input[name=signature]").nth(0).check()
    page.locator("tbody input[name=signature]").nth(1).check()
    page.get_by_label("Action").select_option("hide")
    page.get_by_label("Reason").select_option("duplicate")
    page.get_by_role("button", name="Apply…").click()
    page.get_by_role("button", name="Yes, apply to 2 signatures").click()
    expect(page.locator("#undo-banner")).to_contain_text("2 signatures changed.")
    assert public_list(app)[0] == 4
    page.get_by_role("link", name="Audit log", exact=True).click()
    entry = page.locator(".audit-entry").filter(has_text="Hidden").first
    entry.get_by_role("button", name=re.compile("^Undo")).click()
    expect(page.get_by_role("status")).to_contain_text("Undone: 2 signatures are back as they were.")
    expect(page.locator(".audit-entry").first).to_contain_text("Undone")
    assert public_list(app) == before and recount_is_exact(app)


def test_without_javascript_a_row_decision_comes_back_to_the_search_at_the_next_row(
    app: Flask, letter: Letter, new_context: Callable[..., BrowserContext]
) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "mod@example.org", PASSWORD, ModeratorRole.MODERATOR)
        made = [factories.signer(session, letter.id, name=f"Flagged {n}") for n in range(3)]
        for signature in made:
            factories.flag(session, signature)
        ids = [s.id for s in made]
    page = signed_in(new_context, java_script_enabled=False)
    page.goto(f"{QUEUE}?view=flagged&q=Flagged")
    expect(page.locator("[data-keys-hint]")).to_be_hidden()  # no keys without the script
    # Newest first: the middle one's next row is the oldest.
    page.locator(f"#signature-{ids[1]}").get_by_role("button", name="Hide as fake").click()
    expect(page).to_have_url(re.compile(rf"{QUEUE}\?view=flagged&q=Flagged#signature-{ids[0]}$"))
    expect(page.locator("#undo-banner")).to_contain_text("Hidden (fake): Flagged 1")
    expect(page.locator("tbody tr[data-signature]")).to_have_count(2)
    page.locator("#undo-banner").get_by_role("button", name="Undo").click()
    expect(page).to_have_url(re.compile(rf"{QUEUE}\?view=flagged&q=Flagged$"))
    expect(page.get_by_role("status").first).to_contain_text("Undone: 1 signature is back as it was.")
    expect(page.locator("tbody tr[data-signature]")).to_have_count(3)
    # Ticking the whole page works without the script too.
    page.get_by_role("link", name="Tick all on this page").click()
    expect(page.locator("tbody input[name=signature]:checked")).to_have_count(3)


# Every word of these tables on one line: a word split over two lines has two boxes. Addresses
# may break anywhere (they are one long word); words split at a hyphen or a slash are fine.
SPLIT_WORDS = """() => {
  const split = [];
  const cells = document.querySelectorAll(".mod-table th, .mod-table td");
  for (const cell of cells) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(".email, .visually-hidden, details:not([open]) > :not(summary), dialog")) continue;
      const pattern = /[^\\s\\-\\/]+/g;
      let match;
      while ((match = pattern.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) split.push(match[0]);
      }
    }
  }
  return split;
}"""


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_queue_and_the_log_split_no_word_at_1280_px_or_on_a_tablet(
    app: Flask, letter: Letter, new_context: Callable[..., BrowserContext], lang: str
) -> None:
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "mod@example.org", PASSWORD, ModeratorRole.MODERATOR)
        kim = factories.signer(
            session,
            letter.id,
            name="김하늘",
            email="haneul.kim.longaddress@computer-science.university.ac.kr",
            affiliation="서울대학교 컴퓨터공학부 교수",
            country="KR",
            city="서울",
            confirmed_domain="university.ac.kr",
        )
        factories.flag(session, kim, FlagKind.REPORT, reason="fake", details="She did not sign this.")
        for n in range(3):
            burst = factories.signer(session, letter.id, name=f"Office {n}", network_hash="office")
        factories.flag(session, burst, FlagKind.NETWORK_BURST)
        factories.signer(
            session, letter.id, S.SUSPECT, name="Quick", fill_seconds=0.8, suspect_reason=SuspectReason.TOO_FAST
        )
        factories.flag(session, factories.signer(session, letter.id, S.PENDING, name="Waiting Person"))
    for width, height in ((1280, 800), (768, 1024)):
        page = signed_in(
            new_context, viewport={"width": width, "height": height}, locale="ko-KR" if lang == "ko" else "en-GB"
        )
        page.goto(f"{QUEUE}?view=all&lang={lang}")
        page.locator(".row-decide button[value=fake]").first.click()  # a row in its decided state too
        expect(page.locator("tbody tr.row-done")).to_have_count(1)
        for view in ("all", "held"):
            if view != "all":
                page.goto(f"{QUEUE}?view={view}")
            assert page.evaluate(SPLIT_WORDS) == [], (lang, width, view)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (lang, width, view)
        page.goto("/moderate/audit")
        expect(page.locator(".audit-entry").first).to_be_visible()
        assert page.evaluate(SPLIT_WORDS) == [], (lang, width, "audit")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (lang, width, "audit")
    # The check does see a split word: the body's rule (break anywhere) in a narrow status column, as before.
    page.goto(f"{QUEUE}?view=all")
    page.evaluate(
        "document.querySelectorAll('.mod-table td.status').forEach(td => {"
        " td.style.overflowWrap = 'anywhere'; td.style.width = '3rem'; })"
    )
    assert page.evaluate(SPLIT_WORDS) != []
