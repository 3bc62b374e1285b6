"""Retention: `flask purge` and the worker's daily run delete what is kept no longer than needed."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import jobs
from app.db import utcnow
from app.models import Job, JobStatus, Letter, OutboxMessage, OutboxStatus, Signature, SignatureStatus, Token
from app.worker import run_worker
from tests.support import SMTPSink, age, execute, marked_settings, one, rows, sign, smtp_settings

pytestmark = pytest.mark.engines

SLUG = "test-letter"


@pytest.fixture
def app_config(smtp_sink: SMTPSink, request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**smtp_settings(smtp_sink), **marked_settings(request)}


def purge(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def confirm_directly(app: Flask, email: str) -> None:
    execute(
        app, sa.update(Signature).filter_by(email=email).values(status=SignatureStatus.CONFIRMED, confirmed_at=utcnow())
    )


def test_unconfirmed_and_held_signatures_go_after_14_days_with_their_links_and_mail(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    for email in ("old@example.org", "new@example.org", "kept@example.org", "held@example.org"):
        sign(client, SLUG, email=email)
    confirm_directly(app, "kept@example.org")
    execute(app, sa.update(Signature).filter_by(email="held@example.org").values(status=SignatureStatus.SUSPECT))
    age(app, Signature, 14.1, email="old@example.org")
    age(app, Signature, 14.1, email="held@example.org")
    age(app, Signature, 14.1, email="kept@example.org")
    age(app, Signature, 13.9, email="new@example.org")

    assert "Purged 2 unconfirmed or held signatures" in purge(app)
    assert sorted(s.email for s in rows(app, Signature)) == ["kept@example.org", "new@example.org"]
    # Their tokens and pending mail went with them (the foreign keys cascade).
    assert {m.recipient for m in rows(app, OutboxMessage)} == {"kept@example.org", "new@example.org"}
    remaining = {s.id for s in rows(app, Signature)}
    assert {t.signature_id for t in rows(app, Token)} == remaining


def test_network_hashes_are_cleared_after_30_days(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG, email="old@example.org")
    sign(client, SLUG, email="new@example.org")
    confirm_directly(app, "old@example.org")
    age(app, Signature, 30.5, email="old@example.org")
    assert all(s.network_hash for s in rows(app, Signature))
    assert "cleared 1 network hashes" in purge(app)
    hashes = {s.email: s.network_hash for s in rows(app, Signature)}
    assert hashes["old@example.org"] is None and hashes["new@example.org"]


def test_expired_links_and_old_sent_mail_are_deleted(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG, email="a@example.org")
    sign(client, SLUG, email="b@example.org")
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    first = one(app, Signature.id, email="a@example.org")
    execute(app, sa.update(Token).filter_by(signature_id=first).values(expires_at=utcnow() - timedelta(minutes=1)))
    age(app, OutboxMessage, 7.5, recipient="a@example.org")
    output = purge(app)
    assert "2 expired links" in output and "1 old mail messages" in output
    assert [m.recipient for m in rows(app, OutboxMessage)] == ["b@example.org"]
    assert all(t.signature_id != first for t in rows(app, Token))


def test_pending_mail_is_never_pruned(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG, email="a@example.org")
    age(app, OutboxMessage, 30)
    age(app, Signature, 1)
    purge(app)
    assert [m.status for m in rows(app, OutboxMessage)] == [OutboxStatus.PENDING]


@pytest.mark.settings(UNCONFIRMED_RETENTION_DAYS=2)
def test_retention_periods_are_configurable(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign(client, SLUG, email="a@example.org")
    age(app, Signature, 2.5)
    assert "Purged 1 unconfirmed" in purge(app)


def test_the_mail_worker_purges_when_it_starts_and_then_daily(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    sign(client, SLUG, email="old@example.org")
    age(app, Signature, 15)
    stop = threading.Event()

    def work() -> None:
        with app.app_context():
            run_worker(stop, poll_interval=0.05)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        for _ in range(100):
            if not rows(app, Signature):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert rows(app, Signature) == []


def test_purge_runs_again_only_after_the_interval(app: Flask, client: FlaskClient, letter: Letter) -> None:
    now = utcnow()

    def run(at: timedelta) -> list[tuple[str, JobStatus]]:
        """Queue a purge unless one waits, run the due jobs at ``now + at``; the purge jobs."""
        with app.app_context():
            settings = jobs.Settings.from_config(app.config)
            jobs.schedule_purge(settings, now=now + at)
            jobs.run_due(settings, worker_id="test", now=now + at)
        return rows(app, Job.kind, Job.status)

    assert run(timedelta(0)) == [("purge", JobStatus.DONE), ("purge", JobStatus.PENDING)]
    sign(client, SLUG, email="late@example.org")
    age(app, Signature, 20)
    assert len(run(timedelta(hours=23))) == 2
    assert len(rows(app, Signature)) == 1
    assert run(timedelta(hours=24)) == [("purge", JobStatus.DONE)] * 2 + [("purge", JobStatus.PENDING)]
    assert rows(app, Signature) == []
