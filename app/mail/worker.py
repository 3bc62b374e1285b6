"""Mail delivery: lease due outbox rows, send them over one connection, record each outcome.

The loop that runs it beside the jobs and the public log's sequencer is ``app.worker``.

Delivery is at least once: a worker that dies after sending but before recording leaves
rows whose lease runs out, and another worker sends them again with the same Message-ID.
On PostgreSQL, FOR UPDATE SKIP LOCKED lets any number of workers claim rows side by side.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.mail.backends import PermanentFailure, backend_for, build_message
from app.models import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

# How long a claimed row stays with its worker by default (MAIL_LEASE_SECONDS).
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)


def new_worker_id() -> str:
    """A name for this worker in the rows it leases."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 1, 2, 4 ... minutes after each failed attempt, at most 6 hours."""
    delay: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20)
    return min(delay, LONGEST_RETRY)


def claim_due(
    session: Session, *, worker_id: str, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[OutboxMessage]:
    """Lease up to ``limit`` due, unleased rows to ``worker_id`` for ``lease``, in one statement; oldest first."""
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(claimed_until=now + lease, claimed_by=worker_id)
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed, key=lambda row: row.id)


@dataclass
class BatchResult:
    """What one batch did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _deliver(rows: list[OutboxMessage]) -> dict[int, tuple[OutboxStatus | None, str | None]]:
    """Send ``rows`` over one connection; map each row id to (None: sent | FAILED | PENDING, error)."""
    outcomes: dict[int, tuple[OutboxStatus | None, str | None]] = {}
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    try:
        with backend_for(current_app.config) as backend:
            for row in rows:
                try:
                    backend.send(build_message(row, sender))
                except PermanentFailure as exc:
                    outcomes[row.id] = (OutboxStatus.FAILED, str(exc))
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    # The connection is gone: the rest of the batch waits for the next attempt.
                    outcomes[row.id] = (OutboxStatus.PENDING, f"{type(exc).__name__}: {exc}")
                    break
                except smtplib.SMTPException as exc:
                    outcomes[row.id] = (OutboxStatus.PENDING, f"{type(exc).__name__}: {exc}")
                else:
                    outcomes[row.id] = (None, None)
    except (smtplib.SMTPException, OSError) as exc:
        error = f"could not connect: {type(exc).__name__}: {exc}"
        for row in rows:
            outcomes.setdefault(row.id, (OutboxStatus.PENDING, error))
    for row in rows:
        outcomes.setdefault(row.id, (OutboxStatus.PENDING, "not attempted: the connection failed earlier"))
    return outcomes


def _record(
    session: Session,
    rows: list[OutboxMessage],
    outcomes: dict[int, tuple[OutboxStatus | None, str | None]],
    *,
    worker_id: str,
    now: datetime,
    max_attempts: int,
) -> BatchResult:
    """Store what happened to each row: the sent ones in one UPDATE, the others (rare) one by one.

    Only rows still leased to this worker are changed: a row whose lease ran out belongs to
    whichever worker took it next.
    """
    result = BatchResult(claimed=len(rows))
    sent = [row.id for row in rows if outcomes[row.id][0] is None]
    if sent:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sent), OutboxMessage.claimed_by == worker_id)
            .values(
                status=OutboxStatus.SENT,
                sent_at=now,
                last_error=None,
                attempts=OutboxMessage.attempts + 1,
                claimed_until=None,
                claimed_by=None,
            )
            .execution_options(synchronize_session=False)
        )
        result.sent = len(sent)
    for row in rows:
        outcome, error = outcomes[row.id]
        if outcome is None:
            continue
        attempts = row.attempts + 1
        values: dict[str, object] = {"attempts": attempts, "claimed_until": None, "claimed_by": None}
        if outcome == OutboxStatus.FAILED or attempts >= max_attempts:
            values.update(status=OutboxStatus.FAILED, last_error=error)
            result.failed += 1
        else:
            values.update(next_attempt_at=now + retry_delay(attempts), last_error=error)
            result.retrying += 1
        if error:
            result.errors.append(error)
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == worker_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return result


def send_batch(*, worker_id: str, now: datetime | None = None) -> BatchResult:
    """Claim one batch of due mail, send it, and record what happened (needs an app context)."""
    config = current_app.config
    now = now or utcnow()
    lease = timedelta(seconds=config["MAIL_LEASE_SECONDS"])
    with db.transaction() as session:
        rows = claim_due(session, worker_id=worker_id, now=now, limit=config["MAIL_BATCH_SIZE"], lease=lease)
    if not rows:
        return BatchResult()
    outcomes = _deliver(rows)
    with db.transaction() as session:
        result = _record(
            session, rows, outcomes, worker_id=worker_id, now=utcnow(), max_attempts=config["MAIL_MAX_ATTEMPTS"]
        )
    logger.info(
        "mail batch: %d sent, %d to retry, %d failed%s",
        result.sent,
        result.retrying,
        result.failed,
        f" (last error: {result.errors[-1]})" if result.errors else "",
    )
    return result
