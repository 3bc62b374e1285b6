"""Mail through a real SMTP server: delivery, headers, links, retries, no duplicates."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from email import message_from_bytes
from email.policy import SMTP, default
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.db import utcnow
from app.mail.backends import build_message
from app.mail.worker import retry_delay
from app.models import Letter, OutboxMessage, OutboxStatus
from app.worker import run_worker, send_pending
from tests.support import SMTPSink, csrf_token, execute, link_in, path_of, rows, sign, smtp_settings, text_of

pytestmark = pytest.mark.engines

SLUG = "test-letter"


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Deliver to the test SMTP server."""
    return smtp_settings(smtp_sink)


def mail_send(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["mail", "send"])


def make_due(app: Flask) -> None:
    """Bring every retry forward to now (instead of waiting for the backoff)."""
    execute(app, sa.update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_confirmation_arrives_by_smtp_and_its_link_confirms(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG, name="Ada Lovelace", email="ada@example.org")
    assert smtp_sink.received == []  # nothing is sent from the request itself
    result = mail_send(app)
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output

    [message] = smtp_sink.messages_to("ada@example.org")
    assert message["From"] == "Letters <letters@example.org>"
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Confirm your signature: An open letter for testing"
    assert re.fullmatch(r"<[^@\s]+@example\.org>", message["Message-ID"])
    assert abs(parsedate_to_datetime(message["Date"]) - utcnow()) < timedelta(minutes=1)
    assert message.get_body(preferencelist=("html",)) is not None
    assert "Ada Lovelace" in text_of(message)

    link = link_in(message)
    assert link.startswith("http://localhost/confirm/")
    page = client.get(path_of(link))
    assert "Confirm my signature" in page.get_data(as_text=True)
    token = csrf_token(client, path_of(link))
    assert client.post(path_of(link), data={"csrf_token": token}).status_code == 200
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 1
    names = [s["name"] for s in client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]]
    assert names == ["Ada Lovelace"]


def test_the_message_id_is_stored_and_stable(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG)
    [row] = rows(app, OutboxMessage)
    mail_send(app)
    assert smtp_sink.received[0].message["Message-ID"] == row.message_id


def test_a_second_run_sends_nothing_again(app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink) -> None:
    sign(client, SLUG, email="one@example.org")
    sign(client, SLUG, email="two@example.org")
    assert "2 sent" in mail_send(app).output
    assert "0 sent" in mail_send(app).output
    assert len(smtp_sink.received) == 2
    assert {r.status for r in rows(app, OutboxMessage)} == {OutboxStatus.SENT}


def test_mail_waits_while_the_server_is_down_and_goes_out_once_it_is_back(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG)
    smtp_sink.stop()
    result = mail_send(app)
    assert result.exit_code == 1
    assert "1 to retry later" in result.output
    [row] = rows(app, OutboxMessage)
    assert row.status == OutboxStatus.PENDING
    assert row.attempts == 1
    assert row.next_attempt_at > utcnow() + timedelta(seconds=30)
    assert row.last_error and "connect" in row.last_error
    assert "0 sent" in mail_send(app).output  # not due yet: backoff

    smtp_sink.start()
    make_due(app)
    assert mail_send(app).exit_code == 0
    assert len(smtp_sink.received) == 1
    [row] = rows(app, OutboxMessage)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)


def test_a_refused_recipient_fails_for_good_without_blocking_others(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    smtp_sink.refuse.add("gone@example.org")
    sign(client, SLUG, email="gone@example.org")
    sign(client, SLUG, email="here@example.org")
    result = mail_send(app)
    assert "1 sent" in result.output and "1 failed" in result.output
    statuses = {r.recipient: r.status for r in rows(app, OutboxMessage)}
    assert statuses == {"gone@example.org": OutboxStatus.FAILED, "here@example.org": OutboxStatus.SENT}


def test_after_the_last_attempt_a_message_is_marked_failed(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    app.config["MAIL_MAX_ATTEMPTS"] = 2
    sign(client, SLUG)
    smtp_sink.stop()
    mail_send(app)
    make_due(app)
    mail_send(app)
    [row] = rows(app, OutboxMessage)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 2)


def test_backoff_grows_and_is_capped() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[0] == timedelta(minutes=1)
    assert delays[1] == timedelta(minutes=2)
    assert delays == sorted(delays)
    assert delays[-1] == timedelta(hours=6)
    assert retry_delay(10_000) == timedelta(hours=6)


def test_a_lease_left_by_a_dead_worker_is_taken_over(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG)
    execute(app, sa.update(OutboxMessage).values(claimed_by="dead", claimed_until=utcnow() + timedelta(minutes=5)))
    assert "0 sent" in mail_send(app).output  # leased to a live worker: left alone
    execute(app, sa.update(OutboxMessage).values(claimed_until=utcnow() - timedelta(seconds=1)))
    assert "1 sent" in mail_send(app).output
    assert len(smtp_sink.received) == 1


def test_the_worker_loop_sends_until_stopped(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    stop = threading.Event()

    def work() -> None:
        with app.app_context():
            run_worker(stop, poll_interval=0.05)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        sign(client, SLUG, email="loop@example.org")
        deadline = time.monotonic() + 10
        while not smtp_sink.messages_to("loop@example.org") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(smtp_sink.messages_to("loop@example.org")) == 1


def test_a_name_can_never_add_a_header(app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink) -> None:
    response = sign(client, SLUG, name="Eve\r\nBcc: victim@example.org", email="eve@example.org")
    assert response.status_code == 422
    sign(client, SLUG, name="Eve Bcc: victim@example.org", email="eve@example.org")
    with app.app_context():
        send_pending()
    [received] = smtp_sink.received
    assert received.rcpt_tos == ["eve@example.org"]
    assert received.message["Bcc"] is None


def test_without_a_mail_server_mail_is_written_to_files(
    app: Flask, client: FlaskClient, letter: Letter, tmp_path: Any
) -> None:
    app.config["MAIL_SERVER"] = None
    sign(client, SLUG, email="file@example.org")
    assert "1 sent" in mail_send(app).output
    [path] = list((tmp_path / "mail").glob("*.eml"))
    assert b"To: file@example.org" in path.read_bytes()


@pytest.mark.parametrize("recipient", ["sky@example.org", "하늘@example.org"])
def test_a_message_reads_the_same_however_it_is_built(recipient: str) -> None:
    """Plain addresses take the fast compat32 builder, others EmailMessage (SMTPUTF8); readers see one message."""
    row = OutboxMessage(
        recipient=recipient,
        subject="서명을 확인해 주세요: 예술가에게 대가를 — a long subject that must be folded somewhere",
        body_text="김하늘 님, 안녕하세요.\nhttps://example.org/confirm/abc?lang=ko\n",
        body_html='<html lang="ko"><p>김하늘 님</p></html>',
        message_id="<1@example.org>",
        headers='{"List-Unsubscribe": "<https://example.org/u/1>", "X-Note": "é"}',
    )
    built = build_message(row, "Undersigned — 서명 <letters@example.org>")
    parsed = message_from_bytes(built.as_bytes(policy=SMTP), policy=default)
    assert parsed["Subject"] == row.subject
    assert parsed["To"] == recipient
    assert parsed["From"] == "Undersigned — 서명 <letters@example.org>"
    assert parsed["List-Unsubscribe"] == "<https://example.org/u/1>" and parsed["X-Note"] == "é"
    assert parsed["Message-ID"] == "<1@example.org>" and parsed["Auto-Submitted"] == "auto-generated"
    plain = parsed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert plain.replace("\r\n", "\n") == row.body_text  # (sent with CRLF line ends, as SMTP wants)
    assert html.replace("\r\n", "\n").strip() == row.body_html
