"""Milestones: the round numbers a letter's count reaches, and the job a confirmation queues when it reaches one.

The round numbers are those of the progress bar's next goal (``progress.next_round_number``):
1, 2, 5, 10, 20, 50, 100, ...; from MILESTONE_FLOOR on, reaching one is worth telling the
letter's admins (``app.services.notifications`` writes the mail, once per milestone).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.services import jobs
from app.services.progress import next_round_number

MILESTONE_CHECK = "milestone_check"
# Round numbers below this are not worth a mail.
MILESTONE_FLOOR = 10


def milestone_reached(count: int) -> int | None:
    """The largest round number (1, 2, 5, 10, 20, 50, ...) not above ``count``, if it is MILESTONE_FLOOR or more."""
    reached = 1
    while (following := next_round_number(reached)) <= count:
        reached = following
    return reached if MILESTONE_FLOOR <= reached <= count else None


def is_milestone(count: int) -> bool:
    """Whether ``count`` is itself a milestone (what a confirmation checks before queueing a job)."""
    return milestone_reached(count) == count


def queue_check(session: Session, letter_id: int, count: int, *, now: datetime) -> None:
    """After a confirmation that brought the count to ``count``: queue a check if it is a milestone (one INSERT)."""
    if is_milestone(count):
        jobs.add(session, MILESTONE_CHECK, {"letter_id": letter_id}, now=now)
