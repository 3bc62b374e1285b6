"""The exact signature count: changed in the same transaction as the signature, read in O(shards).

A letter's count is split over a few rows (``letter_counter_shards``, COUNTER_SHARDS of them,
default 8 on PostgreSQL and 1 on SQLite) plus the part folded into the letter row by a recount.
A confirmation adds one to a single shard with one atomic upsert in its own transaction, so
concurrent confirmations on other connections rarely wait for the same row lock; on PostgreSQL
each database connection keeps to its own shard (its backend pid modulo the shard count), so
two connections collide only when their pids do. The letter is read with the sum of its shards
in the same query (``Letter.signature_count``), an index range of at most COUNTER_SHARDS rows:
the count is exact at every commit, and nothing needs to fold the shards back periodically.
``recount`` compares it with the signatures and, with ``fix``, folds everything into the letter row.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from app.models import Letter, LetterCounterShard, LetterTally, RemovalReason, Signature, SignatureStatus

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
    insert = postgresql_dialect.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
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
    caller's transaction.
    """
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
    """Add ``delta`` to the letter's count: one atomic upsert of one of its shards (no read-modify-write).

    The letter row itself is not touched (nor its ``updated_at``, which dates its text and
    settings), so confirmations do not queue behind one row lock.
    """
    shards = int(session.info.get("counter_shards", 1))
    postgresql = session.get_bind().dialect.name == "postgresql"
    insert = postgresql_dialect.insert if postgresql else sqlite.insert
    if shards == 1:
        shard: object = 0
    elif postgresql:
        # The connection's own shard: a connection runs one transaction at a time.
        shard = func.pg_backend_pid() % shards
    else:
        shard = random.randrange(shards)  # noqa: S311 (spreading writes, not a secret)
    # The table, not the entity: a plain INSERT ... ON CONFLICT, nothing for the ORM to read back.
    table = cast(Table, LetterCounterShard.__table__)
    statement = insert(table).values(letter_id=letter_id, shard=shard, value=delta)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.letter_id, table.c.shard],
            set_={"value": table.c.value + delta},
        )
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
        # Fold the whole count into the letter row; the shards start again from nothing.
        session.execute(delete(LetterCounterShard).where(LetterCounterShard.letter_id == letter.id))
        letter.folded_count = result.actual
        letter.updated_at = now
        for name, value in result.actual_tallies.items():
            if result.stored_tallies[name] != value:
                add_to_tally(session, letter.id, name, value - result.stored_tallies[name])
        session.flush()
        session.refresh(letter, ["signature_count"])
    return result
