"""The schema comes only from migrations: they go up and down, and match the models."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import log
from app.db import MIGRATIONS, Base, db, utcnow
from app.models import Job, JobStatus, Letter, OutboxMessage, Signature
from app.worker import sequence_logs
from tests.factories import sign_and_confirm
from tests.support import execute, rows

SLUG = "test-letter"

pytestmark = pytest.mark.engines


def table_names(app: Flask) -> set[str]:
    """The tables in the app's database as it is now."""
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_migrations_match_the_models(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    assert "match" in result.output


def test_migrations_downgrade_to_nothing_and_upgrade_again(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert table_names(app) - {"alembic_version"} == set()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert set(Base.metadata.tables) <= table_names(app)


def test_migration_files_sort_in_the_order_they_chain() -> None:
    """`ls migrations/versions` lists each migration after the one it revises (migrations/README.md)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    chain = [Path(script.path).name for script in reversed(list(scripts.walk_revisions()))]
    assert len(scripts.get_heads()) == 1
    assert sorted(path.name for path in (MIGRATIONS / "versions").glob("*.py")) == chain
    assert all(re.fullmatch(r"\d{8}_\d{4}_[0-9a-f]+_\w+\.py", name) for name in chain), chain


# The outbox rows that stood for work before the jobs table, as the web and the services wrote them.
WORK_ROWS = [
    # kind, subject, body_text, status
    ("update_request", "41", "7", "pending"),  # update 7, reached signer 41
    ("material_change_request", "3:2", "12", "pending"),  # letter 3, version 2, reached signer 12
    ("resend_request", "ada@example.org", "3", "pending"),
    ("withdraw_request", "bob@example.org", "3", "pending"),
    ("already_signed_request", "cy@example.org", "3", "pending"),
    ("update_request", "9", "8", "sent"),
]


def test_the_jobs_migration_moves_pending_work_out_of_the_outbox_and_back(app: Flask, runner: FlaskCliRunner) -> None:
    before, jobs_revision = "af189594cb4b", "b7c3e9a1d2f4"
    outbox = sa.table(
        "outbox_messages",
        *(sa.column(name) for name in ("kind", "recipient", "subject", "body_text", "body_html", "message_id")),
        *(sa.column(name) for name in ("status", "attempts", "next_attempt_at", "created_at", "sent_at")),
    )
    now = utcnow().replace(microsecond=0)
    try:
        assert runner.invoke(args=["db", "downgrade", before]).exit_code == 0
        message = {"recipient": "dee@example.org", "subject": "Confirm", "body_text": "Hi", "body_html": "<p>Hi"}
        work = [
            {"kind": kind, "recipient": "", "subject": subject, "body_text": body, "body_html": ""}
            | {"status": status, "sent_at": now if status == "sent" else None}
            for kind, subject, body, status in WORK_ROWS
        ] + [{"kind": "confirm", **message, "status": "pending", "sent_at": None}]
        stored = [
            row | {"message_id": f"<{n}@example.org>", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for n, row in enumerate(work)
        ]
        execute(app, sa.delete(outbox), outbox.insert().values(stored))

        result = runner.invoke(args=["db", "upgrade", jobs_revision])
        assert result.exit_code == 0, result.output
        assert rows(app, Job.kind, Job.payload, Job.cursor, Job.status) == [
            ("update_request", {"update_id": 7}, 41, JobStatus.PENDING),
            ("material_change_request", {"letter_id": 3, "number": 2}, 12, JobStatus.PENDING),
            ("resend_request", {"letter_id": 3, "email_key": "ada@example.org"}, 0, JobStatus.PENDING),
            ("withdraw_request", {"letter_id": 3, "email_key": "bob@example.org"}, 0, JobStatus.PENDING),
            ("already_signed_request", {"letter_id": 3, "email_key": "cy@example.org"}, 0, JobStatus.PENDING),
            ("update_request", {"update_id": 8}, 9, JobStatus.DONE),
        ]
        # Only mail is left.
        assert rows(app, OutboxMessage.kind, OutboxMessage.recipient) == [("confirm", "dee@example.org")]

        result = runner.invoke(args=["db", "downgrade", before])
        assert result.exit_code == 0, result.output
        back = rows(app, sa.select(outbox.c.kind, outbox.c.subject, outbox.c.body_text, outbox.c.status))
        assert sorted(back) == sorted([*WORK_ROWS, ("confirm", "Confirm", "Hi", "pending")])
    finally:
        execute(app, sa.delete(outbox))
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0


def test_the_flagged_migration_takes_waiting_names_off_the_list_and_back_with_the_log_in_step(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    """Upgrading hides a watch-listed name from the list (the log says counted, not named); downgrading lists it."""
    before = "c4d8e2f6a9b1"  # the revision before 18b0d24cc0cb, which takes flagged names off the list
    # Signed while flagged names were listed at once (as before this revision).
    app.config["LIST_FLAGGED"] = True
    sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    elon = sign_and_confirm(app, client, "elon@example.net", name="Elon Musk").id
    with app.app_context():
        sequence_logs()
        opened = log.canonical(log.public_fields(db.session.get(Signature, elon)))
    events = sa.table("log_events", *(sa.column(name) for name in ("id", "signature_id", "event", "listed", "leaf")))
    events_of_elon = sa.select(events.c.event, events.c.listed, events.c.leaf).where(events.c.signature_id == elon)

    def elon_listed() -> bool:
        return client.get(f"/api/v1/letters/{SLUG}/signatures/{elon}").status_code == 200

    try:
        assert elon_listed()
        assert runner.invoke(args=["db", "downgrade", before]).exit_code == 0
        app.config["LIST_FLAGGED"] = False
        # Up to the head: the app that reads the list needs the later columns too (page keys, responses).
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert not elon_listed()
        letter_json = client.get(f"/api/v1/letters/{SLUG}").get_json()
        assert letter_json["signature_count"] == 2 and letter_json["moderation"]["awaiting_review_counted"] == 1
        with app.app_context():
            assert [(e.event, e.listed) for e in db.session.execute(events_of_elon.order_by(events.c.id))] == [
                ("add", True),
                ("update", False),
            ]
            sequence_logs()
        for command in (["log", "verify", SLUG], ["letter", "recount", SLUG]):
            result = runner.invoke(args=command)
            assert result.exit_code == 0, result.output
        assert "Elon Musk" not in client.get(f"/api/v1/letters/{SLUG}/log/entries").get_data(as_text=True)

        # Back to the code that lists flagged names: the log opens the name again, as the API showed it.
        result = runner.invoke(args=["db", "downgrade", before])
        assert result.exit_code == 0, result.output
        with app.app_context():
            fields, salt, leaf = db.session.execute(
                sa.text("SELECT fields, salt, leaf FROM log_events WHERE signature_id = :id ORDER BY id DESC LIMIT 1"),
                {"id": elon},
            ).one()
        assert fields == opened and json.loads(leaf)["listed"] is True
        assert json.loads(leaf)["commitment"] == log.commitment(bytes.fromhex(salt), fields)
    finally:
        app.config["LIST_FLAGGED"] = False
        # Back to the head: on PostgreSQL the next test of this worker gets the same database.
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0


def test_the_page_key_migration_gives_each_live_signature_its_own_key(
    app: Flask, runner: FlaskCliRunner, create_letter: Any
) -> None:
    letter = create_letter()
    before, keys_revision = "18b0d24cc0cb", "d9f3a7c2e5b8"
    columns = ("letter_id", "status", "name", "email", "email_key", "email_domain", "public", "locale", "founding")
    signatures = sa.table("signatures", *(sa.column(name) for name in (*columns, "created_at")))
    statuses = ["unconfirmed", "suspect", "confirmed", "pending", "hidden", "withdrawn", "removed", "confirmed"]
    try:
        assert runner.invoke(args=["db", "downgrade", before]).exit_code == 0
        execute(
            app,
            signatures.insert().values(
                [
                    {"letter_id": letter.id, "status": status, "name": "N", "email": "", "email_key": f"k{n}"}
                    | {"email_domain": "", "public": True, "locale": "en", "founding": False, "created_at": utcnow()}
                    for n, status in enumerate(statuses)
                ]
            ),
        )
        result = runner.invoke(args=["db", "upgrade", keys_revision])
        assert result.exit_code == 0, result.output
        keys = rows(app, sa.select(sa.column("status"), sa.column("page_key")).select_from(sa.table("signatures")))
        live = [key for status, key in keys if status not in ("withdrawn", "removed")]
        assert len(live) == 6 and len(set(live)) == 6 and all(re.fullmatch(r"[0-9a-f]{32}", key) for key in live)
        assert [key for status, key in keys if status in ("withdrawn", "removed")] == [None, None]
        assert runner.invoke(args=["db", "downgrade", before]).exit_code == 0
    finally:
        execute(app, sa.delete(signatures))
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
