"""No enumeration: the forms answer alike whether or not an address has signed; only the mail differs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.db import db, utcnow
from app.models import Job, JobStatus, Letter, OutboxMessage, OutboxStatus, Signature, SignatureStatus
from app.text import mask_address
from tests.support import csrf_token, sign

pytestmark = pytest.mark.engines

SLUG = "test-letter"


def answer(client: FlaskClient, form: str, email: str) -> tuple[int, str, str]:
    """Post ``form`` with ``email``; return the status, where it leads, and the page it leads to."""
    if form == "sign":
        response = sign(client, SLUG, email=email)
    else:
        path = f"/letters/{SLUG}/{form}"
        response = client.post(path, data={"email": email, "csrf_token": csrf_token(client, path)})
    location = response.headers.get("Location", "")
    follow = client.get(location).get_data(as_text=True) if location else response.get_data(as_text=True)
    # The page differs only in its CSRF token and cache-busting names, which depend on nothing posted,
    # and in the (masked) address the visitor typed, shown back to them: it says nothing of the signer.
    return response.status_code, location, follow.replace(mask_address(email), "{typed address}")


def mail_kinds(app: Flask) -> list[str]:
    """What the mail worker sent (it answers requests for links only now, see app.services.link_requests)."""
    result = app.test_cli_runner().invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        sent = sa.select(OutboxMessage.kind).where(OutboxMessage.status == OutboxStatus.SENT)
        return list(db.session.scalars(sent.order_by(OutboxMessage.id)))


@pytest.fixture
def signed(app: Flask, client: FlaskClient, letter: Letter) -> None:
    """confirmed@ has a confirmed signature, pending@ an unconfirmed one."""
    sign(client, SLUG, email="confirmed@example.org")
    sign(client, SLUG, email="pending@example.org")
    with app.app_context():
        db.session.execute(
            sa.update(Signature)
            .where(Signature.email == "confirmed@example.org")
            .values(status=SignatureStatus.CONFIRMED, confirmed_at=utcnow())
        )
        db.session.commit()
        db.session.execute(sa.delete(OutboxMessage))
        db.session.commit()


@pytest.mark.parametrize("form", ["sign", "resend", "withdraw"])
def test_each_form_answers_alike_for_new_pending_and_confirmed_addresses(
    app: Flask, client: FlaskClient, signed: None, form: str
) -> None:
    answers = {name: answer(client, form, f"{name}@example.org") for name in ("nobody", "pending", "confirmed")}
    assert answers == {email: answers["nobody"] for email in answers}, (
        f"{form} answers differently: {[(a[0], a[1]) for a in answers.values()]}"
    )
    assert answers["nobody"][0] == 303


def test_the_mail_is_what_differs(app: Flask, client: FlaskClient, signed: None) -> None:
    for email in ("nobody@example.org", "pending@example.org", "confirmed@example.org"):
        answer(client, "sign", email)
    assert mail_kinds(app) == ["confirm", "confirm", "already_signed"]
    with app.app_context():
        db.session.execute(sa.delete(OutboxMessage))
        db.session.commit()
    for email in ("stranger@example.org", "pending@example.org", "confirmed@example.org"):
        answer(client, "resend", email)
    assert mail_kinds(app) == ["confirm"]  # only the unconfirmed signer needs a new link
    for email in ("stranger@example.org", "confirmed@example.org"):
        answer(client, "withdraw", email)
    assert mail_kinds(app) == ["confirm", "withdraw"]


@pytest.mark.parametrize("form", ["resend", "withdraw"])
def test_link_requests_do_the_same_work_whatever_the_address(
    app: Flask, client: FlaskClient, signed: None, form: str
) -> None:
    """The request itself stores one row either way; only the worker finds out who signed."""
    for email in ("nobody@example.org", "pending@example.org", "confirmed@example.org"):
        answer(client, form, email)
    with app.app_context():
        queued = list(db.session.execute(sa.select(Job.kind, Job.status, Job.payload).order_by(Job.id)))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert [(kind, status) for kind, status, _ in queued] == [(f"{form}_request", JobStatus.PENDING)] * 3
    assert [set(payload) for *_, payload in queued] == [{"letter_id", "email_key"}] * 3
