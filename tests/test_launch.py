"""Private launches: invitations (personal, single use; shared, capped; revoked), nothing public before
the launch, and the launch itself (by the button, the command and the worker at ``opens_at``) with the
log, the count, the founders and their mail appearing together."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import jobs
from app.db import db, utcnow
from app.models import (
    AuditEntry,
    Invitation,
    Letter,
    LogEvent,
    LogHead,
    Moderator,
    ModeratorRole,
    OutboxMessage,
    Signature,
    SignatureStatus,
)
from app.services import invitations
from tests.factories import log_in
from tests.support import (
    SMTPSink,
    count,
    csrf_token,
    deliver_mail,
    link_in,
    one,
    path_of,
    rows,
    smtp_settings,
    text_of,
)

pytestmark = pytest.mark.engines

SLUG = "test-letter"
TITLE = "An open letter for testing"
CONSOLE = f"/moderate/letters/{SLUG}/invitations"
INVITATION_LINK = re.compile(r"https?://\S+(/invitations/[A-Za-z0-9_-]+)")


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    return smtp_settings(smtp_sink)


@pytest.fixture
def private(create_letter: Callable[..., Letter]) -> Letter:
    """The test letter as a draft: private until launched."""
    return create_letter(draft=True)


@pytest.fixture
def admin(app: Flask, create_moderator: Callable[..., Moderator]) -> FlaskClient:
    """A client signed in as an admin."""
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    client = app.test_client()
    assert log_in(client, "admin@example.org").status_code == 303
    return client


def invite(runner: FlaskCliRunner, *args: str) -> list[str]:
    """Run ``letter invite SLUG ARGS``; the paths of the links it printed."""
    result = runner.invoke(args=["letter", "invite", SLUG, *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return INVITATION_LINK.findall(result.output)


def sign_through(client: FlaskClient, path: str, **fields: Any) -> Any:
    """Send the invitation page's signing form as a browser would."""
    data = {"name": "Ada Lovelace", "email": "ada@example.org", "public": "y"} | fields
    return client.post(path, data=data)


def confirm_by_mail(client: FlaskClient, app: Flask, sink: SMTPSink, address: str) -> None:
    """Deliver the mail and press the button behind the confirmation link sent to ``address``."""
    deliver_mail(app)
    [message] = [m for m in sink.messages_to(address) if "/confirm/" in text_of(m)]
    confirm = path_of(link_in(message))
    response = client.post(confirm, data={"csrf_token": csrf_token(client, confirm)})
    assert response.status_code == 200


def public_surfaces(app: Flask) -> list[str]:
    """Every public address of the letter and of its signatures."""
    ids = [s.id for s in rows(app, Signature)]
    day = utcnow().date().isoformat()
    paths = [
        f"/letters/{SLUG}",
        f"/letters/{SLUG}?lang=ko",
        f"/letters/{SLUG}/signatures",
        f"/letters/{SLUG}/signatures.csv",
        f"/letters/{SLUG}/signatures.json",
        f"/letters/{SLUG}/newest",
        f"/letters/{SLUG}/updates.atom",
        f"/letters/{SLUG}/badge.svg",
        f"/letters/{SLUG}/embed",
        f"/letters/{SLUG}/preview.png",
        f"/letters/{SLUG}/versions",
        f"/letters/{SLUG}/log",
        f"/letters/{SLUG}/stats",
        f"/letters/{SLUG}/snapshots/",
        f"/letters/{SLUG}/snapshots/{day}.json",
        f"/letters/{SLUG}/snapshots/{day}.csv",
        f"/api/v1/letters/{SLUG}",
        f"/api/v1/letters/{SLUG}/signatures",
        f"/api/v1/letters/{SLUG}/stats",
        f"/api/v1/letters/{SLUG}/updates",
        f"/api/v1/letters/{SLUG}/log/head",
        f"/api/v1/letters/{SLUG}/log/entries",
        f"/api/v1/letters/{SLUG}/log/key",
    ]
    for signature_id in ids:
        paths += [
            f"/letters/{SLUG}/signatures/{signature_id}",
            f"/api/v1/letters/{SLUG}/signatures/{signature_id}",
            f"/api/v1/letters/{SLUG}/log/proof/signature/{signature_id}",
        ]
    return paths


# --- invitations --------------------------------------------------------------------------------


def test_a_personal_invitation_is_mailed_signs_once_and_its_founder_confirms_by_email(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, private: Letter, smtp_sink: SMTPSink
) -> None:
    links = invite(runner, "--email", "ada@example.org", "--email", "Grace@Example.org", "--lang", "ko")
    assert len(links) == 2
    deliver_mail(app)
    [mail] = smtp_sink.messages_to("ada@example.org")
    assert TITLE in mail["Subject"] and "공개" in mail["Subject"]
    path = path_of(INVITATION_LINK.search(text_of(mail)).group(0))  # type: ignore[union-attr]
    assert path == links[0].split("?")[0]

    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = page.get_data(as_text=True)
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert 'value="ada@example.org"' in html  # the invited address, ready in the form

    signed = sign_through(client, path)
    assert signed.status_code == 200 and "Check your inbox" in signed.get_data(as_text=True)
    signature = one(app, Signature)
    assert (signature.status, signature.founding) == (SignatureStatus.UNCONFIRMED, True)
    assert one(app, Invitation, email="ada@example.org").uses == 1

    # Single use: a second form through the same link is refused and stores nothing.
    again = sign_through(client, path, name="Someone Else", email="else@example.org")
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    assert count(app, Signature) == 1

    confirm_by_mail(client, app, smtp_sink, "ada@example.org")
    preview = client.get(path.replace("/invitations/", "/invitations/preview/"))
    assert preview.status_code == 200 and preview.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert "Ada Lovelace" in preview.get_data(as_text=True)
    # Still private: the count is not public anywhere.
    assert client.get(f"/api/v1/letters/{SLUG}").status_code == 404


def test_a_shared_link_signs_up_to_its_cap_then_says_why_it_refuses(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, private: Letter
) -> None:
    [path] = invite(runner, "--shared", "--cap", "2")
    assert sign_through(client, path, email="one@example.org").status_code == 200
    assert sign_through(client, path, email="two@example.org").status_code == 200
    third = sign_through(client, path, email="three@example.org")
    assert third.status_code == 409
    assert "as many people as it allows" in third.get_data(as_text=True)
    assert client.get(path).status_code == 409
    assert [s.email for s in rows(app, Signature, order_by=Signature.id)] == ["one@example.org", "two@example.org"]
    assert all(s.founding for s in rows(app, Signature))


def test_a_founder_who_signs_again_is_told_so_without_a_link_to_the_unlaunched_letter(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, private: Letter
) -> None:
    [path] = invite(runner, "--shared", "--cap", "5")
    assert sign_through(client, path, email="ada@example.org").status_code == 200
    confirm_by_mail(client, app, smtp_sink, "ada@example.org")
    assert sign_through(client, path, email="ada@example.org").status_code == 200
    deliver_mail(app)
    [again] = [m for m in smtp_sink.messages_to("ada@example.org") if "already signed" in m["Subject"]]
    assert f"/letters/{private.slug}" not in text_of(again)
    assert f"/letters/{private.slug}" not in again.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_a_revoked_link_or_a_made_up_one_is_refused(
    app: Flask, client: FlaskClient, admin: FlaskClient, runner: FlaskCliRunner, private: Letter
) -> None:
    [path] = invite(runner, "--shared", "--cap", "5")
    invitation = one(app, Invitation)
    revoke = f"/moderate/letters/{SLUG}/invitations/{invitation.id}/revoke"
    assert admin.post(revoke, data={"csrf_token": csrf_token(admin, CONSOLE)}).status_code == 303
    assert client.get(path).status_code == 404
    assert sign_through(client, path).status_code == 404
    assert client.get(path.replace("/invitations/", "/invitations/preview/")).status_code == 404
    assert client.get("/invitations/not-a-real-token").status_code == 404
    assert count(app, Signature) == 0
    entry = one(app, AuditEntry, action="letter.revoke_invitation")
    assert entry.moderator_email == "admin@example.org"


def test_the_console_invites_people_and_makes_shared_links_each_audited(
    app: Flask, admin: FlaskClient, private: Letter, smtp_sink: SMTPSink
) -> None:
    token = csrf_token(admin, CONSOLE)
    made = admin.post(
        f"{CONSOLE}/people",
        data={"csrf_token": token, "people-emails": "a@example.org\n\n b@example.org ", "people-lang": "en"},
        follow_redirects=True,
    )
    assert made.status_code == 200
    shown = INVITATION_LINK.findall(made.get_data(as_text=True))
    assert len(shown) == 2  # each shown once, on the page that made it
    assert [m.recipient for m in rows(app, OutboxMessage, order_by=OutboxMessage.id)] == [
        "a@example.org",
        "b@example.org",
    ]
    shared = admin.post(f"{CONSOLE}/shared", data={"csrf_token": token, "shared-cap": "25"}, follow_redirects=True)
    assert shared.status_code == 200 and "Shared link for 25 signers" in shared.get_data(as_text=True)
    page = admin.get(CONSOLE).get_data(as_text=True)  # a reload, say
    assert "a@example.org" in page and "0 / 25" in page
    assert not INVITATION_LINK.search(page)  # links are never shown again
    assert count(app, Invitation) == 3
    assert [e.action for e in rows(app, AuditEntry, order_by=AuditEntry.id)] == ["letter.invite", "letter.invite"]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("people", {"people-emails": "a@example.org\nnot an address", "people-lang": "en"}),
        ("people", {"people-emails": "", "people-lang": "en"}),
        ("people", {"people-emails": "a@example.org", "people-lang": "xx"}),
        ("shared", {"shared-cap": "0"}),
        ("shared", {"shared-cap": "many"}),
        ("schedule", {"schedule-opens_at": "2001-01-01T00:00"}),
        ("schedule", {"schedule-opens_at": "tomorrow"}),
    ],
)
def test_bad_console_input_is_refused_with_a_message_and_stores_nothing(
    app: Flask, admin: FlaskClient, private: Letter, path: str, data: dict[str, str]
) -> None:
    response = admin.post(f"{CONSOLE}/{path}", data={"csrf_token": csrf_token(admin, CONSOLE)} | data)
    assert response.status_code == 422
    assert 'class="error-summary"' in response.get_data(as_text=True)
    assert count(app, Invitation) == 0 and count(app, OutboxMessage) == 0 and count(app, AuditEntry) == 0
    assert one(app, Letter).opens_at is None


def test_moderators_who_are_not_admins_and_forms_without_csrf_are_refused(
    app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator], private: Letter
) -> None:
    create_moderator("mod@example.org")
    assert log_in(client, "mod@example.org").status_code == 303
    assert client.get(CONSOLE).status_code == 403
    assert client.post(f"/moderate/letters/{SLUG}/launch", data={}).status_code in (400, 403)
    assert one(app, Letter).draft


def test_the_command_refuses_what_it_cannot_do(runner: FlaskCliRunner, letter: Letter) -> None:
    def fails(*args: str) -> str:
        result = runner.invoke(args=["letter", *args])
        assert result.exit_code != 0
        return result.output

    assert "either --email" in fails("invite", SLUG)
    assert "needs --cap" in fails("invite", SLUG, "--shared")
    assert "not valid email" in fails("invite", SLUG, "--email", "nope")
    assert "already public" in fails("invite", SLUG, "--email", "a@example.org")  # `letter` is published
    assert "already public" in fails("launch", SLUG)
    assert "no letter" in fails("launch", "no-such-letter")


# --- nothing before the launch ------------------------------------------------------------------


def test_before_the_launch_every_public_surface_answers_404_and_the_log_waits(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, private: Letter, smtp_sink: SMTPSink
) -> None:
    [path] = invite(runner, "--shared", "--cap", "3")
    sign_through(client, path)
    confirm_by_mail(client, app, smtp_sink, "ada@example.org")
    assert runner.invoke(args=["log", "sequence"]).exit_code == 0
    assert runner.invoke(args=["log", "snapshot"]).exit_code == 0
    public = app.test_client()
    for address in public_surfaces(app):
        with public.get(address) as response:
            assert response.status_code == 404, address
    for address in ("/", "/letters", "/sitemap.xml", "/api/v1/letters", "/robots.txt"):
        body = public.get(address).get_data(as_text=True)
        assert SLUG not in body and TITLE not in body and "Ada Lovelace" not in body, address
    # The log's events wait unsequenced, with no tree head, until the launch.
    assert count(app, LogHead) == 0
    assert all(event.leaf_index is None for event in rows(app, LogEvent))
    # The invitation pages are kept from search engines and caches.
    for address in (path, path.replace("/invitations/", "/invitations/preview/")):
        response = public.get(address)
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
        assert response.headers["Cache-Control"] == "no-store"
        assert 'name="robots" content="noindex' in response.get_data(as_text=True)
    # Confirming said so, with nothing public to link to.
    signature = one(app, Signature)
    assert signature.status == SignatureStatus.CONFIRMED
    assert public.get(f"/letters/{SLUG}/signatures/{signature.id}").status_code == 404


# --- the launch -----------------------------------------------------------------------------------


def founders_signed(app: Flask, client: FlaskClient, runner: FlaskCliRunner, sink: SMTPSink) -> list[str]:
    """Three people invited, two of whom sign and confirm; the invitation paths."""
    links = invite(runner, "--email", "ada@example.org", "--email", "grace@example.org", "--email", "joan@example.org")
    sign_through(client, links[0], name="Ada Lovelace", email="ada@example.org")
    sign_through(client, links[1], name="Grace Hopper", email="grace@example.org", affiliation="US Navy")
    confirm_by_mail(client, app, sink, "ada@example.org")
    confirm_by_mail(client, app, sink, "grace@example.org")
    return links


def assert_public_with_founders(
    app: Flask, runner: FlaskCliRunner, *, launched_at: Any = None, in_sitemap: bool = True
) -> None:
    public = app.test_client()
    assert runner.invoke(args=["log", "sequence"]).exit_code == 0
    assert runner.invoke(args=["log", "snapshot"]).exit_code == 0
    for address in public_surfaces(app):
        with public.get(address) as response:
            assert response.status_code != 404, address
    assert public.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 2
    html = public.get(f"/letters/{SLUG}").get_data(as_text=True)
    founding = html.split('id="founding-heading"')[1].split("</section>")[0]
    assert "Ada Lovelace" in founding and "Grace Hopper" in founding
    # (The sitemap lists letters published by the real clock's now, which a launch run at a later
    # moment is not.)
    assert (SLUG in public.get("/sitemap.xml").get_data(as_text=True)) == in_sitemap
    # The log: an ``add`` for each founder, dated at the launch, and nothing from before it.
    entries = public.get(f"/api/v1/letters/{SLUG}/log/entries").get_json()["entries"]
    leaves = [json.loads(entry["leaf"]) if isinstance(entry.get("leaf"), str) else entry for entry in entries]
    assert len(entries) == 2
    assert {leaf.get("event") for leaf in leaves} == {"add"}
    if launched_at is not None:
        assert {event.at for event in rows(app, LogEvent)} == {launched_at}
    verify = runner.invoke(args=["log", "verify", SLUG])
    assert verify.exit_code == 0, verify.output


def test_the_launch_button_makes_letter_founders_and_log_public_at_once_and_mails_them(
    app: Flask,
    client: FlaskClient,
    admin: FlaskClient,
    runner: FlaskCliRunner,
    private: Letter,
    smtp_sink: SMTPSink,
) -> None:
    links = founders_signed(app, client, runner, smtp_sink)
    page = admin.get(CONSOLE).get_data(as_text=True)
    assert "Launch now" in page and "2 founding signatories have confirmed" in page
    response = admin.post(
        f"/moderate/letters/{SLUG}/launch",
        data={"csrf_token": csrf_token(admin, CONSOLE), "launch-mail_founders": "y"},
    )
    assert response.status_code == 303
    letter = one(app, Letter)
    assert not letter.draft
    assert_public_with_founders(app, runner, launched_at=letter.published_at)
    entry = one(app, AuditEntry, action="letter.launch")
    assert entry.moderator_email == "admin@example.org" and "2 founders mailed" in entry.reason

    deliver_mail(app)
    for address in ("ada@example.org", "grace@example.org"):
        [mail] = [m for m in smtp_sink.messages_to(address) if "is public now" in m["Subject"]]
        assert f"/letters/{SLUG}" in text_of(mail) and "2 signatures" in text_of(mail)
    assert not [m for m in smtp_sink.messages_to("joan@example.org") if "is public now" in m["Subject"]]
    # The invitation links lead to the public letter now.
    after = client.get(links[2])
    assert after.status_code == 303 and after.headers["Location"].endswith(f"/letters/{SLUG}")
    assert sign_through(client, links[2], email="joan@example.org").status_code == 303
    assert count(app, Signature) == 2
    # A second launch is refused.
    again = admin.post(f"/moderate/letters/{SLUG}/launch", data={"csrf_token": csrf_token(admin, CONSOLE)})
    assert again.status_code == 409


def test_the_command_launches_without_mail_unless_asked(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, private: Letter, smtp_sink: SMTPSink
) -> None:
    founders_signed(app, client, runner, smtp_sink)
    result = runner.invoke(args=["letter", "launch", SLUG])
    assert result.exit_code == 0, result.output
    assert "is public, with 2 signatures; 0 founders are mailed" in result.output
    assert_public_with_founders(app, runner)
    assert count(app, OutboxMessage, kind="launch") == 0
    assert one(app, AuditEntry, action="letter.launch").reason.startswith("from the command line")


def run_jobs(app: Flask, at: datetime) -> int:
    """Run the jobs due at ``at``, as the worker's loop does at that time; how many ran."""
    with app.app_context():
        return jobs.run_due(jobs.Settings.from_config(app.config), worker_id="test-worker", now=at)


@pytest.mark.parametrize("mail_founders", [True, False])
def test_the_worker_launches_at_opens_at_and_not_before(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    private: Letter,
    smtp_sink: SMTPSink,
    mail_founders: bool,
) -> None:
    opens = (utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)
    extra = ["--mail-founders"] if mail_founders else []
    result = runner.invoke(
        args=["letter", "invite", SLUG, "--shared", "--cap", "5", "--opens-at", f"{opens:%Y-%m-%dT%H:%M}", *extra]
    )
    assert result.exit_code == 0, result.output
    [path] = INVITATION_LINK.findall(result.output)
    assert one(app, Letter).opens_at == opens
    sign_through(client, path, name="Ada Lovelace", email="ada@example.org")
    sign_through(client, path, name="Grace Hopper", email="grace@example.org")
    confirm_by_mail(client, app, smtp_sink, "ada@example.org")
    confirm_by_mail(client, app, smtp_sink, "grace@example.org")

    assert run_jobs(app, opens - timedelta(minutes=1)) == 0
    assert one(app, Letter).draft
    assert run_jobs(app, opens) == 1
    letter = one(app, Letter)
    assert not letter.draft and letter.published_at == opens
    assert_public_with_founders(app, runner, launched_at=opens, in_sitemap=False)
    entry = one(app, AuditEntry, action="letter.launch")
    assert entry.moderator_id is None and entry.reason.startswith("at its opening time")
    # Queued for each founder, due at the launch (delivered like any mail: see the launch button's test).
    queued = rows(app, OutboxMessage, kind="launch")
    assert sorted(m.recipient for m in queued) == (["ada@example.org", "grace@example.org"] if mail_founders else [])


def test_a_moved_opening_time_launches_once_at_the_new_time(app: Flask, admin: FlaskClient, private: Letter) -> None:
    token = csrf_token(admin, CONSOLE)
    first = (utcnow() + timedelta(hours=1)).replace(second=0, microsecond=0)
    later = first + timedelta(hours=2)
    for moment in (first, later):
        response = admin.post(
            f"{CONSOLE}/schedule", data={"csrf_token": token, "schedule-opens_at": f"{moment:%Y-%m-%dT%H:%M}"}
        )
        assert response.status_code == 303
    assert run_jobs(app, first) == 1
    assert one(app, Letter).draft  # the first time's job found it moved
    assert run_jobs(app, later) == 1
    assert not one(app, Letter).draft
    assert count(app, AuditEntry, action="letter.launch") == 1
    assert count(app, AuditEntry, action="letter.schedule") == 2
    assert run_jobs(app, later + timedelta(days=1)) == 0


def test_withdrawn_or_unconfirmed_founders_stay_out_of_the_log_and_the_count(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, private: Letter, smtp_sink: SMTPSink
) -> None:
    [path] = invite(runner, "--shared", "--cap", "5")
    sign_through(client, path, name="Ada Lovelace", email="ada@example.org")
    sign_through(client, path, name="Unconfirmed Person", email="late@example.org")
    confirm_by_mail(client, app, smtp_sink, "ada@example.org")
    assert runner.invoke(args=["letter", "launch", SLUG]).exit_code == 0
    assert runner.invoke(args=["log", "sequence"]).exit_code == 0
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 1
    with app.app_context():
        events = db.session.scalars(sa.select(LogEvent.signature_id)).all()
    assert len(events) == 1
    assert runner.invoke(args=["log", "verify", SLUG]).exit_code == 0


def test_the_editors_publish_button_on_a_private_letter_launches_it_with_its_log(
    app: Flask, client: FlaskClient, admin: FlaskClient, runner: FlaskCliRunner, private: Letter, smtp_sink: SMTPSink
) -> None:
    founders_signed(app, client, runner, smtp_sink)
    edit = f"/moderate/letters/{SLUG}/edit"
    response = admin.post(
        f"/moderate/letters/{SLUG}/signing", data={"csrf_token": csrf_token(admin, edit), "signing": "publish"}
    )
    assert response.status_code == 303
    assert_public_with_founders(app, runner, launched_at=one(app, Letter).published_at)
    assert count(app, OutboxMessage, kind="launch") == 0  # the launch mail is the console's and the command's


def test_a_second_launch_that_read_the_letter_before_the_first_writes_nothing(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, private: Letter, smtp_sink: SMTPSink
) -> None:
    founders_signed(app, client, runner, smtp_sink)
    with app.app_context():
        late = db.new_session()
        try:
            stale = late.scalars(sa.select(Letter)).one()  # read while still private (the worker, say)
            assert stale.draft
            late.expunge(stale)  # kept as it was read, draft and all
            late.rollback()
            assert runner.invoke(args=["letter", "launch", SLUG]).exit_code == 0  # the button, meanwhile
            late.add(stale)
            with pytest.raises(invitations.NotPrivate):
                invitations.launch(late, stale, now=utcnow(), moderator=None, mail_founders=True, how="late")
            late.rollback()
        finally:
            late.close()
    assert count(app, LogEvent) == 2 and count(app, AuditEntry, action="letter.launch") == 1
    assert count(app, OutboxMessage, kind="launch") == 0
