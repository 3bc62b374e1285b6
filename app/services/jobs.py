"""The jobs table: background work that is not a message, queued in the caller's transaction.

A service adds a job (a kind and a JSON payload) beside the change that needs it, so the job
exists exactly when the change does; a worker claims due jobs and runs each kind's handler
(``app.jobs``). A job done in steps (a fan-out to a million signers) keeps its place in
``cursor`` and stays due until its last step, so no step is one giant transaction.

Claiming is safe with several workers: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets each take
different rows, and a lease (``claimed_until``) hands the job of a worker that died to another.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from app.db import claim_leased
from app.models import Job, JobStatus

FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
MAX_ATTEMPTS = 10


def add(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    run_after: datetime | None = None,
    status: JobStatus = JobStatus.PENDING,
) -> None:
    """Queue a job of ``kind``: one INSERT, nothing for the ORM to track; due at ``run_after`` (now).

    ``status=DISCARDED`` records a job refused as it was asked for, at the same cost as one taken.
    """
    session.execute(
        _INSERT,
        {
            "kind": kind,
            "payload": dict(payload),
            "cursor": 0,
            "status": status,
            "attempts": 0,
            "run_after": run_after or now,
            "created_at": now,
            "finished_at": None if status == JobStatus.PENDING else now,
        },
    )


# Built once: a statement made per call costs more than the INSERT itself on SQLite.
_INSERT = insert(cast(Table, Job.__table__))


def pending(session: Session, kind: str, *, other_than: int | None = None) -> bool:
    """Whether a job of ``kind`` (other than the job ``other_than``) is waiting to run."""
    query = select(Job.id).where(Job.kind == kind, Job.status == JobStatus.PENDING)
    if other_than is not None:
        query = query.where(Job.id != other_than)
    return session.scalar(query.limit(1)) is not None


def claim_due(session: Session, *, worker_id: str, now: datetime, limit: int, lease: timedelta) -> list[Job]:
    """Lease up to ``limit`` due, unleased jobs to ``worker_id`` for ``lease``, in one statement; oldest first."""
    pending = JobStatus.PENDING
    return claim_leased(
        session, Job, pending=pending, due=Job.run_after, worker_id=worker_id, now=now, limit=limit, lease=lease
    )


def leased(session: Session, job_id: int, worker_id: str) -> Job | None:
    """The job, locked, if it is still pending and leased to ``worker_id`` (else another worker has it)."""
    return session.scalar(
        select(Job)
        .where(Job.id == job_id, Job.claimed_by == worker_id, Job.status == JobStatus.PENDING)
        .with_for_update()
    )


def finish(job: Job, status: JobStatus, *, now: datetime) -> None:
    """Mark ``job`` done (or discarded) and give up its lease."""
    job.status = status
    job.finished_at = now
    job.claimed_until = job.claimed_by = None


def again(job: Job, *, cursor: int, now: datetime) -> None:
    """Keep ``job`` due at once, from ``cursor`` on: the next step runs in its own transaction."""
    job.cursor = cursor
    job.run_after = now
    job.claimed_until = job.claimed_by = None


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 1, 2, 4 ... minutes after each failed attempt, at most 6 hours."""
    delay: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20)
    return min(delay, LONGEST_RETRY)


def record_failure(session: Session, job_id: int, worker_id: str, error: str, *, now: datetime) -> JobStatus:
    """Count a failed attempt: try again after a backoff, or give up after MAX_ATTEMPTS."""
    job = leased(session, job_id, worker_id)
    if job is None:
        return JobStatus.PENDING
    job.attempts += 1
    job.last_error = error
    job.claimed_until = job.claimed_by = None
    if job.attempts >= MAX_ATTEMPTS:
        job.status = JobStatus.FAILED
        job.finished_at = now
    else:
        job.run_after = now + retry_delay(job.attempts)
    return job.status
