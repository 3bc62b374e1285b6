"""Every public page of the site, rendered in one language, for the validity and accessibility tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import jobs
from app.db import db, utcnow
from app.mail.links import page_token
from app.models import Letter, ModeratorRole, Organisation, OutboxMessage, Signature
from app.moderation import accounts
from app.services import updates
from app.worker import snapshot_logs
from tests.factories import add_confirmed
from tests.support import csrf_token, mail_links, path_of, sign


@dataclass
class Tour:
    """The pages seen on a walk through the site: name -> (path, HTML)."""

    pages: dict[str, tuple[str, str]] = field(default_factory=dict)

    def visit(self, client: FlaskClient, name: str, path: str, *, status: int = 200, **kwargs: object) -> str:
        """Fetch ``path`` (GET, or POST with data=...), check its status, keep its HTML under ``name``."""
        method = "POST" if "data" in kwargs else "GET"
        response = client.open(path, method=method, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == status, (path, response.status_code)
        html = response.get_data(as_text=True)
        self.pages[name] = (path, html)
        return html


def tour_the_private_launch(app: Flask, client: FlaskClient, slug: str, lang: str, tour: Tour) -> None:
    """The private launch of the draft ``slug``: the console, an invitation, signing through it, the preview."""
    console = f"/moderate/letters/{slug}/invitations"
    tour.visit(client, "invitations console", console)
    token = csrf_token(client, console)
    people = {"csrf_token": token, "people-emails": "not an address", "people-lang": lang}
    tour.visit(client, "invitations console errors", f"{console}/people", status=422, data=people)
    people["people-emails"] = f"founder-{lang}@example.org"
    tour.visit(client, "invitations console new link", f"{console}/people", data=people, follow_redirects=True)
    shared = {"csrf_token": token, "shared-cap": "1"}
    html = tour.visit(
        client, "invitations console shared link", f"{console}/shared", data=shared, follow_redirects=True
    )
    found = re.search(r"https?://[^/\s\"]+(/invitations/[A-Za-z0-9_-]+)", html)
    assert found, html
    invitation = found.group(1)
    tour.visit(client, "founder invitation", invitation)
    errors = {"name": "", "email": "not an address", "comment": "<b>bold</b>"}
    tour.visit(client, "founder invitation errors", invitation, status=422, data=errors)
    founder = f"founder-shared-{lang}@example.org"
    signed = {"name": "Founding Signer", "email": founder, "public": "y"}
    tour.visit(client, "founder invitation signed", invitation, data=signed)
    confirm, _ = mail_links(app, founder)
    tour.visit(client, "confirmed, private letter", confirm, data={"csrf_token": csrf_token(client, confirm)})
    tour.visit(client, "founders preview", invitation.replace("/invitations/", "/invitations/preview/"))
    tour.visit(client, "founder invitation used up", invitation, status=409)
    tour.visit(client, "invitations console with a founder", console)


def tour_the_site(app: Flask, client: FlaskClient, letter_id: int, slug: str, lang: str) -> Tour:
    """Walk every public page in ``lang``: reading, signing (with errors), confirming, listing, withdrawing."""
    tour = Tour()
    client.get(f"/?lang={lang}")  # the visitor's choice, kept in the session
    add_confirmed(app, letter_id, 3, city="Seoul", country="KR", comment="우리의 작업에는 대가가 필요합니다. " * 12)
    add_confirmed(app, letter_id, 2, comment="Short and sweet.")
    tour.visit(client, "front", "/")
    tour.visit(client, "letter", f"/letters/{slug}")
    tour.visit(client, "letters", "/letters")
    tour.visit(client, "signatures", f"/letters/{slug}/signatures")
    tour.visit(client, "comments", f"/letters/{slug}/signatures?comments=1")
    tour.visit(client, "no match", f"/letters/{slug}/signatures?q=nobody-at-all")
    tour.visit(client, "signature", f"/letters/{slug}/signatures/1")
    tour.visit(client, "privacy", "/privacy")
    tour.visit(client, "embed", f"/letters/{slug}/embed")
    tour.visit(client, "domain-confirmed signers", f"/letters/{slug}/signatures?domain_confirmed=1")
    with app.app_context():
        snapshot_logs()
    tour.visit(client, "verify this list", f"/letters/{slug}/log")
    tour.visit(client, "snapshots", f"/letters/{slug}/snapshots/")
    tour.visit(client, "where and when people signed", f"/letters/{slug}/stats")
    token = csrf_token(client, f"/letters/{slug}/resend")
    tour.visit(
        client,
        "sign errors",
        f"/letters/{slug}/sign",
        status=422,
        data={"csrf_token": token, "name": "", "email": "not an address", "comment": "<b>bold</b>"},
    )
    address = f"tour-{lang}@cs.example.edu"
    assert sign(client, slug, name="Tour Signer", email=address, show_domain="y", wants_updates="y").status_code == 303
    tour.visit(client, "check inbox", f"/letters/{slug}/signed")
    tour.visit(client, "resend", f"/letters/{slug}/resend")
    confirm, withdraw = mail_links(app, address)
    tour.visit(client, "confirm", confirm)
    tour.visit(client, "confirmed", confirm, data={"csrf_token": csrf_token(client, confirm)})
    # A name on the watch list: counted at once, listed once a moderator has reviewed it.
    watched = f"tour-watched-{lang}@example.org"
    assert sign(client, slug, name="Elon Musk", email=watched).status_code == 303
    watched_confirm, _ = mail_links(app, watched)
    data = {"csrf_token": csrf_token(client, watched_confirm)}
    tour.visit(client, "confirmed, awaiting review", watched_confirm, data=data)
    tour.visit(client, "verify this list, awaiting review", f"/letters/{slug}/log")
    with app.app_context(), db.transaction() as session:
        if session.scalar(sa.select(Organisation.id).where(Organisation.domain == "example.edu")) is None:
            session.add(Organisation(domain="example.edu", name="Example University"))
        letter = session.get(Letter, letter_id)
        assert letter is not None
        updates.publish(session, letter, title="Tour update", body_markdown="News **for** signers.", now=utcnow())
        updates.record_response(
            session,
            letter,
            responder="The Minister of Culture",
            responded_on=utcnow().date(),
            source_url="https://ministry.example/statement",
            body_markdown="We have read your letter. *Artists will be paid.*",
            now=utcnow(),
        )
        session.flush()
        signature = session.scalars(sa.select(Signature).where(Signature.email == address)).one()
        unsubscribe = "/unsubscribe/" + updates.unsubscribe_token(app.config["SECRET_KEY"], signature)
        assert signature.page_key is not None
        own = "/signature/" + page_token(signature.page_key)
        signature_id = signature.id
    tour.visit(client, "letter with updates and badges", f"/letters/{slug}")
    tour.visit(client, "own signature", own)
    own_edit = own.replace("/signature/", "/signature/edit/")
    tour.visit(client, "own signature edit", own_edit)
    tour.visit(
        client,
        "own signature edit errors",
        own_edit,
        status=422,
        data={"csrf_token": csrf_token(client, own_edit), "name": "", "comment": "<b>bold</b>"},
    )
    tour.visit(client, "own signature withdraw", own.replace("/signature/", "/signature/withdraw/"))
    tour.visit(client, "signatures with a badge", f"/letters/{slug}/signatures")
    # "That's not me", about the tour signer's entry: the form, its errors, the inbox page, the link.
    dispute = f"/letters/{slug}/signatures/{signature_id}/dispute"
    tour.visit(client, "dispute", dispute)
    dispute_token = csrf_token(client, dispute)
    tour.visit(client, "dispute errors", dispute, status=422, data={"csrf_token": dispute_token, "email": "nope"})
    disputer = f"tour.signer.{lang}@example.org"
    sent = {"csrf_token": dispute_token, "email": disputer, "named": "y"}
    assert client.post(dispute, data=sent).status_code == 303
    tour.visit(client, "dispute sent", f"/letters/{slug}/dispute-sent")
    with app.app_context():
        body = db.session.scalars(sa.select(OutboxMessage.body_text).where(OutboxMessage.recipient == disputer)).one()
    dispute_link = re.search(r"https?://[^/\s]+(/disputes/\S+)", body)
    assert dispute_link, body
    tour.visit(client, "dispute confirm", dispute_link.group(1))
    tour.visit(
        client,
        "dispute confirmed",
        dispute_link.group(1),
        data={"csrf_token": csrf_token(client, dispute_link.group(1))},
    )
    tour.visit(client, "unsubscribe", unsubscribe)
    tour.visit(client, "unsubscribed", unsubscribe, data={"List-Unsubscribe": "One-Click"})
    tour.visit(client, "withdraw request", f"/letters/{slug}/withdraw")
    tour.visit(client, "withdraw", withdraw)
    tour.visit(client, "withdrawn", withdraw, data={"csrf_token": csrf_token(client, withdraw)})
    tour.visit(client, "used link", confirm, status=404)
    tour.visit(client, "not found", "/nothing/here", status=404)
    # The moderators' pages, signed in as an admin.
    tour.visit(client, "moderator sign-in", "/moderate/login")
    email = f"tour-mod-{lang}@example.org"
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, email, "a long enough password", ModeratorRole.ADMIN)
    login = {"email": email, "password": "a long enough password", "csrf_token": csrf_token(client, "/moderate/login")}
    assert client.post("/moderate/login", data=login).status_code == 303
    tour.visit(client, "moderation letters", "/moderate")
    tour.visit(client, "moderation queue", f"/moderate/letters/{slug}?view=all")
    # What a bulk action will do; a row's decision and its undo banner; a refused decision; the log of them.
    with app.app_context():
        ids = list(
            db.session.scalars(
                sa.select(Signature.id)
                .where(Signature.letter_id == letter_id, Signature.status == "confirmed")
                .order_by(Signature.id.desc())
                .limit(2)
            )
        )
    queue = f"/moderate/letters/{slug}"
    token = csrf_token(client, queue)
    bulk = {"csrf_token": token, "action": "hide", "reason": "fake", "signature": [str(i) for i in ids]}
    tour.visit(client, "moderation preview", f"{queue}/actions?view=all", data=bulk)
    decide = f"{queue}/signatures/{ids[0]}/decide?view=all"
    assert client.post(decide, data={"csrf_token": token, "decision": "fake"}).status_code == 303
    tour.visit(client, "moderation queue after a decision", f"{queue}?view=all")
    refused = {"csrf_token": token, "decision": "verify"}
    tour.visit(client, "moderation decision refused", f"{queue}/signatures/{ids[1]}/decide", status=422, data=refused)
    tour.visit(client, "audit log", "/moderate/audit")
    tour.visit(client, "moderation dashboard", f"/moderate/letters/{slug}/dashboard")
    tour.visit(client, "notification settings", "/moderate/account/notifications")
    tour.visit(client, "letter edit", f"/moderate/letters/{slug}/edit")
    tour.visit(client, "new letter", "/moderate/letters/new")
    new_letter = {
        "csrf_token": csrf_token(client, "/moderate/letters/new"),
        "lang": "en",
        "title": "A draft",
        "slug": "Not a slug",
        "body_markdown": "Some **text**.",
        "title_ko": "초안",
        "body_ko": "",
        "closes": "2020-01-01T00:00",
        "opens": "2021-01-01T00:00",
        "moderation_mode": "post",
    }
    tour.visit(client, "new letter errors", "/moderate/letters/new", status=422, data=new_letter)
    tour.visit(client, "new letter preview", "/moderate/letters/new", data=new_letter | {"preview": "1"})
    draft = new_letter | {"slug": f"draft-{lang}", "body_ko": "본문", "closes": ""}
    assert client.post("/moderate/letters/new", data=draft).status_code == 303
    tour.visit(client, "draft edit", f"/moderate/letters/draft-{lang}/edit")
    tour_the_private_launch(app, client, f"draft-{lang}", lang, tour)
    tour.visit(client, "organisations", "/moderate/organisations")
    with app.app_context():
        organisation_id = db.session.scalar(sa.select(Organisation.id).where(Organisation.domain == "example.edu"))
    tour.visit(client, "organisation edit", f"/moderate/organisations/{organisation_id}/edit")
    tour.visit(
        client,
        "organisations errors",
        "/moderate/organisations/upload",
        status=422,
        data={"csrf_token": csrf_token(client, "/moderate/organisations"), "csv_text": "not a domain,X\n"},
    )
    tour.visit(client, "letter updates", f"/moderate/letters/{slug}/updates")
    tour.visit(client, "letter response", f"/moderate/letters/{slug}/response")
    tour.visit(
        client,
        "letter response errors",
        f"/moderate/letters/{slug}/response",
        status=422,
        data={
            "csrf_token": csrf_token(client, f"/moderate/letters/{slug}/response"),
            "responder": "",
            "responded_on": "3000-01-01",
            "source_url": "javascript:alert(1)",
        },
    )
    # A second version of the text: its history, its text, what changed, and the letter page that links to them.
    edit = {
        "csrf_token": csrf_token(client, f"/moderate/letters/{slug}/edit"),
        "title": "An open letter for testing, revised",
        "body_markdown": "We, the undersigned, **ask** for [better tests](https://example.org) and pay.\n\nA new line.",
        "moderation_mode": "post",
        "change_note": "Asks for fair pay too.",
    }
    assert client.post(f"/moderate/letters/{slug}/edit", data=edit).status_code == 303
    add_confirmed(app, letter_id, 1, letter_version=2)
    tour.visit(client, "versions", f"/letters/{slug}/versions")
    tour.visit(client, "version", f"/letters/{slug}/versions/1")
    tour.visit(client, "version diff", f"/letters/{slug}/versions/2/diff")
    tour.visit(client, "letter with versions", f"/letters/{slug}")
    # The delivery document, and its PDF while it is made and once it is ready.
    delivery = f"/moderate/letters/{slug}/delivery"
    tour.visit(client, "delivery document", delivery)
    tour.visit(client, "delivery document, first version", f"{delivery}?version=1")
    made = client.post(
        f"{delivery}/pdf", data={"csrf_token": csrf_token(client, delivery), "version": "2", "lang": "en"}
    )
    assert made.status_code == 303, made.status_code
    tour.visit(client, "delivery PDF, being made", path_of(made.headers["Location"]))
    with app.app_context():
        while jobs.run_due(jobs.Settings.from_config(app.config), worker_id="tour"):
            pass
    tour.visit(client, "delivery PDF, ready", path_of(made.headers["Location"]))
    # People: the accounts, an invitation, and the invitation's page for the invitee.
    invitee = f"invitee-{lang}@example.org"
    invite = {"csrf_token": csrf_token(client, "/moderate/people"), "email": invitee, "role": "moderator", "lang": lang}
    assert client.post("/moderate/people/invite", data=invite).status_code == 303
    tour.visit(client, "people", "/moderate/people")
    tour.visit(client, "people, refused", "/moderate/people/invite", status=422, data=invite | {"email": "nobody"})
    with app.app_context():
        body = db.session.scalar(
            sa.select(OutboxMessage.body_text)
            .where(OutboxMessage.recipient == invitee)
            .order_by(OutboxMessage.id.desc())
        )
    found = re.search(r"https?://\S+/moderate/invitation/\S+", body or "")
    assert found, body
    link = path_of(found.group(0))
    invited = app.test_client()
    invited.get(f"/?lang={lang}")
    tour.visit(invited, "invitation", link)
    short = {"csrf_token": csrf_token(invited, link), "password": "short", "password_again": "other"}
    tour.visit(invited, "invitation errors", link, status=422, data=short)
    # Closed with "hide names after close": counts and numbers, no names; the privacy page lists the choice.
    with app.app_context(), db.transaction() as session:
        hidden = session.get(Letter, letter_id)
        assert hidden is not None
        hidden.hide_names_after_close = hidden.sensitive = hidden.noindex_signers = True
        hidden.personal_data_until = utcnow().date().replace(year=utcnow().year + 1)
    state = {"csrf_token": csrf_token(client, f"/moderate/letters/{slug}/edit"), "signing": "close"}
    assert client.post(f"/moderate/letters/{slug}/signing", data=state).status_code == 303
    tour.visit(client, "letter, names hidden", f"/letters/{slug}")
    tour.visit(client, "signatures, names hidden", f"/letters/{slug}/signatures")
    tour.visit(client, "privacy, each letter's choices", "/privacy")
    tour.visit(client, "letter edit, names hidden", f"/moderate/letters/{slug}/edit")
    state["signing"] = "open"
    assert client.post(f"/moderate/letters/{slug}/signing", data=state).status_code == 303
    return tour
