"""What the log stores beside its entries: its size and subtree hashes (shared by sequencing, proofs and audit)."""

from __future__ import annotations

from sqlalchemy import delete, select, union_all
from sqlalchemy.orm import Session

from app.models import LogEvent, LogHead, LogNode, LogSnapshot, LogState


def tree_size(session: Session, letter_id: int) -> int:
    """How many entries the letter's log holds (sequenced)."""
    return session.scalar(select(LogState.tree_size).where(LogState.letter_id == letter_id)) or 0


def stored_nodes(session: Session, letter_id: int, keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored subtree hashes by (level, index), in one query."""
    if not keys:
        return {}
    by_level: dict[int, list[int]] = {}
    for level, index in sorted(keys):
        by_level.setdefault(level, []).append(index)
    # A primary-key lookup per level, in one statement (a row-value IN, or an OR of levels, makes
    # SQLite scan the table).
    parts = [
        select(LogNode.level, LogNode.index, LogNode.hash).where(
            LogNode.letter_id == letter_id, LogNode.level == level, LogNode.index.in_(indices)
        )
        for level, indices in by_level.items()
    ]
    rows = session.execute(union_all(*parts) if len(parts) > 1 else parts[0])
    return {(level, index): bytes.fromhex(value) for level, index, value in rows}


def delete_letter_log(session: Session, letter_id: int) -> None:
    """Remove a letter's whole log (benchmarks and tests only)."""
    for model in (LogNode, LogHead, LogSnapshot, LogState, LogEvent):
        session.execute(delete(model).where(model.letter_id == letter_id))
