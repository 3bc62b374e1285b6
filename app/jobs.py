"""Background jobs that are not mail: a handler per kind, and the step that runs due jobs.

Services queue jobs (``app.services.jobs.add``) in the transaction of the change that needs
them; the worker (``app.worker``, run by ``flask mail worker`` and ``flask mail send``) claims
due jobs and runs each one's handler in a transaction of its own. A handler returns what became
of the job: done, discarded (nothing to do after all), or due again from a new cursor (a
fan-out's next batch). A handler that raises is tried again after a backoff, and given up
after ``jobs.MAX_ATTEMPTS`` tries.

| kind                        | payload                    | cursor               | queued by                   |
|-----------------------------|----------------------------|----------------------|-----------------------------|
| ``update_request``          | update_id                  | last signer mailed   | ``updates.publish``,        |
|                             |                            |                      | ``updates.record_response`` |
| ``material_change_request`` | letter_id, number          | last signer mailed   | ``versions.record_version`` |
| ``resend_request``,         | letter_id, email_key       | (unused)             | the resend and withdraw     |
| ``withdraw_request``,       |                            |                      | forms, ``signing.sign``     |
| ``already_signed_request``  |                            |                      |                             |
| ``purge``                   | (none)                     | (unused)             | the worker, every           |
|                             |                            |                      | PURGE_INTERVAL_HOURS        |
| ``milestone_check``         | letter_id                  | (unused)             | ``signing.confirm``, at a   |
|                             |                            |                      | round number                |
| ``organiser_notifications`` | (none)                     | (unused)             | the worker, every hour      |
|   (also the reminders       |                            |                      |                             |
|   before a letter closes)   |                            |                      |                             |
| ``delivery_pdf``            | letter_id, version, lang,  | listed signers in    | ``delivery.request_pdf``    |
|                             | until, count, total, head, | the parts made       | (the console's delivery     |
|                             | after, pages, parts        |                      | page)                       |
| ``letter_launch``           | letter_id, mail_founders   | (unused)             | ``invitations.schedule``    |
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app import outbound
from app.db import db, utcnow
from app.letters import delivery as delivery_document
from app.models import Job, JobStatus, Letter, TokenLifetimes
from app.ratelimit import over_soft_limit, private_key
from app.services import (
    delivery,
    invitations,
    jobs,
    link_requests,
    milestones,
    notifications,
    reminders,
    retention,
    updates,
    versions,
)

logger = logging.getLogger(__name__)

PURGE = "purge"
# Jobs claimed at a time; each runs in its own transaction.
BATCH = 20


@dataclass(frozen=True)
class Settings:
    """What the handlers need from the app's configuration."""

    update_batch_size: int
    mail_batch_size: int
    secret_key: str
    ttl: TokenLifetimes
    purge_every: timedelta
    retention: retention.RetentionPolicy
    # How long a worker holds the jobs it claimed; after a crash another worker runs them after this.
    lease: timedelta
    # UNCONFIRMED_RETENTION_DAYS: how far back the daily summary's confirmation rate can look.
    unconfirmed_days: int = 14
    # REMINDER_DAYS_BEFORE_CLOSE: how long before closing the reminders go out.
    reminder_days: int = 3

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings from the app's configuration."""
        return cls(
            update_batch_size=config["MAIL_UPDATE_BATCH_SIZE"],
            mail_batch_size=config["MAIL_BATCH_SIZE"],
            secret_key=config["SECRET_KEY"],
            ttl=TokenLifetimes.from_config(config),
            purge_every=timedelta(hours=config["PURGE_INTERVAL_HOURS"]),
            retention=retention.policy_from_config(dict(config)),
            lease=timedelta(seconds=config["JOB_LEASE_SECONDS"]),
            unconfirmed_days=config["UNCONFIRMED_RETENTION_DAYS"],
            reminder_days=config["REMINDER_DAYS_BEFORE_CLOSE"],
        )


@dataclass(frozen=True)
class Step:
    """What became of a job: DONE, DISCARDED, or PENDING (due again at once, from ``cursor``)."""

    status: JobStatus
    cursor: int = 0


Handler = Callable[[Session, Job, Settings, datetime], Step]
HANDLERS: dict[str, Handler] = {}


def handles(*kinds: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``kinds``."""

    def register(handler: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = handler
        return handler

    return register


def _fan_out_step(job: Job, reached: int | None) -> Step:
    if reached is None:
        return Step(JobStatus.DISCARDED)
    return Step(JobStatus.DONE) if reached == job.cursor else Step(JobStatus.PENDING, reached)


@handles(updates.UPDATE_REQUEST)
def mail_update(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Write the update's mail to the next batch of opted-in signers."""
    reached = updates.mail_batch(
        session,
        int(job.payload["update_id"]),
        after=job.cursor,
        batch_size=settings.update_batch_size,
        secret=settings.secret_key,
        now=now,
    )
    return _fan_out_step(job, reached)


@handles(versions.MATERIAL_CHANGE_REQUEST)
def mail_material_change(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Write the mail about a material change to the next batch of signers to notify."""
    reached = versions.mail_batch(
        session,
        int(job.payload["letter_id"]),
        int(job.payload["number"]),
        after=job.cursor,
        limit=settings.mail_batch_size,
        withdraw_ttl=settings.ttl.withdraw,
        secret=settings.secret_key,
        now=now,
    )
    return _fan_out_step(job, reached)


@handles(*link_requests.KINDS)
def answer_link_request(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Write the mail a link request asks for, or discard it (and the address it names)."""
    answered = link_requests.answer(session, job.kind, job.payload, now=now, ttl=settings.ttl)
    if answered:
        return Step(JobStatus.DONE)
    job.payload = {}
    return Step(JobStatus.DISCARDED)


@handles(PURGE)
def purge(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Apply the retention rules, and queue the next purge PURGE_INTERVAL_HOURS later."""
    result = retention.purge(session, settings.retention, now=now)
    logger.info(
        "purge: %d signatures, %d links, %d messages, %d jobs removed; %d network hashes cleared",
        result.signatures,
        result.tokens,
        result.messages,
        result.jobs,
        result.networks,
    )
    if settings.purge_every > timedelta(0) and not jobs.pending(session, PURGE, other_than=job.id):
        jobs.add(session, PURGE, {}, now=now, run_after=now + settings.purge_every)
    return Step(JobStatus.DONE)


@handles(delivery.DELIVERY_PDF)
def make_delivery_pdf(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Lay out the next part of a delivery PDF (the letter, a chunk of the list, the end), or join the parts."""
    made = delivery_document.pdf_step(session, job, now=now)
    if made is None:
        return Step(JobStatus.DISCARDED)
    finished, cursor = made
    return Step(JobStatus.DONE) if finished else Step(JobStatus.PENDING, cursor)


@handles(milestones.MILESTONE_CHECK)
def check_milestone(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Mail the admins who asked if the letter's count reached a milestone not mailed yet."""
    letter = session.get(Letter, int(job.payload["letter_id"]))
    if letter is None:
        return Step(JobStatus.DISCARDED)
    reached = notifications.check_milestone(session, letter, now=now, secret=settings.secret_key)
    return Step(JobStatus.DONE if reached else JobStatus.DISCARDED)


@handles(notifications.ORGANISER_NOTIFICATIONS)
def organiser_notifications(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Every letter's milestone and the daily summaries due; and queue the next look an hour later."""
    notifications.run_checks(session, now=now, secret=settings.secret_key, retention_days=settings.unconfirmed_days)
    reminders.send_reminders(
        session,
        now=now,
        days=settings.reminder_days,
        secret=settings.secret_key,
        ttl=settings.ttl,
        may_mail=_may_mail,
    )
    if not jobs.pending(session, notifications.ORGANISER_NOTIFICATIONS, other_than=job.id):
        jobs.add(session, notifications.ORGANISER_NOTIFICATIONS, {}, now=now, run_after=now + notifications.CHECK_EVERY)
    return Step(JobStatus.DONE)


def _may_mail(email_key: str) -> bool:
    """Whether this address may get another mail now (RATELIMIT_MAIL_PER_ADDRESS, shared with the forms)."""
    return not over_soft_limit("RATELIMIT_MAIL_PER_ADDRESS", private_key(email_key))


def schedule_notifications(*, now: datetime) -> None:
    """Queue the hourly look for milestones and daily summaries unless one is waiting (the worker, at each look)."""
    with db.transaction() as session:
        if not jobs.pending(session, notifications.ORGANISER_NOTIFICATIONS):
            jobs.add(session, notifications.ORGANISER_NOTIFICATIONS, {}, now=now)


@handles(invitations.LAUNCH_JOB)
def launch_private_letter(session: Session, job: Job, settings: Settings, now: datetime) -> Step:
    """Launch a private letter at its opening time (nothing to do if it was launched or moved meanwhile)."""
    launched = invitations.launch_if_due(
        session, int(job.payload["letter_id"]), now=now, mail_founders=bool(job.payload.get("mail_founders"))
    )
    return Step(JobStatus.DONE if launched else JobStatus.DISCARDED)


def schedule_purge(settings: Settings, *, now: datetime) -> None:
    """Queue a purge due now unless one is waiting (or purging is off): a worker purges as it starts."""
    if settings.purge_every <= timedelta(0):
        return
    with db.transaction() as session:
        if not jobs.pending(session, PURGE):
            jobs.add(session, PURGE, {}, now=now)


def run_due(settings: Settings, *, worker_id: str, now: datetime | None = None, limit: int = BATCH) -> int:
    """Claim up to ``limit`` due jobs and run each in its own transaction; how many were claimed."""
    claimed_at = now or utcnow()
    with db.transaction() as session:
        due = jobs.claim_due(session, worker_id=worker_id, now=claimed_at, limit=limit, lease=settings.lease)
        claimed = [job.id for job in due]
    for job_id in claimed:
        started = now or utcnow()
        try:
            with db.transaction() as session:
                job = jobs.leased(session, job_id, worker_id)
                if job is None:  # the lease ran out and another worker took it
                    continue
                # The one place the site may fetch from other sites (app.outbound), never a web request.
                with outbound.worker_fetches():
                    step = HANDLERS[job.kind](session, job, settings, started)
                if step.status == JobStatus.PENDING:
                    jobs.again(job, cursor=step.cursor, now=started)
                else:
                    jobs.finish(job, step.status, now=started)
        except Exception as exc:
            logger.exception("job %d failed; it is tried again later", job_id)
            with db.transaction() as session:
                jobs.record_failure(session, job_id, worker_id, f"{type(exc).__name__}: {exc}", now=started)
    return len(claimed)
