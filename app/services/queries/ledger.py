"""The public moderation ledger: how many signatures count, wait for review, or were removed, and why.

Numbers only, never names; read from the tallies kept by app.services.counting, not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Letter, LetterTally
from app.services import counting, versions

# The reasons published, in the order they are shown.
REMOVAL_REASONS = ("fake", "duplicate", "abuse", "withdrawn", "other")


@dataclass(frozen=True)
class Ledger:
    """A letter's public numbers."""

    mode: str
    confirmed: int
    # Every signature a moderator must review before it is listed: those waiting for approval in
    # pre-moderation (not counted yet) and ``awaiting_review_counted``.
    awaiting_review: int
    # Confirmed and counted, kept off the public list until reviewed (a watch-list or
    # disposable-address flag; see app.services.flags.HOLDING).
    awaiting_review_counted: int
    removed: dict[str, int]
    # The confirmed count by the letter version signed under: {1: ..., 2: ...}, every version.
    by_version: dict[int, int]

    @property
    def shows_awaiting_review(self) -> bool:
        """Whether the page mentions review: in pre-moderation, or while any signature waits."""
        return self.mode == "pre" or self.awaiting_review > 0

    @property
    def removed_total(self) -> int:
        """Signatures taken off the count or the list, for every reason."""
        return sum(self.removed.values())


def _ledger(letter: Letter, tallies: Mapping[str, int]) -> Ledger:
    counted = tallies.get(counting.COUNTED_AWAITING_REVIEW_TALLY, 0)
    return Ledger(
        mode=letter.moderation_mode,
        confirmed=letter.signature_count,
        awaiting_review=tallies.get(counting.PENDING_TALLY, 0) + counted,
        awaiting_review_counted=counted,
        removed={reason: tallies.get(f"removed:{reason}", 0) for reason in REMOVAL_REASONS},
        by_version=versions.counts_by_version(letter, tallies),
    )


def ledger(session: Session, letter: Letter) -> Ledger:
    """One letter's ledger (one query)."""
    return _ledger(letter, counting.tallies(session, letter.id))


def ledgers(session: Session, letters: Sequence[Letter]) -> dict[int, Ledger]:
    """The ledgers of several letters by id, in one query."""
    stored: dict[int, dict[str, int]] = {letter.id: {} for letter in letters}
    if stored:
        rows = session.execute(
            select(LetterTally.letter_id, LetterTally.name, LetterTally.value).where(
                LetterTally.letter_id.in_(list(stored))
            )
        )
        for letter_id, name, value in rows:
            stored[letter_id][name] = value
    return {letter.id: _ledger(letter, stored[letter.id]) for letter in letters}
