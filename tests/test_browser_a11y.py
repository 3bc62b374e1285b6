"""In a real Chromium: axe-core on every public page in both languages, keyboard-only signing in
Korean on a phone, layouts from 320 px to desktop, print, and the badge and embed framed by another site."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from werkzeug.serving import make_server

from app import jobs
from app.db import db, utcnow
from app.models import Letter, ModeratorRole, OutboxMessage, Signature
from app.moderation import accounts
from app.services import invitations
from tests import factories
from tests.factories import LETTER_TEXT, add_confirmed
from tests.support import SMTPSink, link_in, smtp_settings

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LETTER = "/letters/test-letter"
LIVE_TIMEOUT_MS = 8_000
axe = Axe()


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Mail goes to the test SMTP server; the page polls every second."""
    return {**smtp_settings(smtp_sink), "LIVE_POLL_SECONDS": 1}


def serious_violations(page: Page) -> list[str]:
    """axe-core's violations of serious or critical impact on the page as it is now."""
    results = axe.run(page).response
    return [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']][:5]}"
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def outbox_links(app: Flask, address: str) -> tuple[str, str]:
    """The confirm and withdraw links of the last mail to ``address`` (straight from the outbox)."""
    with app.app_context():
        body = db.session.scalars(
            sa.select(OutboxMessage.body_text)
            .where(OutboxMessage.recipient == address)
            .order_by(OutboxMessage.id.desc())
        ).first()
    assert body
    confirm = re.search(r"https?://\S+/confirm/\S+", body)
    withdraw = re.search(r"https?://\S+/withdraw/\S+", body)
    assert confirm and withdraw
    return confirm.group(0), withdraw.group(0)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_no_serious_accessibility_violations_on_any_public_page(
    app: Flask,
    letter: Letter,
    create_letter: Callable[..., Letter],
    live_server: str,
    new_context: Callable[..., BrowserContext],
    lang: str,
) -> None:
    add_confirmed(app, letter.id, 3, city="Seoul", country="KR", comment="우리의 작업에는 대가가 필요합니다. " * 12)
    add_confirmed(app, letter.id, 2, comment="Pay the artists.")
    page = new_context(locale="ko-KR" if lang == "ko" else "en-GB").new_page()
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        expect(page.locator("html")).to_have_attribute("lang", lang)
        found[name] = serious_violations(page)

    for name, path in [
        ("letter", f"{LETTER}?lang={lang}"),
        ("front", "/"),
        ("letters", "/letters"),
        ("signatures", f"{LETTER}/signatures"),
        ("comments", f"{LETTER}/signatures?comments=1"),
        ("signature", f"{LETTER}/signatures/1"),
        ("privacy", "/privacy"),
        ("stats", f"{LETTER}/stats"),
        ("embed", f"{LETTER}/embed?lang={lang}"),
        ("not found", "/nothing/here"),
    ]:
        page.goto(path)
        check(name)

    # A letter closed with its names hidden: the numbers instead of the names.
    hidden = create_letter(
        LETTER_TEXT.replace("test-letter", "hidden-letter"),
        closed_at=utcnow(),
        names_hidden_at=utcnow(),
        hide_names_after_close=True,
    )
    for name, path in [
        ("letter, names hidden", f"/letters/{hidden.slug}?lang={lang}"),
        ("signatures, names hidden", f"/letters/{hidden.slug}/signatures?lang={lang}"),
        ("privacy, each letter's choices", f"/privacy?lang={lang}"),
    ]:
        page.goto(path)
        check(name)

    # Signing with mistakes: the errors, announced and linked to their fields.
    page.goto(LETTER)
    page.locator("#email").fill("not an address")
    page.locator("#sign button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#error-summary")).to_be_focused()
    check("sign errors")

    address = f"axe-{lang}@example.org"
    page.locator("#name").fill("Axe Signer")
    page.locator("#email").fill(address)
    page.locator("#sign button[type=submit]").click()
    expect(page.locator("h1")).to_have_count(1)
    check("check inbox")
    page.goto(f"{LETTER}/resend")
    check("resend")

    confirm, withdraw = outbox_links(app, address)
    page.goto(confirm)
    check("confirm")
    page.locator("main button[type=submit]").click()
    expect(page.locator(".panel[role=status]")).to_be_visible()
    check("confirmed")
    # "That's not me" about that entry: the form, its errors, the inbox page, the link's page and its answer.
    with app.app_context():
        signed_id = db.session.scalars(sa.select(Signature.id).where(Signature.email == address)).one()
    page.goto(f"{LETTER}/signatures/{signed_id}/dispute")
    check("dispute")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    check("dispute errors")
    disputer = f"axe.signer.{lang}@example.org"
    page.locator("#email").fill(disputer)
    page.locator("#named").check()
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".panel[role=status]")).to_be_visible()
    check("dispute sent")
    with app.app_context():
        body = db.session.scalars(sa.select(OutboxMessage.body_text).where(OutboxMessage.recipient == disputer)).one()
    found_link = re.search(r"https?://\S+/disputes/\S+", body)
    assert found_link, body
    page.goto(found_link.group(0))
    check("dispute confirm")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".panel[role=status]")).to_be_visible()
    check("dispute confirmed")
    # A name on the watch list: counted, and listed only once a moderator has reviewed it.
    page.goto(LETTER)
    page.locator("#name").fill("Elon Musk")
    page.locator("#email").fill(f"axe-watched-{lang}@example.org")
    page.locator("#sign button[type=submit]").click()
    expect(page.locator("h1")).to_have_count(1)
    watched_confirm, _ = outbox_links(app, f"axe-watched-{lang}@example.org")
    page.goto(watched_confirm)
    page.locator("main button[type=submit]").click()
    expect(page.locator(".confirmed-review")).to_be_visible()
    check("confirmed, awaiting review")
    page.goto(f"{LETTER}/log")
    expect(page.locator("[data-ledger=awaiting_review_counted]")).to_have_text("1")
    check("verify this list, awaiting review")
    page.goto(f"{LETTER}/withdraw")
    check("withdraw request")
    page.goto(withdraw)
    check("withdraw")
    page.locator("main button[type=submit]").click()
    expect(page.locator(".panel[role=status]")).to_be_visible()
    check("withdrawn")
    page.goto(confirm)
    check("used link")

    # The moderators' pages: sign-in, the letters, the queue (with a flagged signature), the log.
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, f"mod-{lang}@example.org", "a long enough password", ModeratorRole.ADMIN)
    page.goto("/moderate/login")
    check("moderator sign-in")
    page.locator("#email").fill(f"mod-{lang}@example.org")
    page.locator("#password").fill("a long enough password")
    page.locator("main button[type=submit]").click()
    expect(page.locator(".mod-nav")).to_be_visible()
    check("moderation letters")
    page.goto("/moderate/letters/test-letter?view=all")
    expect(page.locator("tbody tr[data-signature]").first).to_be_visible()
    check("moderation queue")
    # A decision: the row redrawn, the banner with its undo; the keys' help over the page.
    page.locator(".row-decide button[value=fake]").first.click()
    expect(page.locator("#undo-banner form")).to_be_visible()
    check("moderation queue after a decision")
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_visible()
    check("keyboard help")
    page.keyboard.press("Escape")
    # What a bulk action will do, before it is done.
    page.locator("tbody input[name=signature]").nth(1).check()
    page.locator("tbody input[name=signature]").nth(2).check()
    page.locator("#action").select_option("delete")
    page.locator("#reason").select_option("fake")
    page.locator("#bulk button[type=submit]").click()
    expect(page.locator(".confirm-form")).to_be_visible()
    check("moderation confirmation")
    page.goto("/moderate/audit")
    expect(page.locator(".audit-entry").first).to_be_visible()
    check("audit log")
    page.goto("/moderate/letters/test-letter/dashboard")
    expect(page.locator(".dash-numbers")).to_be_visible()
    check("moderation dashboard")
    page.goto("/moderate/account/notifications")
    check("notification settings")
    page.goto("/moderate/letters/test-letter/edit")
    check("letter edit")
    page.goto("/moderate/letters/hidden-letter/edit")
    check("letter edit, names hidden")
    # The editor of a new letter: its tabs, a translation tab chosen, the live preview, its errors.
    page.goto("/moderate/letters/new")
    check("new letter")
    page.locator("#body_markdown").fill("A **live** preview.")
    expect(page.locator("#preview-original strong")).to_have_text("live")
    page.locator(".tab-links [role=tab]").nth(2).click()
    expect(page.locator("#body_ko")).to_be_visible()
    check("new letter, translation tab")
    page.locator("#letter-editor .button-primary").click()
    expect(page.locator("#error-summary")).to_be_visible()
    check("new letter errors")
    page.goto("/moderate/letters/test-letter/delivery")
    expect(page.locator(".delivery-document h1")).to_be_visible()
    check("delivery document")
    page.locator("form[action*='/delivery/pdf'] button[type=submit]").click()
    expect(page.locator("progress")).to_be_visible()
    check("delivery PDF, being made")
    with app.app_context():
        while jobs.run_due(jobs.Settings.from_config(app.config), worker_id="axe"):
            pass
    # The page's script sees the job finish and reloads it.
    expect(page.get_by_role("link", name=re.compile("PDF"))).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    check("delivery PDF, ready")
    # People: the accounts, an invitation sent, and the invitee's page with its errors.
    page.goto("/moderate/people")
    check("people")
    invitee = f"invitee-{lang}@example.org"
    page.locator("#email").fill(invitee)
    page.locator("form[action*='/people/invite'] button[type=submit]").click()
    expect(page.locator(".flash")).to_be_visible()
    check("people after an invitation")
    with app.app_context():
        body = db.session.scalar(sa.select(OutboxMessage.body_text).where(OutboxMessage.recipient == invitee))
    invitation = re.search(r"https?://\S+/moderate/invitation/\S+", body or "")
    assert invitation
    page.goto(re.sub(r"^https?://[^/]+", "", invitation.group(0)))
    check("invitation")
    page.locator("#password").fill("short")
    page.locator("main button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    check("invitation errors")
    # A private launch: the console, an invitation, its errors, signing through it, the founders' preview.
    with app.app_context(), db.transaction() as session:
        private = factories.letter(session, slug=f"private-{lang}", draft=True)
        link = "/invitations/" + invitations.invite_shared(session, private, cap=5, now=utcnow()).token
    page.goto(f"/moderate/letters/private-{lang}/invitations")
    check("invitations console")
    page.goto(link)
    check("founder invitation")
    page.locator("#sign button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    check("founder invitation errors")
    page.locator("#name").fill("Founding Signer")
    page.locator("#email").fill(f"founder-{lang}@example.org")
    page.locator("#sign button[type=submit]").click()
    expect(page.locator(".panel[role=status]")).to_be_visible()
    check("founder invitation signed")
    page.goto(link.replace("/invitations/", "/invitations/preview/"))
    check("founders preview")

    assert len(found) == 55
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_axe_does_find_a_serious_problem(
    letter: Letter,
    new_context: Callable[..., BrowserContext],
) -> None:
    page = new_context().new_page()
    page.goto(LETTER)
    page.evaluate("document.querySelector('label[for=name]').remove()")  # an input without a label
    assert any(problem.startswith("label ") for problem in serious_violations(page))


def tab_to(page: Page, selector: str, limit: int = 120) -> None:
    """Press Tab until the element matching ``selector`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus by Tab")


def assert_focus_is_visible(page: Page) -> None:
    style = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert style[0] != "none" and style[1] != "0px", style


def test_signing_in_korean_on_a_phone_with_the_keyboard_only(
    app: Flask,
    letter: Letter,
    smtp_sink: SMTPSink,
    new_context: Callable[..., BrowserContext],
) -> None:
    phone = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
    watcher = new_context(locale="ko-KR", **phone).new_page()
    watcher.goto(LETTER)
    expect(watcher.locator(".count")).to_have_text("0명")

    page = new_context(**phone).new_page()  # an English browser...
    page.goto(LETTER)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    tab_to(page, "a[hreflang=ko]")  # ...whose user picks Korean in the header
    assert_focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator("#sign-heading")).to_have_text("이 서한에 서명하기")

    tab_to(page, "#name")
    assert_focus_is_visible(page)
    page.keyboard.type("김하늘")
    tab_to(page, "#email")
    page.keyboard.type("haneul@example.org")
    tab_to(page, "#city")
    page.keyboard.type("서울")
    tab_to(page, "#comment")
    page.keyboard.type("창작자에게 정당한 대가를.")
    tab_to(page, "#sign button[type=submit]")
    assert_focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("받은편지함을 확인해 주세요")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    result = app.test_cli_runner().invoke(args=["mail", "send"])
    assert result.exit_code == 0 and result.output.startswith("1 sent,"), result.output
    [message] = smtp_sink.messages_to("haneul@example.org")
    assert message["Subject"] == "서명을 확인해 주세요: An open letter for testing"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "김하늘 님, 안녕하세요." in body.get_content()

    page.goto(link_in(message))  # following the link from the mail
    expect(page.get_by_role("heading", level=1)).to_have_text("서명을 확인해 주세요")
    tab_to(page, "main button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("감사합니다. 서명이 확인되었습니다")

    # The Korean page that stayed open updates itself: count, words and list.
    expect(watcher.locator(".count")).to_have_text("1명", timeout=LIVE_TIMEOUT_MS)
    expect(watcher.locator(".goal-text")).to_have_text("목표 100명 중 1명")
    expect(watcher.locator("[data-newest] .signer-name")).to_have_text(["김하늘"], timeout=LIVE_TIMEOUT_MS)
    expect(watcher.locator("[data-newest] .signer-comment")).to_contain_text("창작자에게 정당한 대가를.")
    with app.app_context():
        assert db.session.scalars(sa.select(Signature.locale)).all() == ["ko"]


@pytest.mark.parametrize("width", [320, 768, 1280])
def test_the_pages_fit_phones_tablets_and_desktops(
    app: Flask,
    letter: Letter,
    new_context: Callable[..., BrowserContext],
    width: int,
) -> None:
    add_confirmed(app, letter.id, 4, city="Busan", country="KR", comment="긴 이야기입니다. " * 40)
    page = new_context(locale="ko-KR", viewport={"width": width, "height": 900}).new_page()
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in [("letter", LETTER), ("signatures", f"{LETTER}/signatures"), ("embed", f"{LETTER}/embed")]:
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.goto(LETTER)
    sign_box = page.locator(".sign-box")
    jump = page.locator(".jump-to-sign")
    if width < 896:  # 56rem: one column, with a link down to the form
        expect(jump).to_be_visible()
    else:
        expect(jump).to_be_hidden()
    expect(sign_box).to_be_visible()


def test_the_print_stylesheet_prints_the_letter_and_its_signers_only(
    app: Flask,
    letter: Letter,
    new_context: Callable[..., BrowserContext],
) -> None:
    add_confirmed(app, letter.id, 2)
    page = new_context().new_page()
    page.goto(LETTER)
    page.emulate_media(media="print")
    expect(page.locator(".letter-body")).to_be_visible()
    expect(page.locator("[data-newest] .signer")).to_have_count(2)
    expect(page.locator("[data-newest] .signer").first).to_be_visible()
    expect(page.locator(".count-number")).to_be_visible()
    for hidden in (".sign-box", ".share-box", ".site-header", ".site-footer", ".jump-to-sign", ".ledger"):
        expect(page.locator(hidden)).to_be_hidden()
    # Nothing of moderation on paper: no "Report" (or "That's not me") link beside each signer.
    expect(page.locator(".signer-report").first).to_be_attached()
    for report in page.locator(".signer-report").all():
        expect(report).to_be_hidden()
    page.emulate_media(media="screen")
    expect(page.locator(".sign-box")).to_be_visible()


def test_the_delivery_page_prints_the_document_only(
    app: Flask,
    letter: Letter,
    live_server: str,
    new_context: Callable[..., BrowserContext],
) -> None:
    add_confirmed(app, letter.id, 3)
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "print@example.org", "a long enough password", ModeratorRole.ADMIN)
    page = new_context().new_page()
    page.goto("/moderate/login")
    page.locator("#email").fill("print@example.org")
    page.locator("#password").fill("a long enough password")
    page.locator("main button[type=submit]").click()
    page.goto("/moderate/letters/test-letter/delivery")
    page.emulate_media(media="print")
    expect(page.locator(".delivery-document h1")).to_be_visible()
    expect(page.locator(".delivery-list li")).to_have_count(3)
    expect(page.locator(".delivery-verify")).to_be_visible()
    for hidden in (".delivery-tools", ".mod-nav", ".site-header", ".site-footer"):
        expect(page.locator(hidden)).to_be_hidden()
    page.emulate_media(media="screen")
    expect(page.locator(".delivery-tools")).to_be_visible()


def test_the_badge_and_the_embed_render_in_a_page_that_frames_them(
    app: Flask,
    letter: Letter,
    live_server: str,
    new_context: Callable[..., BrowserContext],
) -> None:
    add_confirmed(app, letter.id, 7)
    partner = f"""<!doctype html><html lang="en"><title>Partner</title>
<img id="badge" alt="Signatures" src="{live_server}{LETTER}/badge.svg">
<iframe id="embed" title="Sign the letter" src="{live_server}{LETTER}/embed?lang=ko" width="360" height="260"></iframe>
<iframe id="page" title="The letter itself" src="{live_server}{LETTER}" width="360" height="260"></iframe>"""
    context = new_context()
    page = context.new_page()
    with partner_site(partner) as partner_url:
        page.goto(partner_url)
        check_the_framed_badge_and_embed(page, context, live_server)


@contextmanager
def partner_site(html: str) -> Iterator[str]:
    """Another site, on another loopback port (so another origin), serving one page."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [html.encode()]

    server = make_server("127.0.0.1", 0, serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def check_the_framed_badge_and_embed(page: Page, context: BrowserContext, site: str) -> None:
    """The badge shows, the embed shows the count and opens the letter; the letter itself stays unframed."""
    badge = page.locator("#badge")
    page.wait_for_function("document.getElementById('badge').complete")
    assert page.evaluate("document.getElementById('badge').naturalWidth") > 50

    embed = page.frame_locator("#embed")
    expect(embed.locator(".count")).to_have_text("7명")
    expect(embed.locator("progress")).to_have_attribute("value", "7")
    sign = embed.get_by_role("link", name=re.compile("이 서한에 서명하기"))
    expect(sign).to_have_attribute("href", f"{site}{LETTER}#sign")
    expect(sign).to_have_attribute("target", "_blank")
    with context.expect_page() as opened:
        sign.click()
    expect(opened.value.locator("#sign-heading")).to_be_visible()

    # The letter page itself refuses to be framed: the frame stays empty.
    page.wait_for_timeout(300)
    assert page.evaluate("location.origin") != site
    frame = page.frame(url=re.compile(r"/letters/test-letter$"))
    assert frame is None or frame.locator("h1").count() == 0
    expect(badge).to_be_visible()


def test_the_copy_link_button_appears_with_javascript_and_copies_the_address(
    letter: Letter,
    live_server: str,
    new_context: Callable[..., BrowserContext],
) -> None:
    plain = new_context(java_script_enabled=False).new_page()
    plain.goto(LETTER)
    expect(plain.locator(".copy-item")).to_be_hidden()  # no dead button without the script
    expect(plain.locator(".share-url")).to_have_text(f"{live_server}{LETTER}")  # the address is there to copy

    page = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    page.goto(LETTER)
    button = page.get_by_role("button", name="Copy link")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator(".copy-status")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server}{LETTER}"
