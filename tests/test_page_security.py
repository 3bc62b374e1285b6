"""Every page a visitor can reach: no inline script or style, and the security headers on each."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, Response, template_rendered
from flask.testing import FlaskClient
from jinja2 import Template

from app import web
from app.db import db, utcnow
from app.models import Letter, Moderator, ModeratorRole, Organisation, Signature
from app.moderation import accounts
from app.services import invitations, notifications, updates
from tests import factories
from tests.factories import LETTER_TEXT, add_confirmed
from tests.support import csrf_token, sign

TEMPLATES = Path(web.__file__).parent / "templates"
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


@pytest.fixture
def app_config() -> dict[str, object]:
    """Debug mode, so that the development mailbox is there too."""
    return {"DEBUG": True}


@pytest.fixture
def rendered(app: Flask) -> Iterator[set[str]]:
    """The names of the templates rendered while the test runs."""
    names: set[str] = set()

    def record(sender: Flask, template: Template, context: dict[str, Any], **extra: Any) -> None:
        names.add(str(template.name))

    with template_rendered.connected_to(record, app):
        yield names


def page_templates() -> set[str]:
    """Templates that are whole web pages: not mail or the PDF's pages, not partials, not the layout."""
    return {
        path.relative_to(TEMPLATES).as_posix()
        for path in TEMPLATES.rglob("*.html")
        # Mail, and the delivery PDF's pages (laid out by WeasyPrint, never sent to a browser), aside.
        if not path.name.startswith("_") and path.name != "base.html" and path.parts[-2] not in {"mail", "delivery"}
    }


# Pages other sites may frame: their policy names who may, instead of 'none'.
EMBEDDABLE = re.compile(r"^/letters/[^/]+/embed(\?|$)")


def assert_safe_page(response: Response, path: str) -> None:
    html = response.get_data(as_text=True)
    assert response.mimetype == "text/html", path
    for attributes, body in _SCRIPT.findall(html):
        assert "src=" in attributes and not body.strip(), f"inline script on {path}"
    assert "style=" not in html and "<style" not in html.lower(), f"inline style on {path}"
    assert not _EVENT_HANDLER.search(html), f"inline event handler on {path}"
    assert "javascript:" not in html.lower(), path

    headers = response.headers
    csp = [part.strip() for part in headers["Content-Security-Policy"].split(";")]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp, path
    assert "object-src 'none'" in csp, path
    if EMBEDDABLE.match(path):
        assert "frame-ancestors *" in csp, path
        assert "X-Frame-Options" not in headers, path
        return
    assert "frame-ancestors 'none'" in csp, path
    assert "unsafe-inline" not in headers["Content-Security-Policy"], path
    assert headers["X-Content-Type-Options"] == "nosniff", path
    # Pages under a secret link send no referrer at all; the others only to this site.
    assert headers["Referrer-Policy"] in {"same-origin", "no-referrer"}, path
    assert headers["X-Frame-Options"] == "DENY", path


def test_every_public_page_has_no_inline_code_and_all_security_headers(
    app: Flask, client: FlaskClient, create_letter: Callable[..., Letter], rendered: set[str]
) -> None:
    visited: list[tuple[str, Response]] = []

    def visit(path: str, method: str = "GET", **kwargs: Any) -> Response:
        response = client.open(path, method=method, **kwargs)
        # Read a streamed page to its end and close it, as a server does before its next request:
        # its request (and its database session) ends here, not when the test reads it later.
        response.get_data()
        response.close()
        visited.append((path, response))
        return response

    assert visit("/").status_code == 200  # no letter yet: how to load one
    letter = create_letter()
    slug = letter.slug
    pages = ("/", f"/letters/{slug}", "/letters", f"/letters/{slug}/signatures", f"/letters/{slug}/resend", "/privacy")
    pages += (f"/letters/{slug}/embed", f"/letters/{slug}?lang=ko", f"/letters/{slug}/signatures?comments=1")
    pages += (f"/letters/{slug}/log", f"/letters/{slug}/snapshots/", f"/letters/{slug}/stats")
    for path in (*pages, f"/letters/{slug}/withdraw"):
        assert visit(path).status_code == 200, path
    # A letter closed with its names hidden (letters/_names_hidden.html), and the privacy page naming its choice.
    hidden = create_letter(
        LETTER_TEXT.replace("test-letter", "hidden-letter"),
        closed_at=utcnow(),
        names_hidden_at=utcnow(),
        hide_names_after_close=True,
        noindex_signers=True,
    )
    for path in (f"/letters/{hidden.slug}", f"/letters/{hidden.slug}/signatures", "/privacy"):
        assert visit(path).status_code == 200, path

    # A form sent back too fast is asked about ("Yes, send my confirmation").
    app.config["SIGN_MIN_SECONDS"] = 60
    stamp = re.search(
        r'name="started" type="hidden" value="([^"]+)"', client.get(f"/letters/{slug}").get_data(as_text=True)
    )
    assert stamp
    fast = {"name": "Quick", "email": "quick@example.org", "started": stamp.group(1)}
    ask = visit(
        f"/letters/{slug}/sign", "POST", data=fast | {"csrf_token": csrf_token(client, f"/letters/{slug}/resend")}
    )
    assert ask.status_code == 200 and 'name="asked"' in ask.get_data(as_text=True)
    app.config["SIGN_MIN_SECONDS"] = 0
    comment = "A long story. " * 30  # shortened in lists, whole on the signer's own page
    assert sign(client, slug, email="pages@example.org", comment=comment).status_code == 303
    assert visit(f"/letters/{slug}/signed").status_code == 200
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    mailbox = visit("/_dev/mail").get_data(as_text=True)
    message_path = re.search(r'href="(/_dev/mail/[^"]+)"', mailbox)
    assert message_path
    message = visit(message_path.group(1)).get_data(as_text=True)
    confirm_path = re.search(r'href="http://localhost(/confirm/[^"]+)"', message)
    assert confirm_path
    assert visit(confirm_path.group(1)).status_code == 200
    token = csrf_token(client, confirm_path.group(1))
    assert visit(confirm_path.group(1), "POST", data={"csrf_token": token}).status_code == 200
    more = re.search(r'class="more" href="([^"]+)"', visit(f"/letters/{slug}").get_data(as_text=True))
    assert more, "a long comment has a link to the whole of it"
    assert visit(more.group(1)).status_code == 200
    # The confirmed signature is listed, with a link to report it.
    listed = visit(f"/letters/{slug}/signatures?verified=0").get_data(as_text=True)
    report_path = re.search(r'href="(/letters/[^"]+/signatures/\d+/report)"', listed)
    assert report_path
    assert visit(report_path.group(1)).status_code == 200
    token = csrf_token(client, report_path.group(1))
    assert visit(report_path.group(1), "POST", data={"csrf_token": token, "reason": "nonsense"}).status_code == 422
    answer = visit(report_path.group(1), "POST", data={"csrf_token": token, "reason": "fake"})
    assert answer.status_code == 303
    assert visit(answer.headers["Location"]).status_code == 200
    # "That's not me" about the same entry: its form (and errors), the inbox page, the link's page and answer.
    dispute_path = report_path.group(1).replace("/report", "/dispute")
    assert f'href="{dispute_path}"' in listed
    assert visit(dispute_path).status_code == 200
    assert visit(dispute_path, "POST", data={"csrf_token": token, "email": "x"}).status_code == 422
    answer = visit(
        dispute_path, "POST", data={"csrf_token": token, "email": "pages.disputer@example.org", "named": "y"}
    )
    assert answer.status_code == 303
    assert visit(answer.headers["Location"]).status_code == 200
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    dispute_mail = re.findall(r'href="(/_dev/mail/[^"]+)"', visit("/_dev/mail").get_data(as_text=True))
    links = [
        re.search(r'href="http://localhost(/disputes/[^"]+)"', visit(p).get_data(as_text=True)) for p in dispute_mail
    ]
    [dispute_link] = [found.group(1) for found in links if found]
    assert visit(dispute_link).status_code == 200
    assert visit(dispute_link, "POST", data={"csrf_token": token}).status_code == 200
    # The signer's own page behind the link in every mail, its form (and its errors), and its withdrawal page.
    own_path = re.search(r'href="http://localhost(/signature/[^"?]+)', message)
    assert own_path
    own = own_path.group(1)
    assert visit(own).status_code == 200
    # The signer's answer to a dispute, sent empty: the form again, with its error.
    answer = own.replace("/signature/", "/signature/answer/")
    assert visit(answer, "POST", data={"csrf_token": csrf_token(client, own), "answer": ""}).status_code == 422
    own_edit = own.replace("/signature/", "/signature/edit/")
    assert visit(own_edit).status_code == 200
    bad = {"csrf_token": csrf_token(client, own_edit), "name": "", "public": "y"}
    assert visit(own_edit, "POST", data=bad).status_code == 422
    assert visit(own.replace("/signature/", "/signature/withdraw/")).status_code == 200
    withdraw_path = re.search(r'href="http://localhost(/withdraw/[^"]+)"', message)
    assert withdraw_path
    assert visit(withdraw_path.group(1)).status_code == 200
    token = csrf_token(client, withdraw_path.group(1))
    assert visit(withdraw_path.group(1), "POST", data={"csrf_token": token}).status_code == 200
    token = csrf_token(client, f"/letters/{slug}/withdraw")
    answer = visit(f"/letters/{slug}/withdraw", "POST", data={"csrf_token": token, "email": "pages@example.org"})
    assert answer.status_code == 303
    assert visit(answer.headers["Location"]).status_code == 200
    assert visit("/confirm/not-a-real-token").status_code == 404
    assert visit(f"/letters/{slug}/sign", "POST", data={"name": "x"}).status_code == 422  # the form refused
    assert visit("/nothing/here").status_code == 404
    assert visit(f"/letters/{slug}/sign").status_code == 405

    # The moderators' pages, signed in as an admin.
    assert visit("/moderate/login").status_code == 200
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "admin@example.org", "a long enough password", ModeratorRole.ADMIN)
    token = csrf_token(client, "/moderate/login")
    form = {"email": "admin@example.org", "password": "a long enough password", "csrf_token": token}
    assert client.post("/moderate/login", data=form).status_code == 303
    for path in (
        "/moderate",
        f"/moderate/letters/{slug}",
        "/moderate/audit",
        f"/moderate/letters/{slug}/edit",
        f"/moderate/letters/{slug}/dashboard",
        "/moderate/account/notifications",
    ):
        assert visit(path).status_code == 200, path
    with app.app_context():
        admin = db.session.scalars(sa.select(Moderator).where(Moderator.email == "admin@example.org")).one()
        off = "/moderate/notifications/unsubscribe/" + notifications.unsubscribe_token(app.config["SECRET_KEY"], admin)
    assert visit(off).status_code == 200
    # People: the page, an invitation sent through its form, and the page its mail links to.
    assert visit("/moderate/people").status_code == 200
    invite = {"csrf_token": csrf_token(client, "/moderate/people"), "email": "new.mod@example.org", "role": "moderator"}
    assert visit("/moderate/people/invite", "POST", data=invite | {"lang": "en"}).status_code == 303
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    messages = re.findall(r'href="(/_dev/mail/[^"]+)"', visit("/_dev/mail").get_data(as_text=True))
    links = [
        re.search(r'href="http://localhost(/moderate/invitation/[^"]+)"', visit(m).get_data(as_text=True))
        for m in messages
    ]
    [invitation] = [found.group(1) for found in links if found]
    invited = app.test_client()  # the invitee, signed out (the page would sign the admin out)
    answer = invited.get(invitation)
    visited.append((invitation, answer))
    assert answer.status_code == 200
    # The delivery document, and the page that waits for its PDF.
    assert visit(f"/moderate/letters/{slug}/delivery").status_code == 200
    pdf = {"csrf_token": csrf_token(client, f"/moderate/letters/{slug}/delivery"), "version": "1", "lang": "en"}
    waiting = visit(f"/moderate/letters/{slug}/delivery/pdf", "POST", data=pdf)
    assert waiting.status_code == 303 and visit(waiting.headers["Location"]).status_code == 200
    # What a bulk action will do, before it is done.
    add_confirmed(app, letter.id, 2)
    with app.app_context():
        ids = [str(i) for i in db.session.scalars(sa.select(Signature.id).where(Signature.status == "confirmed"))]
    preview = {"csrf_token": csrf_token(client, f"/moderate/letters/{slug}"), "action": "hide", "reason": "fake"}
    answer = visit(f"/moderate/letters/{slug}/actions", "POST", data={**preview, "signature": ids})
    assert answer.status_code == 200 and "confirm-form" in answer.get_data(as_text=True)
    # Organisations and updates (admins), and the unsubscribe page behind an update's link.
    add_confirmed(app, letter.id, 1)
    with app.app_context(), db.transaction() as session:
        session.add(Organisation(domain="example.edu", name="Example University"))
        session.flush()
        organisation_id = session.scalar(sa.select(Organisation.id))
        signature = session.scalars(sa.select(Signature).where(Signature.status == "confirmed")).first()
        assert signature is not None
        unsubscribe = "/unsubscribe/" + updates.unsubscribe_token(app.config["SECRET_KEY"], signature)
    for path in (
        "/moderate/organisations",
        f"/moderate/organisations/{organisation_id}/edit",
        f"/moderate/letters/{slug}/updates",
        f"/moderate/letters/{slug}/response",
        unsubscribe,
    ):
        assert visit(path).status_code == 200, path
    assert visit(unsubscribe, "POST", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    # A second version of the letter's text: its history, a version, and what changed.
    edit = {
        "csrf_token": csrf_token(client, f"/moderate/letters/{slug}/edit"),
        "title": "A revised title",
        "body_markdown": "A revised <script>alert(1)</script> text.",
        "moderation_mode": "post",
        "change_note": "Revised.",
    }
    assert visit(f"/moderate/letters/{slug}/edit", "POST", data=edit).status_code == 303
    for path in (f"/letters/{slug}/versions", f"/letters/{slug}/versions/2", f"/letters/{slug}/versions/2/diff"):
        assert visit(path).status_code == 200, path

    # A private launch: the invitation, its errors, signing through it, the founders' preview, the console.
    with app.app_context(), db.transaction() as session:
        private = factories.letter(session, slug="private-letter", draft=True)
        link = "/invitations/" + invitations.invite_shared(session, private, cap=5, now=utcnow()).token
    founder = {"name": "Founding Signer", "email": "founder@example.org", "public": "y"}
    assert visit(link).status_code == 200
    assert visit(link, "POST", data={"name": ""}).status_code == 422
    assert visit(link, "POST", data=founder).status_code == 200
    assert visit(link.replace("/invitations/", "/invitations/preview/")).status_code == 200
    assert visit("/moderate/letters/private-letter/invitations").status_code == 200

    for path, response in visited:
        assert_safe_page(response, path)
    # A page template added later fails here until it is visited above.
    assert page_templates() <= rendered, sorted(page_templates() - rendered)


def test_a_view_may_allow_framing_of_itself_only(app: Flask, client: FlaskClient) -> None:
    def embeddable() -> Response:
        response = app.make_response("<p>widget</p>")
        response.headers["Content-Security-Policy"] = web.content_security_policy("https://partner.example")
        return response

    app.add_url_rule("/_test/embeddable", "test_embeddable", embeddable)

    framed = client.get("/_test/embeddable")
    assert "frame-ancestors https://partner.example" in framed.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" not in framed.headers["Content-Security-Policy"]
    assert "script-src 'self'" in framed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed.headers
    assert framed.headers["X-Content-Type-Options"] == "nosniff"

    other = client.get("/nothing/here")  # every other page still refuses to be framed
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]
    assert other.headers["X-Frame-Options"] == "DENY"
