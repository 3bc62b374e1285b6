"""Jobs apart from mail: a jobs table, and the work that was packed into outbox rows moved into it.

The outbox held five kinds of work beside its messages, with their data in ``subject`` and
``body_text``: ``update_request`` (update id in body_text, the last signer mailed in subject),
``material_change_request`` ("letter:number" in subject, the last signer in body_text), and the
link requests ``resend_request``, ``withdraw_request``, ``already_signed_request`` (the letter
id in body_text, the address's key in subject). Each becomes a job with a JSON payload and a
cursor, whatever its state; the outbox then holds only messages. The downgrade packs pending,
done and discarded jobs of those kinds back as they were (purge jobs have no outbox form: the
older worker purges on its own clock).

Revision ID: b7c3e9a1d2f4
Revises: af189594cb4b
Create Date: 2026-12-03 13:30:00
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "b7c3e9a1d2f4"
down_revision: str | None = "af189594cb4b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPDATE = "update_request"
MATERIAL_CHANGE = "material_change_request"
LINK_REQUESTS = ("resend_request", "withdraw_request", "already_signed_request")
KINDS = (UPDATE, MATERIAL_CHANGE, *LINK_REQUESTS)
# Outbox status -> job status, and back.
TO_JOB = {"pending": "pending", "sent": "done", "failed": "failed", "discarded": "discarded"}
TO_OUTBOX = {job: outbox for outbox, job in TO_JOB.items()}

# The tables as this revision sees them (not the models, which move on).
metadata = sa.MetaData()
outbox = sa.Table(
    "outbox_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(40)),
    sa.Column("recipient", sa.String(320)),
    sa.Column("subject", sa.String(300)),
    sa.Column("body_text", sa.Text),
    sa.Column("body_html", sa.Text),
    sa.Column("message_id", sa.String(250)),
    sa.Column("status", sa.String(20)),
    sa.Column("attempts", sa.Integer),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("claimed_until", sa.DateTime(timezone=True)),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _job(row: Any) -> dict[str, Any]:
    """The job an outbox row of work stands for."""
    payload: dict[str, Any]
    cursor = 0
    if row.kind == UPDATE:
        payload, cursor = {"update_id": _int(row.body_text)}, _int(row.subject)
    elif row.kind == MATERIAL_CHANGE:
        letter_id, _, number = (row.subject or "").partition(":")
        payload, cursor = {"letter_id": _int(letter_id), "number": _int(number)}, _int(row.body_text)
    elif row.status == "pending":
        payload = {"letter_id": _int(row.body_text), "email_key": row.subject}
    else:  # answered or discarded: the row's address is of no more use
        payload = {}
    status = TO_JOB.get(row.status, "failed")
    return {
        "kind": row.kind,
        "payload": payload,
        "cursor": cursor,
        "status": status,
        "attempts": row.attempts,
        "run_after": row.next_attempt_at,
        "claimed_until": row.claimed_until,
        "claimed_by": row.claimed_by,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "finished_at": None if status == "pending" else (row.sent_at or row.next_attempt_at),
    }


def upgrade() -> None:
    jobs = op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "done", "failed", "discarded", name="jobstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_due", "jobs", ["status", "run_after"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.select(outbox).where(outbox.c.kind.in_(KINDS)).order_by(outbox.c.id)).all()
    if rows:
        bind.execute(jobs.insert(), [_job(row) for row in rows])
        bind.execute(outbox.delete().where(outbox.c.kind.in_(KINDS)))


def _message_id_domain(bind: sa.Connection) -> str:
    """The domain of the newest message's Message-ID (the site's sender), for the rows put back."""
    newest = bind.scalar(sa.select(outbox.c.message_id).order_by(outbox.c.id.desc()).limit(1))
    domain = (newest or "").rstrip(">").rpartition("@")[2]
    return domain or "localhost"


def _row(job: Any, domain: str) -> dict[str, Any]:
    """The outbox row a job of work was before this revision."""
    payload = job.payload or {}
    if job.kind == UPDATE:
        subject, body = str(job.cursor), str(payload.get("update_id", 0))
    elif job.kind == MATERIAL_CHANGE:
        subject, body = f"{payload.get('letter_id', 0)}:{payload.get('number', 0)}", str(job.cursor)
    else:
        subject, body = str(payload.get("email_key", "")), str(payload.get("letter_id", ""))
    status = TO_OUTBOX[job.status]
    return {
        "kind": job.kind,
        "recipient": "",
        "subject": subject,
        "body_text": body,
        "body_html": "",
        "message_id": f"<{uuid.uuid4().hex}@{domain}>",
        "status": status,
        "attempts": job.attempts,
        "next_attempt_at": job.run_after,
        "claimed_until": job.claimed_until,
        "claimed_by": job.claimed_by,
        "last_error": job.last_error,
        "created_at": job.created_at,
        "sent_at": job.finished_at if status == "sent" else None,
    }


def downgrade() -> None:
    bind = op.get_bind()
    jobs = sa.Table("jobs", sa.MetaData(), autoload_with=bind)
    # The JSON column as this revision wrote it, whatever the reflection makes of it on SQLite.
    jobs.c.payload.type = sa.JSON()
    rows = bind.execute(sa.select(jobs).where(jobs.c.kind.in_(KINDS)).order_by(jobs.c.id)).all()
    if rows:
        domain = _message_id_domain(bind)
        bind.execute(outbox.insert(), [_row(job, domain) for job in rows])
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.drop_table("jobs")
