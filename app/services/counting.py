"""The exact signature count: changed in the same transaction as the signature, read in O(1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import Letter, Signature, SignatureStatus


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


def recount(session: Session, letter: Letter, *, now: datetime, fix: bool = False) -> tuple[int, int]:
    """Compare the stored count with a full count; with ``fix``, store the full count."""
    session.refresh(letter, ["signature_count"])
    stored, actual = letter.signature_count, counted_signatures(session, letter.id)
    if fix and stored != actual:
        letter.signature_count = actual
        letter.updated_at = now
        session.flush()
    return stored, actual
