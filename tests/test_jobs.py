"""Background jobs: a worker's claim is a lease of JOB_LEASE_SECONDS, after which another worker takes the job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from app import jobs as job_handlers
from app.db import db, utcnow
from app.services import jobs

pytestmark = pytest.mark.engines


@pytest.mark.settings(JOB_LEASE_SECONDS=60)
def test_a_claimed_job_goes_to_another_worker_only_after_its_lease(app: Flask) -> None:
    now = utcnow()
    with app.app_context():
        lease = job_handlers.Settings.from_config(app.config).lease
        assert lease == timedelta(seconds=60)
        with db.transaction() as session:
            jobs.add(session, "purge", {}, now=now)

        def claim(worker: str, after: timedelta) -> list[int]:
            with db.transaction() as session:
                return [
                    job.id for job in jobs.claim_due(session, worker_id=worker, now=now + after, limit=5, lease=lease)
                ]

        taken = claim("first", timedelta(0))
        assert len(taken) == 1
        assert claim("second", timedelta(seconds=59)) == []
        assert claim("second", timedelta(seconds=61)) == taken
