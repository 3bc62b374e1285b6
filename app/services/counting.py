"""The exact signature count: changed in the same transaction as the signature, read in O(1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Letter, LetterTally, RemovalReason, Signature, SignatureStatus
from app.services import log

PENDING_TALLY = "pending"
REMOVED_STATUSES = (SignatureStatus.HIDDEN, SignatureStatus.REMOVED)
TALLY_NAMES = (PENDING_TALLY, *(f"removed:{reason}" for reason in (*RemovalReason, "withdrawn")))


def tally_name(status: SignatureStatus, reason: RemovalReason | None) -> str | None:
    """The public tally a signature in this state counts towards, if any."""
    if status == SignatureStatus.PENDING:
        return PENDING_TALLY
    if status in REMOVED_STATUSES:
        return f"removed:{reason or RemovalReason.OTHER}"
    if status == SignatureStatus.WITHDRAWN:
        return "removed:withdrawn"
    return None


def add_to_tally(session: Session, letter_id: int, name: str, delta: int) -> None:
    """Add ``delta`` to one of a letter's tallies, creating it if needed (one atomic statement)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(LetterTally).values(letter_id=letter_id, name=name, value=delta)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[LetterTally.letter_id, LetterTally.name],
            set_={"value": LetterTally.value + delta},
        )
    )


def move(
    session: Session,
    signature: Signature,
    status: SignatureStatus,
    *,
    now: datetime,
    reason: RemovalReason | None = None,
) -> None:
    """Put ``signature`` in ``status``, keeping the count and the public tallies exact.

    Every change of state that the count or the tallies depend on goes through here, in the
    caller's transaction; so does the public log's record of it (services.log).
    """
    before = signature.status
    before_count = signature.status == SignatureStatus.CONFIRMED
    before_tally = tally_name(signature.status, signature.removal_reason)
    signature.status = status
    signature.removal_reason = reason if status in REMOVED_STATUSES else None
    after_count = status == SignatureStatus.CONFIRMED
    after_tally = tally_name(status, signature.removal_reason)
    if before_count != after_count:
        add_to_count(session, signature.letter_id, 1 if after_count else -1, now=now)
    if before_tally != after_tally:
        if before_tally:
            add_to_tally(session, signature.letter_id, before_tally, -1)
        if after_tally:
            add_to_tally(session, signature.letter_id, after_tally, +1)
    log.on_move(session, signature, before, status, now=now)


def tallies(session: Session, letter_id: int) -> dict[str, int]:
    """A letter's public tallies (every name present, zero when nothing counted yet)."""
    rows = session.execute(select(LetterTally.name, LetterTally.value).where(LetterTally.letter_id == letter_id))
    stored = {name: value for name, value in rows}
    return {name: stored.get(name, 0) for name in TALLY_NAMES}


def counted_tallies(session: Session, letter_id: int) -> dict[str, int]:
    """The tallies counted from the signatures themselves."""
    rows = session.execute(
        select(Signature.status, Signature.removal_reason, func.count())
        .where(Signature.letter_id == letter_id)
        .group_by(Signature.status, Signature.removal_reason)
    )
    counted = dict.fromkeys(TALLY_NAMES, 0)
    for status, reason, number in rows:
        name = tally_name(status, reason)
        if name:
            counted[name] += number
    return counted


def add_to_count(session: Session, letter_id: int, delta: int, *, now: datetime) -> None:
    """Add ``delta`` to the letter's count with one atomic UPDATE (no read-modify-write)."""
    session.execute(
        update(Letter)
        .where(Letter.id == letter_id)
        .values(signature_count=Letter.signature_count + delta, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def counted_signatures(session: Session, letter_id: int) -> int:
    """Count the signatures that should be counted, from the signatures themselves."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Signature)
            .where(Signature.letter_id == letter_id, Signature.status == SignatureStatus.CONFIRMED)
        )
        or 0
    )


@dataclass(frozen=True)
class Recount:
    """The stored count and tallies next to the ones counted from the signatures."""

    stored: int
    actual: int
    stored_tallies: dict[str, int]
    actual_tallies: dict[str, int]

    @property
    def exact(self) -> bool:
        """Whether everything stored matches the recount."""
        return self.stored == self.actual and self.stored_tallies == self.actual_tallies


def recount(session: Session, letter: Letter, *, now: datetime, fix: bool = False) -> Recount:
    """Compare the stored count and tallies with a full count; with ``fix``, store the full count."""
    session.refresh(letter, ["signature_count"])
    result = Recount(
        letter.signature_count,
        counted_signatures(session, letter.id),
        tallies(session, letter.id),
        counted_tallies(session, letter.id),
    )
    if fix and not result.exact:
        letter.signature_count = result.actual
        letter.updated_at = now
        for name, value in result.actual_tallies.items():
            if result.stored_tallies[name] != value:
                add_to_tally(session, letter.id, name, value - result.stored_tallies[name])
        session.flush()
    return result
