"""Sequencing: waiting events get their leaf indices, their subtree hashes and a signed tree head."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.db import upsert
from app.log import merkle
from app.log.heads import SigningKey, sign_head
from app.log.store import stored_nodes
from app.models import Letter, LogEvent, LogNode, LogState


def _lock_state(session: Session, letter_id: int) -> LogState:
    """The letter's log state row, locked until the transaction ends (created if missing)."""
    state = session.scalar(select(LogState).where(LogState.letter_id == letter_id).with_for_update())
    if state is None:
        session.execute(upsert(session, LogState).values(letter_id=letter_id, tree_size=0).on_conflict_do_nothing())
        state = session.scalar(
            select(LogState)
            .where(LogState.letter_id == letter_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    assert state is not None
    return state


def sequence_letter(session: Session, letter: Letter, *, now: datetime, key: SigningKey, limit: int) -> int:
    """Give up to ``limit`` waiting events of ``letter`` their leaf indices and sign the new head.

    Returns how many were sequenced. Runs under the letter's log lock. A draft's events wait:
    a private letter's log starts when it is launched (see app.services.invitations).
    """
    if letter.draft:
        return 0
    state = _lock_state(session, letter.id)
    waiting = session.execute(
        select(LogEvent.id, LogEvent.leaf_hash)
        .where(LogEvent.letter_id == letter.id, LogEvent.leaf_index.is_(None))
        .order_by(LogEvent.id)
        .limit(limit)
    ).all()
    if not waiting:
        return 0
    size = state.tree_size
    stored = stored_nodes(session, letter.id, set(merkle.frontier(size)))
    new = merkle.append(stored, size, [bytes.fromhex(row.leaf_hash) for row in waiting])
    session.execute(
        update(LogEvent),
        [{"id": row.id, "leaf_index": size + offset} for offset, row in enumerate(waiting)],
    )
    session.execute(
        insert(LogNode),
        [
            {"letter_id": letter.id, "level": level, "index": index, "hash": value.hex()}
            for (level, index), value in new.items()
        ],
    )
    new_size = size + len(waiting)
    known = stored | new
    root = merkle.root(lambda level, index: known[(level, index)], new_size)
    session.add(sign_head(letter, new_size, root.hex(), now, key))
    state.tree_size = new_size
    session.flush()
    return len(waiting)


def events_waiting(session: Session, letter_id: int, *, at_most: int = 10_000) -> int:
    """How many of the letter's events wait to be sequenced (counted up to ``at_most``)."""
    queued = (
        select(LogEvent.id).where(LogEvent.letter_id == letter_id, LogEvent.leaf_index.is_(None)).limit(at_most)
    ).subquery()
    return session.scalar(select(func.count()).select_from(queued)) or 0


def letters_waiting(session: Session) -> list[int]:
    """Ids of published letters with events waiting to be sequenced (a draft's wait for its launch)."""
    return list(
        session.scalars(
            select(LogEvent.letter_id)
            .join(Letter, Letter.id == LogEvent.letter_id)
            .where(LogEvent.leaf_index.is_(None), Letter.draft.is_(False))
            .distinct()
        )
    )
