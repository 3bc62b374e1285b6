"""Open-data snapshots: the list as the log held it on a day, each row with its leaf index and salt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from app import public_signature
from app.log.store import tree_size
from app.models import Letter, LogEvent, LogSnapshot

# The fields of public_fields, in the order a spreadsheet reads them best.
SNAPSHOT_FIELDS = public_signature.COMMITTED


SNAPSHOT_COLUMNS = (*SNAPSHOT_FIELDS, "leaf_index", "salt")


def take_snapshot(session: Session, letter: Letter, *, day: date, now: datetime) -> LogSnapshot | None:
    """Record the day's snapshot of ``letter`` at its current tree size (once a day; None if taken)."""
    existing = session.get(LogSnapshot, (letter.id, day))
    if existing is not None:
        return None
    snapshot = LogSnapshot(letter_id=letter.id, day=day, tree_size=tree_size(session, letter.id), created_at=now)
    session.add(snapshot)
    session.flush()
    return snapshot


def letter_snapshots(session: Session, letter_id: int) -> list[LogSnapshot]:
    """A letter's snapshots, newest first."""
    return list(
        session.scalars(select(LogSnapshot).where(LogSnapshot.letter_id == letter_id).order_by(LogSnapshot.day.desc()))
    )


def snapshot(session: Session, letter_id: int, day: date) -> LogSnapshot | None:
    """The snapshot of ``day``, if one was taken."""
    return session.get(LogSnapshot, (letter_id, day))


def snapshot_rows(session: Session, letter_id: int, size: int, *, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
    """The list as the log of ``size`` entries holds it: each listed signature's latest entry, opened.

    Erased and hidden signatures are left out (their fields are gone, even from snapshots taken
    before). Each row carries its leaf index and salt, so anyone can check it against the log.
    """
    newer = aliased(LogEvent)
    last = -1
    while True:
        stmt = (
            select(LogEvent.leaf_index, LogEvent.fields, LogEvent.salt)
            .where(
                LogEvent.letter_id == letter_id,
                LogEvent.leaf_index > last,
                LogEvent.leaf_index < size,
                LogEvent.listed.is_(True),
                LogEvent.fields.is_not(None),
                ~select(newer.id)
                .where(
                    and_(
                        newer.letter_id == letter_id,
                        newer.signature_id == LogEvent.signature_id,
                        newer.leaf_index > LogEvent.leaf_index,
                        newer.leaf_index < size,
                    )
                )
                .exists(),
            )
            .order_by(LogEvent.leaf_index)
            .limit(batch_size)
        )
        batch = session.execute(stmt).all()
        for leaf_index, fields, salt in batch:
            row = json.loads(fields or "{}")
            row["leaf_index"] = leaf_index
            row["salt"] = salt
            yield row
        if len(batch) < batch_size:
            return
        last = batch[-1].leaf_index
