"""People on the web: invitations by email (through a real SMTP server), roles, disabling, the last admin."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.db import db, utcnow
from app.models import AuditEntry, Moderator, ModeratorInvitation, ModeratorRole
from app.moderation import accounts
from app.services import people
from tests import factories
from tests.support import SMTPSink, count, csrf_token, deliver_mail, execute, one, path_of, rows, smtp_settings

INVITE_LINK = r"https?://\S+/moderate/invitation/\S+"
NEW = "new.moderator@example.org"
GOOD_PASSWORD = "a password long enough"


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Mail goes to the test SMTP server."""
    return smtp_settings(smtp_sink)


@pytest.fixture
def admin(create_moderator: Callable[..., Moderator]) -> Moderator:
    """An administrator account."""
    return create_moderator("admin@example.org", ModeratorRole.ADMIN)


@pytest.fixture
def admin_client(app: Flask, admin: Moderator) -> FlaskClient:
    """A client signed in as the administrator."""
    client = app.test_client()
    assert factories.log_in(client, admin.email).status_code == 303
    return client


def _post(client: FlaskClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, "/moderate/people")} | data)


def _invite(client: FlaskClient, email: str = NEW, role: str = "moderator", lang: str = "en") -> Any:
    return _post(client, "/moderate/people/invite", email=email, role=role, lang=lang)


def _mail(app: Flask, smtp_sink: SMTPSink, address: str = NEW) -> EmailMessage:
    deliver_mail(app)
    [message] = smtp_sink.messages_to(address)
    return message


def _link(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    found = re.search(INVITE_LINK, str(part.get_content()))
    assert found, part.get_content()
    return path_of(found.group(0))


def _accept(client: FlaskClient, link: str, password: str = GOOD_PASSWORD, again: str | None = None) -> Any:
    token = csrf_token(client, link)
    return client.post(link, data={"csrf_token": token, "password": password, "password_again": again or password})


@pytest.mark.engines
def test_invite_mail_link_password_and_signed_in(app: Flask, admin_client: FlaskClient, smtp_sink: SMTPSink) -> None:
    page = admin_client.get("/moderate/people").get_data(as_text=True)
    assert "admin@example.org" in page and "Invite a moderator" in page

    response = _invite(admin_client)
    assert response.status_code == 303
    page = admin_client.get("/moderate/people").get_data(as_text=True)
    assert f"Invitation sent to {NEW}." in page
    assert "Invited by admin@example.org" in page

    message = _mail(app, smtp_sink)
    assert message["Subject"] == "You are invited to moderate on Undersigned"
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "Accept the invitation" in html.get_content()
    link = _link(message)
    # Only the token's hash is stored.
    raw = link.split("/invitation/", 1)[1].split("?", 1)[0]
    assert rows(app, ModeratorInvitation.token_hash) != [raw]
    assert raw not in str(rows(app, ModeratorInvitation.token_hash))

    invitee = app.test_client()
    page = invitee.get(link).get_data(as_text=True)
    assert "Join the moderators" in page and NEW in page
    # The same rules as the command line: at least 12 characters; typed twice alike.
    response = _accept(invitee, link, password="too short")
    assert response.status_code == 422
    assert "at least 12 characters" in response.get_data(as_text=True)
    response = _accept(invitee, link, again="another password entirely")
    assert response.status_code == 422
    assert "not the same" in response.get_data(as_text=True)
    assert count(app, Moderator, email=NEW) == 0

    response = _accept(invitee, link)
    assert response.status_code == 303
    assert path_of(response.headers["Location"]).split("?")[0] == "/moderate"
    page = invitee.get("/moderate")
    assert page.status_code == 200
    assert NEW in page.get_data(as_text=True)
    account = one(app, Moderator, email=NEW)
    assert account.role == ModeratorRole.MODERATOR and account.last_login_at is not None
    with app.app_context():
        assert accounts.authenticate(db.session, NEW, GOOD_PASSWORD) is not None
    assert one(app, ModeratorInvitation.used_at, email=NEW) is not None
    # Moderators do not manage people.
    assert invitee.get("/moderate/people").status_code == 403

    actions = rows(app, AuditEntry.action, AuditEntry.moderator_email, AuditEntry.reason, order_by=AuditEntry.id)
    assert [tuple(r) for r in actions] == [
        ("account.invite", "admin@example.org", f"{NEW} (moderator)"),
        ("account.join", NEW, f"{NEW} (moderator)"),
    ]


def test_the_link_works_once(app: Flask, admin_client: FlaskClient, smtp_sink: SMTPSink) -> None:
    _invite(admin_client, role="admin")
    link = _link(_mail(app, smtp_sink))
    first = app.test_client()
    assert _accept(first, link).status_code == 303
    assert one(app, Moderator.role, email=NEW) == ModeratorRole.ADMIN
    second = app.test_client()
    response = second.get(link)
    assert response.status_code == 410
    assert "used already" in response.get_data(as_text=True)
    token = csrf_token(second, "/moderate/login")
    password = "someone else's password"
    response = second.post(link, data={"csrf_token": token, "password": password, "password_again": password})
    assert response.status_code == 410
    with app.app_context():
        assert accounts.authenticate(db.session, NEW, GOOD_PASSWORD) is not None


def test_an_expired_link_is_refused_with_a_clear_page(
    app: Flask, admin_client: FlaskClient, smtp_sink: SMTPSink
) -> None:
    _invite(admin_client)
    link = _link(_mail(app, smtp_sink))
    execute(app, sa.update(ModeratorInvitation).values(expires_at=utcnow() - timedelta(minutes=1)))
    invitee = app.test_client()
    response = invitee.get(link)
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "This invitation has expired. Please ask an admin to invite you again." in page
    assert 'type="password"' not in page
    form = {
        "csrf_token": csrf_token(invitee, "/moderate/login"),
        "password": GOOD_PASSWORD,
        "password_again": GOOD_PASSWORD,
    }
    assert invitee.post(link, data=form).status_code == 410
    assert count(app, Moderator, email=NEW) == 0
    # An expired invitation is not listed as open.
    assert "Invited by" not in admin_client.get("/moderate/people").get_data(as_text=True)


def test_a_made_up_link_is_not_found(app: Flask, client: FlaskClient) -> None:
    response = client.get("/moderate/invitation/not-a-real-token")
    assert response.status_code == 404
    assert "not valid" in response.get_data(as_text=True)


def test_a_new_invitation_replaces_the_old_one_and_an_invitation_can_be_withdrawn(
    app: Flask, admin_client: FlaskClient, smtp_sink: SMTPSink
) -> None:
    _invite(admin_client)
    deliver_mail(app)
    _invite(admin_client, lang="ko")
    deliver_mail(app)
    old, new = smtp_sink.messages_to(NEW)
    assert new["Subject"] == "Undersigned 검토자로 초대합니다"
    assert app.test_client().get(_link(old)).status_code == 404
    assert app.test_client().get(_link(new)).status_code == 200
    invitation_id = one(app, ModeratorInvitation.id)
    assert _post(admin_client, f"/moderate/people/invitations/{invitation_id}/revoke").status_code == 303
    assert app.test_client().get(_link(new)).status_code == 404
    assert one(app, AuditEntry.reason, action="account.uninvite") == NEW


def test_inviting_an_address_that_has_an_account_is_refused(
    app: Flask, admin_client: FlaskClient, smtp_sink: SMTPSink
) -> None:
    response = _invite(admin_client, email="ADMIN@example.org")
    assert response.status_code == 409
    assert "There is an account with this address already." in response.get_data(as_text=True)
    response = _invite(admin_client, email="not an address")
    assert response.status_code == 422
    assert "Please enter an email address" in response.get_data(as_text=True)
    assert count(app, ModeratorInvitation) == 0
    assert count(app, AuditEntry) == 0
    deliver_mail(app)
    assert smtp_sink.received == []


def test_moderators_who_are_not_admins_are_refused(
    app: Flask, client: FlaskClient, admin: Moderator, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    assert factories.log_in(client).status_code == 303
    assert client.get("/moderate/people").status_code == 403
    token = csrf_token(client, "/moderate")
    for path, data in [
        ("/moderate/people/invite", {"email": NEW, "role": "admin", "lang": "en"}),
        (f"/moderate/people/{admin.id}/role", {"role": "moderator"}),
        (f"/moderate/people/{admin.id}/disable", {}),
        (f"/moderate/people/{admin.id}/enable", {}),
    ]:
        assert client.post(path, data={"csrf_token": token} | data).status_code == 403, path
    assert one(app, Moderator.role, email=admin.email) == ModeratorRole.ADMIN
    assert count(app, ModeratorInvitation) == 0 and count(app, AuditEntry) == 0


@pytest.mark.engines
def test_the_last_active_admin_cannot_be_disabled_or_demoted(
    app: Flask, admin: Moderator, admin_client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    for path, data in [
        (f"/moderate/people/{admin.id}/disable", {}),
        (f"/moderate/people/{admin.id}/role", {"role": "moderator"}),
    ]:
        response = _post(admin_client, path, **data)
        assert response.status_code == 409
        assert "This is the last active admin" in response.get_data(as_text=True)
    # A disabled admin does not count.
    other = create_moderator("other-admin@example.org", ModeratorRole.ADMIN)
    assert _post(admin_client, f"/moderate/people/{other.id}/disable").status_code == 303
    assert _post(admin_client, f"/moderate/people/{admin.id}/role", role="moderator").status_code == 409
    assert _post(admin_client, f"/moderate/people/{other.id}/enable").status_code == 303
    # With another active admin, this one may step down.
    assert _post(admin_client, f"/moderate/people/{admin.id}/role", role="moderator").status_code == 303
    assert one(app, Moderator.role, email=admin.email) == ModeratorRole.MODERATOR
    assert admin_client.get("/moderate/people").status_code == 403
    assert count(app, AuditEntry, action="account.role") == 1


def test_disabling_ends_sessions_and_enabling_lets_the_account_in_again(
    app: Flask, admin: Moderator, admin_client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    moderator = create_moderator()
    signed_in = app.test_client()
    assert factories.log_in(signed_in).status_code == 303
    assert signed_in.get("/moderate").status_code == 200

    assert _post(admin_client, f"/moderate/people/{moderator.id}/disable").status_code == 303
    page = admin_client.get("/moderate/people").get_data(as_text=True)
    assert "mod@example.org is disabled and signed out everywhere." in page
    response = signed_in.get("/moderate")
    assert response.status_code == 302 and "/moderate/login" in response.headers["Location"]
    assert factories.log_in(app.test_client()).status_code == 401

    assert _post(admin_client, f"/moderate/people/{moderator.id}/enable").status_code == 303
    assert factories.log_in(app.test_client()).status_code == 303
    assert _post(admin_client, f"/moderate/people/{moderator.id}/role", role="admin").status_code == 303
    assert one(app, Moderator.role, email="mod@example.org") == ModeratorRole.ADMIN

    actions = rows(app, AuditEntry.action, AuditEntry.reason, order_by=AuditEntry.id)
    assert [tuple(r) for r in actions] == [
        ("account.disable", "mod@example.org"),
        ("account.enable", "mod@example.org"),
        ("account.role", "mod@example.org: moderator -> admin"),
    ]
    # The audit log shows them in words.
    page = admin_client.get("/moderate/audit").get_data(as_text=True)
    assert "Account disabled" in page and "Account enabled again" in page and "Role changed" in page


def test_people_page_lists_role_status_and_last_sign_in(
    app: Flask, admin_client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator("never@example.org")
    page = admin_client.get("/moderate/people?lang=ko").get_data(as_text=True)
    assert "never@example.org" in page
    assert "없음" in page  # never signed in
    assert '<option value="admin" selected>관리자</option>' in page
    assert "활성" in page


@pytest.mark.engines
def test_two_admins_disabling_each_other_at_once_leave_one_active(
    app: Flask, create_moderator: Callable[..., Moderator]
) -> None:
    first = create_moderator("first@example.org", ModeratorRole.ADMIN)
    second = create_moderator("second@example.org", ModeratorRole.ADMIN)
    outcome: list[str] = []

    def the_other_one() -> None:
        with app.app_context():
            try:
                with db.transaction() as session:
                    admin, target = session.get(Moderator, second.id), session.get(Moderator, first.id)
                    assert admin is not None and target is not None
                    people.disable(session, admin, target, now=utcnow())
                outcome.append("disabled")
            except people.LastAdmin:
                outcome.append("refused")

    with app.app_context():
        with db.transaction() as session:
            admin, target = session.get(Moderator, first.id), session.get(Moderator, second.id)
            assert admin is not None and target is not None
            people.disable(session, admin, target, now=utcnow())
            racing = threading.Thread(target=the_other_one)
            racing.start()
            racing.join(0.5)
            # It waits for this transaction (the admins' rows are locked, or SQLite's database).
            assert racing.is_alive()
        racing.join(10)
    assert outcome == ["refused"]
    assert rows(app, Moderator.email, where=Moderator.disabled_at.is_(None)) == ["first@example.org"]
