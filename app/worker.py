"""The worker: runs due jobs, sends due mail, and sequences the public log, until stopped.

``flask mail worker`` runs this loop (any number of them, on any machines); ``flask mail send``
runs the jobs and the mail that are due now, once. Jobs (``app.jobs``) write mail to the
outbox; the mail is sent by ``app.mail.worker``.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import current_app
from sqlalchemy import select

from app import jobs, log
from app.db import database_unavailable, db, utcnow
from app.mail.worker import BatchResult, new_worker_id, send_batch
from app.models import Letter
from app.services import after_close

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run of the worker did: jobs run, and what became of the mail."""

    jobs: int = 0
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, ran: int, batch: BatchResult) -> None:
        """Count one round: ``ran`` jobs and one mail batch."""
        self.jobs += ran
        self.claimed += batch.claimed
        self.sent += batch.sent
        self.retrying += batch.retrying
        self.failed += batch.failed
        self.errors += batch.errors


def _idle(ran: int, batch: BatchResult) -> bool:
    """Nothing more to do now: no job ran, and no mail was due or none could be sent (the server is down).

    A job that ran may have written mail, or have its next batch due at once.
    """
    return ran == 0 and (batch.claimed == 0 or batch.sent == 0)


def send_pending(*, worker_id: str | None = None) -> RunResult:
    """Run the due jobs and send the due mail, round after round, until nothing is due; the totals."""
    worker_id = worker_id or new_worker_id()
    settings = jobs.Settings.from_config(current_app.config)
    total = RunResult()
    while True:
        ran = jobs.run_due(settings, worker_id=worker_id)
        batch = send_batch(worker_id=worker_id)
        total.add(ran, batch)
        if _idle(ran, batch):
            return total


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


def hide_closed_names(*, now: datetime | None = None) -> list[str]:
    """Hide the names of letters that closed by their date with "hide names after close" set; their slugs."""
    with db.transaction() as session:
        return after_close.sync_due(session, now=now or utcnow())


def snapshot_logs(*, now: datetime | None = None) -> int:
    """Take today's open-data snapshot of every letter that has none yet (after sequencing); how many."""
    if not current_app.config["LOG_ENABLED"]:
        return 0
    now = now or utcnow()
    sequence_logs(now=now)
    taken = 0
    with db.transaction() as session:
        # A draft has no public list to snapshot: a private letter's first snapshot follows its launch.
        for letter in session.scalars(select(Letter).where(Letter.draft.is_(False)).order_by(Letter.id)):
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
    """Run jobs and send mail until ``stop`` is set; survive a database or mail server that is down for a while.

    It queues a purge as it starts (unless one is waiting), and each purge queues the next
    PURGE_INTERVAL_HOURS later. Each step that raises (the database restarting, say) is logged
    and tried again at the next look, so the worker resumes by itself once the database is back.
    """
    worker_id = new_worker_id()
    interval = poll_interval if poll_interval is not None else current_app.config["MAIL_POLL_INTERVAL"]
    settings = jobs.Settings.from_config(current_app.config)
    logger.info("mail worker %s started", worker_id)
    last_snapshot: date | None = None
    while not stop.is_set():
        try:
            # At every look, not only at the start: a purge that failed for good is queued again.
            jobs.schedule_purge(settings, now=utcnow())
        except Exception:
            _failed("queueing the purge")
        try:
            jobs.schedule_notifications(now=utcnow())
        except Exception:
            _failed("queueing the organiser notifications")
        try:
            hidden = hide_closed_names()
            if hidden:
                logger.info("names hidden after closing: %s", ", ".join(hidden))
        except Exception:
            _failed("hiding the names of closed letters")
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
            ran = jobs.run_due(settings, worker_id=worker_id)
        except Exception:
            _failed("the jobs")
            ran = 0
        try:
            batch = send_batch(worker_id=worker_id)
        except Exception:
            _failed("a batch")
            batch = BatchResult()
        if _idle(ran, batch):
            stop.wait(interval)
    logger.info("mail worker %s stopped", worker_id)
