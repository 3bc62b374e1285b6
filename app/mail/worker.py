"""The mail worker: lease due outbox rows, send them over one connection, record each outcome.

Delivery is at least once: a worker that dies after sending but before recording leaves
rows whose lease runs out, and another worker sends them again with the same Message-ID.
On PostgreSQL, FOR UPDATE SKIP LOCKED lets any number of workers claim rows side by side.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app import log
from app.db import database_unavailable, db, utcnow
from app.mail.backends import PermanentFailure, backend_for, build_message
from app.mail.requests import REQUEST_KINDS, expand_material_change, expand_request, expand_update
from app.models import Letter, OutboxMessage, OutboxStatus
from app.services import retention
from app.services.updates import UPDATE_REQUEST
from app.services.versions import MATERIAL_CHANGE_REQUEST

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
    # Messages queued by expanding an update to its recipients (sent in the batches that follow).
    expanded: int = 0
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
    expanded = 0
    lease = timedelta(seconds=config["MAIL_LEASE_SECONDS"])
    with db.transaction() as session:
        rows = claim_due(session, worker_id=worker_id, now=now, limit=config["MAIL_BATCH_SIZE"], lease=lease)
        # An update becomes per-signer messages, a batch at a time; they go in the next batches.
        for row in rows:
            if row.kind == UPDATE_REQUEST:
                expanded += expand_update(session, row, now=now, batch_size=config["MAIL_UPDATE_BATCH_SIZE"])
        rows = [row for row in rows if row.kind != UPDATE_REQUEST]
        # Requests for a new link become their mail now, or are discarded (see app.mail.requests).
        rows = [row for row in rows if row.kind not in REQUEST_KINDS or expand_request(session, row, now=now)]
        # A material change of a letter becomes the mail to the next batch of its opted-in
        # signers, sent with this batch; the request stays due until every signer has theirs.
        changes = [row for row in rows if row.kind == MATERIAL_CHANGE_REQUEST]
        rows = [row for row in rows if row.kind != MATERIAL_CHANGE_REQUEST]
        for change in changes:
            rows += expand_material_change(
                session,
                change,
                now=now,
                limit=config["MAIL_BATCH_SIZE"],
                worker_id=worker_id,
                lease_until=now + lease,
            )
    if not rows:
        return BatchResult(expanded=expanded)
    outcomes = _deliver(rows)
    with db.transaction() as session:
        result = _record(
            session, rows, outcomes, worker_id=worker_id, now=utcnow(), max_attempts=config["MAIL_MAX_ATTEMPTS"]
        )
    result.expanded = expanded
    logger.info(
        "mail batch: %d sent, %d to retry, %d failed%s",
        result.sent,
        result.retrying,
        result.failed,
        f" (last error: {result.errors[-1]})" if result.errors else "",
    )
    return result


def send_pending(*, worker_id: str | None = None) -> BatchResult:
    """Send everything that is due now, batch after batch, then return the totals."""
    worker_id = worker_id or new_worker_id()
    total = BatchResult()
    while True:
        result = send_batch(worker_id=worker_id)
        total.claimed += result.claimed
        total.sent += result.sent
        total.retrying += result.retrying
        total.failed += result.failed
        total.expanded += result.expanded
        total.errors += result.errors
        # Stop when nothing was due, or when nothing could be sent (the server is down); an
        # update that was just expanded has messages due now.
        if result.expanded == 0 and (result.claimed == 0 or result.sent == 0):
            return total


def purge_if_due(last_purge: datetime | None, *, now: datetime) -> datetime | None:
    """Run the retention purge when PURGE_INTERVAL_HOURS have passed; return when it last ran."""
    every = timedelta(hours=current_app.config["PURGE_INTERVAL_HOURS"])
    if every <= timedelta(0) or (last_purge is not None and now - last_purge < every):
        return last_purge
    with db.transaction() as session:
        result = retention.purge(session, retention.policy_from_config(current_app.config), now=now)
    logger.info(
        "purge: %d signatures, %d links, %d messages removed; %d network hashes cleared",
        result.signatures,
        result.tokens,
        result.messages,
        result.networks,
    )
    return now


def log_key() -> log.SigningKey:
    """The site's log signing key (LOG_SIGNING_KEY)."""
    return log.SigningKey.from_text(current_app.config["LOG_SIGNING_KEY"])


def sequence_logs(*, now: datetime | None = None) -> int:
    """Sequence every letter's waiting log events, a signed tree head per batch; how many were sequenced."""
    if not current_app.config["LOG_ENABLED"]:
        return 0
    key = log_key()
    limit = current_app.config["LOG_BATCH_SIZE"]
    with db.new_session() as session:
        waiting = log.letters_waiting(session)
    total = 0
    for letter_id in waiting:
        while True:
            with db.transaction() as session:
                letter = session.get(Letter, letter_id)
                if letter is None:
                    break
                done = log.sequence_letter(session, letter, now=now or utcnow(), key=key, limit=limit)
            total += done
            if done < limit:
                break
    return total


def snapshot_logs(*, now: datetime | None = None) -> int:
    """Take today's open-data snapshot of every letter that has none yet (after sequencing); how many."""
    if not current_app.config["LOG_ENABLED"]:
        return 0
    now = now or utcnow()
    sequence_logs(now=now)
    taken = 0
    with db.transaction() as session:
        for letter in session.scalars(select(Letter).order_by(Letter.id)):
            taken += log.take_snapshot(session, letter, day=now.date(), now=now) is not None
    return taken


def _failed(what: str) -> None:
    """Log a step of the loop that raised: one line when the database is away, else the traceback."""
    error = sys.exc_info()[1]
    if error is not None and database_unavailable(error):
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[:1]
        logger.warning(
            "mail worker: %s: the database is unavailable (%s: %s); trying again shortly",
            what,
            type(error).__name__,
            first_line[0] if first_line else "",
        )
    else:
        logger.exception("mail worker: %s failed; trying again at the next look", what)


def run_worker(stop: threading.Event, *, poll_interval: float | None = None) -> None:
    """Send mail until ``stop`` is set; survive a database or mail server that is down for a while.

    Every PURGE_INTERVAL_HOURS (first at start) it also applies the retention rules. Each step
    that raises (the database restarting, say) is logged and tried again at the next look, so
    the worker resumes by itself once the database is back.
    """
    worker_id = new_worker_id()
    interval = poll_interval if poll_interval is not None else current_app.config["MAIL_POLL_INTERVAL"]
    logger.info("mail worker %s started", worker_id)
    last_purge: datetime | None = None
    last_snapshot: date | None = None
    while not stop.is_set():
        try:
            last_purge = purge_if_due(last_purge, now=utcnow())
        except Exception:
            _failed("the purge")
        try:
            sequenced = sequence_logs()
            if sequenced:
                logger.info("public log: %d events sequenced", sequenced)
            if last_snapshot != utcnow().date():
                taken = snapshot_logs()
                last_snapshot = utcnow().date()
                logger.info("public log: %d daily snapshots taken", taken)
        except Exception:
            _failed("the public log's sequencer")
        try:
            result = send_batch(worker_id=worker_id)
        except Exception:
            _failed("a batch")
            result = BatchResult()
        if result.expanded == 0 and (result.claimed == 0 or result.sent == 0):
            stop.wait(interval)
    logger.info("mail worker %s stopped", worker_id)
