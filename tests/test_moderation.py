"""Moderators: accounts, sign-in, the queue, actions and the audit log, through the web."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import encode_cookie
from werkzeug.datastructures import MultiDict

from app.db import db, utcnow
from app.models import AuditEntry, Flag, FlagKind, Letter, Moderator, ModeratorRole, Organisation, Signature
from app.models import SignatureStatus as S
from app.moderation import accounts
from app.moderation.blueprint import PUBLIC_ENDPOINTS
from app.services import moderation
from app.services.flags import flag_params
from tests.factories import PASSWORD, log_in, stored_signatures
from tests.support import confirmation_fields, copy_cookies, csrf_token, sign

pytestmark = pytest.mark.engines

SLUG = "test-letter"


def signatures(app: Flask) -> dict[str, Signature]:
    """The stored signatures by name."""
    return {s.name: s for s in stored_signatures(app)}


def confirm_all(app: Flask) -> None:
    """Confirm every unconfirmed signature through the service, as the links would."""
    from app.services import counting

    with app.app_context(), db.transaction() as session:
        for signature in session.scalars(sa.select(Signature).where(Signature.status == S.UNCONFIRMED)):
            pre = signature.letter.moderation_mode == "pre"
            counting.move(session, signature, S.PENDING if pre else S.CONFIRMED, now=utcnow())
            signature.confirmed_at = utcnow()


def act(
    client: FlaskClient, ids: list[int], action: str, query: str = "", *, confirm: bool = True, **fields: str
) -> Any:
    """Send the queue's action form; with ``confirm``, also press the button of the page that asks first."""
    token = csrf_token(client, f"/moderate/letters/{SLUG}")
    data: dict[str, Any] = {"csrf_token": token, "action": action, "signature": [str(i) for i in ids], **fields}
    response = client.post(f"/moderate/letters/{SLUG}/actions{query}", data=data)
    page = response.get_data(as_text=True)
    if confirm and response.status_code == 200 and 'class="panel confirm-form"' in page:
        confirmed = confirmation_fields(page)
        if "phrase" in fields:
            confirmed.append(("phrase", fields["phrase"]))
        response = client.post(f"/moderate/letters/{SLUG}/actions{query}", data=MultiDict(confirmed))
    return response


def public_names(client: FlaskClient) -> list[str]:
    return [s["name"] for s in client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]]


def public_count(client: FlaskClient) -> int:
    return int(client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"])


def audit(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)))


# --- the whole story -----------------------------------------------------------------


def test_a_moderator_hides_a_flagged_fake_and_verifies_a_real_signatory(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    sign(client, SLUG, name="Elon Musk", email="elon@example.net")
    sign(client, SLUG, name="Hayao Miyazaki", email="studio@example.jp", affiliation="Animator")
    sign(client, SLUG, name="Ada Lovelace", email="ada@example.org")
    confirm_all(app)
    # All three count; the two names on the watch list wait for a moderator before they are listed.
    assert public_count(client) == 3 and public_names(client) == ["Ada Lovelace"]

    create_moderator()
    assert log_in(client).status_code == 303
    queue = client.get(f"/moderate/letters/{SLUG}").get_data(as_text=True)
    # Both famous names were flagged automatically, with the reason; the ordinary one was not.
    assert "The name matches “Elon Musk” on the watch list." in queue
    assert "The name matches “Hayao Miyazaki” on the watch list." in queue
    assert "Ada Lovelace" not in queue
    assert "elon@example.net" in queue  # moderators see addresses
    # Next to the action, what hiding does to the public log and the open data.
    hint = re.search(r'<p class="hint" id="action-hint">([^<]*)</p>', queue)
    assert hint is not None and 'aria-describedby="action-hint"' in queue
    assert html.unescape(hint.group(1)) == (
        "Hiding also withdraws its name and comment from the public log's openings and the open-data snapshots; "
        "the log keeps only a hash."
    )

    people = signatures(app)
    fake, real = people["Elon Musk"].id, people["Hayao Miyazaki"].id
    assert act(client, [fake], "hide", reason="fake", note="No reply from his office").status_code == 303
    answer = act(client, [real], "verify", note="Confirmed by phone with the studio")
    assert answer.status_code == 303

    # The public page, list and API reflect both at once; the real one is listed once approved.
    assert public_count(client) == 2
    assert public_names(client) == ["Ada Lovelace"]
    assert act(client, [real], "approve").status_code == 303
    listed = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]
    assert [s["name"] for s in listed] == ["Ada Lovelace", "Hayao Miyazaki"]
    assert "Elon Musk" not in client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert "Elon Musk" not in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    # The reason and note are for moderators only.
    assert "No reply from his office" not in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)

    # Every action is in the audit log, with who, what, on which signatures and why.
    entries = audit(app)
    assert [(e.action, e.moderator_email, e.signature_ids, e.reason) for e in entries] == [
        ("hide", "mod@example.org", str(fake), "fake No reply from his office"),
        ("verify", "mod@example.org", str(real), "Confirmed by phone with the studio"),
        ("approve", "mod@example.org", str(real), ""),
    ]
    log = client.get("/moderate/audit").get_data(as_text=True)
    assert log.count('class="audit-entry"') == 3 and "Confirmed by phone with the studio" in log
    # The flags of the hidden signature are settled; it leaves the review queue.
    assert "Elon Musk" not in client.get(f"/moderate/letters/{SLUG}").get_data(as_text=True)
    recount = app.test_cli_runner().invoke(args=["letter", "recount", SLUG])
    assert recount.exit_code == 0, recount.output


# --- accounts and sign-in --------------------------------------------------------------------


def test_the_site_hashes_passwords_with_argon2id_at_rfc_9106_cost(tmp_path: Path) -> None:
    # The tests' own process hashes with argon2-cffi's cheapest profile (conftest); the site does not.
    assert accounts.PASSWORD_PARAMETERS == profiles.RFC_9106_LOW_MEMORY
    made = subprocess.run(
        [sys.executable, "-c", "from app.moderation import accounts; print(accounts.password_hasher.hash('x' * 12))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout.strip()
    assert made.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), made
    assert PasswordHasher().verify(made, "x" * 12)


def test_moderator_commands_read_passwords_from_stdin_or_a_prompt_never_an_argument(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["moderator", "create", "Admin@Example.org", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created admin account admin@example.org" in result.output
    result = runner.invoke(args=["moderator", "create", "m@example.org"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert runner.invoke(args=["moderator", "create", "x@example.org", "--password", PASSWORD]).exit_code == 2
    short = runner.invoke(args=["moderator", "create", "y@example.org", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    listing = runner.invoke(args=["moderator", "list"]).output
    assert "admin@example.org" in listing and "m@example.org" in listing and "active" in listing
    with app.app_context():
        stored = db.session.scalar(sa.select(Moderator.password_hash).where(Moderator.email == "m@example.org"))
    assert stored and stored.startswith("$argon2id$") and PASSWORD not in stored

    assert runner.invoke(args=["moderator", "disable", "m@example.org"]).exit_code == 0
    assert "disabled" in runner.invoke(args=["moderator", "list"]).output
    reset = runner.invoke(
        args=["moderator", "reset-password", "admin@example.org", "--password-stdin"], input="a new long password\n"
    )
    assert reset.exit_code == 0, reset.output
    assert runner.invoke(args=["moderator", "disable", "nobody@example.org"]).exit_code == 1


def test_wrong_password_and_unknown_account_get_the_same_answer(
    app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    wrong = log_in(client, password="not the password at all")
    unknown = log_in(client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401

    def message(response: Any) -> str:
        return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))

    assert message(wrong).replace("mod@example.org", "X") == message(unknown).replace("nobody@example.org", "X")
    assert "The email address or the password is not right." in message(wrong)
    assert client.get("/moderate").status_code == 302


@pytest.mark.settings(RATELIMIT_LOGIN_PER_ACCOUNT="3 per 15 minutes")
def test_repeated_wrong_passwords_are_throttled_per_account(
    app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    answers = [log_in(client, password=f"wrong {n} password").status_code for n in range(4)]
    assert answers == [401, 401, 401, 429]
    throttled = log_in(client, environ_base={"REMOTE_ADDR": "198.51.100.99"})
    assert throttled.status_code == 429  # per account: another network does not help
    assert "Please try again in" in throttled.get_data(as_text=True)
    # The same limit for an address without an account: nothing tells them apart.
    assert [log_in(client, email="ghost@example.org").status_code for _ in range(4)] == [401, 401, 401, 429]


@pytest.mark.settings(RATELIMIT_LOGIN_PER_NETWORK="3 per 15 minutes")
def test_sign_in_attempts_are_throttled_per_network(
    app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator]
) -> None:
    answers = [log_in(client, email=f"guess{n}@example.org").status_code for n in range(4)]
    assert answers == [401, 401, 401, 429]


def test_sessions_end_when_idle_and_when_the_account_is_disabled(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    log_in(client)
    assert client.get("/moderate").status_code == 200
    with client.session_transaction() as session:
        session["moderator_seen"] = int(utcnow().timestamp()) - 31 * 60
    idle = client.get("/moderate")
    assert idle.status_code == 302  # idle for longer than 30 minutes
    page = client.get(idle.headers["Location"]).get_data(as_text=True)
    assert "You were signed out after 30 minutes without activity. Please sign in again." in page
    log_in(client)
    assert client.get("/moderate").status_code == 200
    assert app.test_cli_runner().invoke(args=["moderator", "disable", "mod@example.org"]).exit_code == 0
    assert client.get("/moderate").status_code == 302
    assert log_in(client).status_code == 401  # and cannot sign in again


def sign_out(client: FlaskClient) -> Any:
    return client.post("/moderate/logout", data={"csrf_token": csrf_token(client, "/moderate")})


def test_a_session_cookie_copied_before_signing_out_is_refused_after_it(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    log_in(client)
    copy = app.test_client()
    copy_cookies(client, copy)
    assert copy.get("/moderate").status_code == 200  # the copy works while the session lasts
    assert sign_out(client).status_code == 303
    assert client.get("/moderate").status_code == 302
    refused = copy.get("/moderate")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/moderate/login")
    assert log_in(copy).status_code == 303  # signing in again starts a new session
    assert copy.get("/moderate").status_code == 200


def test_a_session_ends_after_moderator_session_hours_however_active(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    log_in(client)

    def signed_in_since(seconds_ago: int) -> None:
        # A request a minute ago: never idle; only the sign-in moves back.
        now = int(utcnow().timestamp())
        with client.session_transaction() as session:
            session["moderator_since"] = now - seconds_ago
            session["moderator_seen"] = now - 60

    signed_in_since(12 * 3600 - 60)
    assert client.get("/moderate").status_code == 200
    signed_in_since(12 * 3600 + 1)
    refused = client.get("/moderate")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/moderate/login")
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "You were signed in for 12 hours. Please sign in again." in page
    assert client.get("/moderate").status_code == 302  # not only once: the session is gone
    assert log_in(client).status_code == 303
    assert client.get("/moderate").status_code == 200


@pytest.mark.settings(MODERATOR_SESSION_HOURS=1)
def test_the_session_lifetime_is_a_setting(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    log_in(client)
    with client.session_transaction() as session:
        session["moderator_since"] = int(utcnow().timestamp()) - 3601
    refused = client.get("/moderate?lang=ko")
    assert refused.status_code == 302
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "로그인한 지 1시간이 지났습니다. 다시 로그인해 주세요." in page


def test_a_csrf_token_from_before_signing_in_is_refused_after_it(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    before = csrf_token(client, "/moderate/login")
    assert log_in(client).status_code == 303
    stale = client.post("/moderate/logout", data={"csrf_token": before})
    assert stale.status_code == 400
    assert "This form has expired" in stale.get_data(as_text=True)
    assert client.get("/moderate").status_code == 200  # still signed in: the stale token did nothing
    assert sign_out(client).status_code == 303  # a token from the new session works


def test_resetting_the_password_ends_every_session_of_the_account(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    create_moderator(email="other@example.org")
    laptop, phone, colleague = client, app.test_client(), app.test_client()
    for each in (laptop, phone):
        log_in(each)
    log_in(colleague, email="other@example.org")
    reset = app.test_cli_runner().invoke(
        args=["moderator", "reset-password", "mod@example.org", "--password-stdin"], input="a new long password\n"
    )
    assert reset.exit_code == 0, reset.output
    assert laptop.get("/moderate").status_code == phone.get("/moderate").status_code == 302
    assert colleague.get("/moderate").status_code == 200  # another account's session goes on
    assert log_in(phone).status_code == 401
    assert log_in(phone, password="a new long password").status_code == 303


def test_no_remember_cookie_is_set_or_honoured(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    moderator = create_moderator()
    answer = log_in(client)
    assert answer.status_code == 303
    assert [c for c in answer.headers.getlist("Set-Cookie") if not c.startswith("session=")] == []
    # A remember cookie made with the app's own key and a valid id still signs no one in.
    with app.test_request_context():
        forged = encode_cookie(accounts.SignedInModerator(moderator).get_id())
    stranger = app.test_client()
    stranger.set_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"), forged)
    assert stranger.get("/moderate").status_code == 302


def moderation_routes(app: Flask) -> list[tuple[str, str]]:
    """Every moderation URL with a method, letters filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        # Sign-in, and the links mailed to an account (unsubscribing from notifications), are open.
        if not rule.endpoint.startswith("moderation.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = re.sub(r"<id:\w+>", "1", rule.rule.replace("<slug>", SLUG))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_every_moderation_route_refuses_anonymous_and_disabled_moderators(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    routes = moderation_routes(app)
    assert len(routes) >= 7, routes

    def refused(method: str, path: str) -> None:
        # With a valid CSRF token, so that it is the sign-in that refuses, not the token.
        data = {"csrf_token": csrf_token(client, "/moderate/login"), "action": "hide", "signature": "1"}
        response = client.open(path, method=method, data=data if method == "POST" else None)
        assert response.status_code == 302, (method, path, response.status_code)
        assert response.headers["Location"].startswith("/moderate/login"), (method, path)

    for method, path in routes:
        refused(method, path)
    create_moderator(role=ModeratorRole.ADMIN)
    log_in(client)
    assert client.get(f"/moderate/letters/{SLUG}/edit").status_code == 200
    assert app.test_cli_runner().invoke(args=["moderator", "disable", "mod@example.org"]).exit_code == 0
    for method, path in routes:
        refused(method, path)
    assert audit(app) == []


def test_moderators_who_are_not_admins_cannot_manage_letters(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    log_in(client)
    assert client.get(f"/moderate/letters/{SLUG}/edit").status_code == 403
    token = csrf_token(client, f"/moderate/letters/{SLUG}")
    assert (
        client.post(f"/moderate/letters/{SLUG}/signing", data={"csrf_token": token, "signing": "close"}).status_code
        == 403
    )


def test_admins_edit_feature_close_and_open_letters_from_the_web(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator(role=ModeratorRole.ADMIN)
    log_in(client)
    path = f"/moderate/letters/{SLUG}/edit"
    data = {
        "csrf_token": csrf_token(client, path),
        "title": "A better title",
        "body_markdown": "New **text**.",
        "moderation_mode": "pre",
        "featured": "y",
    }
    assert client.post(path, data=data).status_code == 303
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert "A better title" in page and "New <strong>text</strong>." in page
    assert "A better title" in client.get("/").get_data(as_text=True)
    token = csrf_token(client, path)
    assert (
        client.post(f"/moderate/letters/{SLUG}/signing", data={"csrf_token": token, "signing": "close"}).status_code
        == 303
    )
    assert "Signing has closed" in client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert (
        client.post(f"/moderate/letters/{SLUG}/signing", data={"csrf_token": token, "signing": "open"}).status_code
        == 303
    )
    assert "Signing has closed" not in client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert [e.action for e in audit(app)] == ["letter.edit", "letter.close", "letter.open"]


# --- modes, actions, bulk --------------------------------------------------------------------


def test_pre_moderation_counts_and_lists_only_after_approval(
    app: Flask, client: FlaskClient, create_letter: Callable[..., Letter], create_moderator: Callable[..., Moderator]
) -> None:
    create_letter(moderation_mode="pre")
    for n in range(3):
        sign(client, SLUG, name=f"Signer {n}", email=f"s{n}@example.org")
    confirm_all(app)
    assert public_count(client) == 0 and public_names(client) == []
    create_moderator()
    log_in(client)
    queue = client.get(f"/moderate/letters/{SLUG}").get_data(as_text=True)
    assert queue.count('<p class="flag">Waiting for approval</p>') == 3
    ids = [s.id for s in signatures(app).values()]
    assert act(client, ids[:2], "approve").status_code == 303
    assert public_count(client) == 2 and len(public_names(client)) == 2
    assert act(client, ids, "approve").status_code == 303  # the two approved ones are skipped
    assert public_count(client) == 3
    assert audit(app)[-1].signature_count == 1


def test_bulk_actions_on_all_matching_a_search_are_one_transaction(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    create_moderator: Callable[..., Moderator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(5):
        sign(client, SLUG, name=f"Bot {n}", email=f"bot{n}@spam.example")
    sign(client, SLUG, name="Ada Lovelace", email="ada@example.org")
    confirm_all(app)
    create_moderator()
    log_in(client)
    # Too many for one action: a clear error, nothing changed.
    monkeypatch.setattr(moderation, "MAX_BULK", 4)
    too_many = act(client, [], "hide", query="?view=all&domain=spam.example", reason="fake", all_matching="y")
    assert too_many.status_code == 422  # the queue again, the message beside the choice
    assert re.search(r'id="all_matching-error">.*Narrow the search', too_many.get_data(as_text=True))
    assert public_count(client) == 6 and audit(app) == []
    monkeypatch.setattr(moderation, "MAX_BULK", 10)
    done = act(client, [], "hide", query="?view=all&domain=spam.example", reason="fake", all_matching="y")
    assert done.status_code == 303
    assert public_names(client) == ["Ada Lovelace"] and public_count(client) == 1
    assert audit(app)[-1].signature_count == 5
    assert "5 signatures changed." in client.get(done.headers["Location"]).get_data(as_text=True)
    # Restore them all, then delete one for good: personal data erased, count corrected.
    act(client, [], "restore", query="?view=all&status=hidden", all_matching="y")
    assert public_count(client) == 6
    bot = signatures(app)["Bot 0"].id
    assert act(client, [bot], "delete", reason="fake").status_code == 303
    assert public_count(client) == 5
    with app.app_context():
        erased = db.session.get(Signature, bot)
        assert erased is not None and (erased.status, erased.name, erased.email) == (S.REMOVED, "", "")
    assert app.test_cli_runner().invoke(args=["letter", "recount", SLUG]).exit_code == 0


def test_actions_need_what_they_need_and_csrf(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    sign(client, SLUG)
    confirm_all(app)
    create_moderator()
    log_in(client)
    [signature] = signatures(app).values()
    # Each is refused with the queue again and the message beside the control (see test_moderation_queue).
    assert act(client, [signature.id], "hide").status_code == 422  # no reason
    assert act(client, [signature.id], "verify").status_code == 422  # no note
    assert act(client, [], "hide", reason="fake").status_code == 422  # nothing chosen
    assert act(client, [signature.id], "explode").status_code == 422
    forged = client.post(
        f"/moderate/letters/{SLUG}/actions", data={"action": "hide", "reason": "fake", "signature": str(signature.id)}
    )
    assert forged.status_code == 400
    assert public_count(client) == 1 and audit(app) == []


def test_a_signature_of_another_letter_is_out_of_reach(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    create_letter: Callable[..., Letter],
    create_moderator: Callable[..., Moderator],
) -> None:
    other = create_letter(slug="other-letter")
    sign(client, "other-letter", email="other@example.org")
    confirm_all(app)
    create_moderator()
    log_in(client)
    [signature] = signatures(app).values()
    assert act(client, [signature.id], "hide", reason="abuse").status_code == 303
    with app.app_context():
        assert db.session.get(Signature, signature.id).status == S.CONFIRMED  # type: ignore[union-attr]
        assert db.session.get(Letter, other.id).signature_count == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["%", "_", "\\", "' OR 1=1 --", ".*", "(?:", "名前", "a" * 300])
def test_searches_with_metacharacters_are_bounded_and_literal(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator], text: str
) -> None:
    sign(client, SLUG, name="Plain Name")
    confirm_all(app)
    create_moderator()
    log_in(client)
    for field in ("q", "email", "domain"):
        page = client.get(f"/moderate/letters/{SLUG}", query_string={"view": "all", field: text})
        assert page.status_code == 200
        assert "Plain Name" not in page.get_data(as_text=True)
    assert (
        client.get(f"/moderate/letters/{SLUG}", query_string={"view": "all", "status": "nonsense"}).status_code == 400
    )
    assert (
        client.get(f"/moderate/letters/{SLUG}", query_string={"view": "all", "since": "yesterday"}).status_code == 400
    )
    assert client.get(f"/moderate/letters/{SLUG}", query_string={"cursor": "x"}).status_code == 400


def test_the_audit_log_cannot_be_changed_even_in_the_database(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    sign(client, SLUG)
    confirm_all(app)
    create_moderator()
    log_in(client)
    act(client, [next(iter(signatures(app).values())).id], "hide", reason="abuse")
    with app.app_context():
        for statement in (sa.update(AuditEntry).values(reason="nothing happened"), sa.delete(AuditEntry)):
            with pytest.raises(sa.exc.DBAPIError, match="cannot be changed or deleted"):
                db.session.execute(statement)
            db.session.rollback()
    assert audit(app)[0].reason == "abuse"


def test_the_audit_log_filters_by_letter_action_and_moderator(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    sign(client, SLUG)
    confirm_all(app)
    create_moderator()
    log_in(client)
    [signature] = signatures(app).values()
    act(client, [signature.id], "hide", reason="abuse")
    act(client, [signature.id], "restore")
    assert client.get("/moderate/audit?action=hide").get_data(as_text=True).count('class="audit-entry"') == 1
    assert client.get(f"/moderate/audit?letter={SLUG}").get_data(as_text=True).count('class="audit-entry"') == 2
    assert (
        client.get("/moderate/audit?moderator=else@example.org").get_data(as_text=True).count('class="audit-entry"')
        == 0
    )


# --- automatic flags -------------------------------------------------------------------------


def flags_of(app: Flask) -> dict[str, set[FlagKind]]:
    with app.app_context():
        rows = db.session.execute(sa.select(Signature.email, Flag.kind).join(Flag, Flag.signature_id == Signature.id))
        found: dict[str, set[FlagKind]] = {}
        for email, kind in rows:
            found.setdefault(email, set()).add(kind)
        return found


@pytest.mark.settings(FLAG_NETWORK_BURST="4 per hour")
def test_automatic_flags_say_why_and_hide_nothing(app: Flask, client: FlaskClient, letter: Letter) -> None:
    with app.app_context(), db.transaction() as session:
        session.add(Organisation(name="Studio Ghibli", domain="ghibli.jp"))
    sign(client, SLUG, name="Throwaway", email="x@mailinator.com")
    sign(client, SLUG, name="Jane Doe", email="jane1@example.org")
    sign(client, SLUG, name="jane  DOE.", email="jane2@example.org")
    sign(client, SLUG, name="Animator", email="someone@gmail.com", affiliation="Studio Ghibli")
    sign(client, SLUG, name="Real Animator", email="real@ghibli.jp", affiliation="Animator, Studio Ghibli")
    found = flags_of(app)
    assert found["x@mailinator.com"] == {FlagKind.DISPOSABLE}
    assert "jane1@example.org" not in found
    assert found["jane2@example.org"] == {FlagKind.SIMILAR_NAMES}
    assert found["someone@gmail.com"] == {FlagKind.AFFILIATION}
    # The fifth signature from one network within the hour is a burst; its own domain matches.
    assert found["real@ghibli.jp"] == {FlagKind.NETWORK_BURST}
    with app.app_context():
        details = [flag_params(detail) for detail in db.session.scalars(sa.select(Flag.detail))]
    assert {"organisation": "Studio Ghibli", "organisation_domain": "ghibli.jp", "domain": "gmail.com"} in details
    confirm_all(app)
    assert public_count(client) == 5  # flags never hide


def test_flag_reasons_read_in_the_moderators_language(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    with app.app_context(), db.transaction() as session:
        session.add(Organisation(name="Studio Ghibli", domain="ghibli.jp"))
    sign(client, SLUG, name="Throwaway", email="x@mailinator.com")
    sign(client, SLUG, name="Animator", email="someone@gmail.com", affiliation="Studio Ghibli")
    create_moderator()
    log_in(client)
    english = client.get(f"/moderate/letters/{SLUG}?view=flagged&lang=en").get_data(as_text=True)
    assert "The address is at mailinator.com, a disposable-address service." in english
    assert "Claims Studio Ghibli, whose address domain is ghibli.jp; this address is at gmail.com." in english
    korean = client.get(f"/moderate/letters/{SLUG}?view=flagged&lang=ko").get_data(as_text=True)
    assert "mailinator.com" in korean and "disposable-address" not in korean
    assert "일회용" in korean  # the Korean sentence, with the same facts
    assert "Studio Ghibli" in korean and "ghibli.jp" in korean and "Claims" not in korean


def test_moderators_download_every_signature_with_addresses_as_csv(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    sign(client, SLUG, name="=HYPERLINK(1)", email="formula@example.org")
    sign(client, SLUG, name="Ada Lovelace", email="ada@example.org")
    confirm_all(app)
    create_moderator()
    log_in(client)
    response = client.get(f"/moderate/letters/{SLUG}/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    header, *rows = text.strip().splitlines()
    assert header.startswith("\ufeffid,status,name,email,")  # a BOM first: Excel reads UTF-8
    assert len(rows) == 2 and "ada@example.org" in text and "formula@example.org" in text
    assert "'=HYPERLINK(1)" in text  # never a formula in a spreadsheet
    assert audit(app)[-1].action == "export"
