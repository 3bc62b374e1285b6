"""Reading the log: entries and O(log n) proofs, as the API serves them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.log import merkle
from app.log.store import stored_nodes, tree_size
from app.models import LogEvent

MAX_ENTRIES = 1000


# The largest tree size or leaf index the log takes (its columns are 32-bit integers).
MAX_POSITION = 2**31 - 1


class NotInLog(DomainError):
    """A request for a part of the log it does not have (an index, a tree size, a signature)."""

    status_code = 404
    code = "not_in_log"


def _getter(nodes: dict[tuple[int, int], bytes]) -> merkle.NodeGetter:
    def get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise LookupError(f"log node ({level}, {index}) is missing") from None

    return get


def inclusion_proof(session: Session, letter_id: int, index: int, size: int) -> list[str]:
    """The audit path of entry ``index`` in the tree of ``size`` entries, as hex."""
    current = tree_size(session, letter_id)
    if not 0 < size <= current:
        raise NotInLog(f"The log has no tree of {size} entries: tree_size must be from 1 to {current}.")
    if not 0 <= index < size:
        raise NotInLog(f"The tree of {size} entries has no entry {index}: leaf_index must be below {size}.")

    def proof(get: merkle.NodeGetter) -> list[bytes]:
        return merkle.inclusion_path(get, index, size)

    nodes = stored_nodes(session, letter_id, merkle.needed_nodes(proof))
    return [value.hex() for value in proof(_getter(nodes))]


def consistency_proof(session: Session, letter_id: int, first: int, second: int) -> list[str]:
    """The consistency proof from ``first`` to ``second`` entries, as hex."""
    current = tree_size(session, letter_id)
    if not 0 < second <= current:
        raise NotInLog(f"The log has no tree of {second} entries: second must be from 1 to {current}.")
    if not 0 < first <= second:
        raise NotInLog(f"No consistency proof from {first} to {second} entries: first must be from 1 to {second}.")

    def proof(get: merkle.NodeGetter) -> list[bytes]:
        return merkle.consistency_path(get, first, second)

    nodes = stored_nodes(session, letter_id, merkle.needed_nodes(proof))
    return [value.hex() for value in proof(_getter(nodes))]


def entry_at(session: Session, letter_id: int, index: int) -> LogEvent | None:
    """The entry with leaf index ``index``."""
    return session.scalar(select(LogEvent).where(LogEvent.letter_id == letter_id, LogEvent.leaf_index == index))


def latest_entry(session: Session, letter_id: int, signature_id: int, size: int) -> LogEvent | None:
    """A signature's latest entry in the tree of ``size`` entries."""
    return session.scalar(
        select(LogEvent)
        .where(
            LogEvent.letter_id == letter_id,
            LogEvent.signature_id == signature_id,
            LogEvent.leaf_index.is_not(None),
            LogEvent.leaf_index < size,
        )
        .order_by(LogEvent.leaf_index.desc())
        .limit(1)
    )


def entries(session: Session, letter_id: int, start: int, end: int) -> list[dict[str, Any]]:
    """Entries ``start`` to ``end - 1`` as the API serves them.

    The fields and salt are served for the latest entry of a signature while it is on the list
    (earlier entries, and signatures taken off the list, show only their commitment).
    """
    rows = list(
        session.scalars(
            select(LogEvent)
            .where(LogEvent.letter_id == letter_id, LogEvent.leaf_index >= start, LogEvent.leaf_index < end)
            .order_by(LogEvent.leaf_index)
        )
    )
    opened = {row.signature_id for row in rows if row.fields is not None}
    latest: dict[int, int] = {}
    if opened:
        latest = dict(
            session.execute(  # type: ignore[arg-type]
                select(LogEvent.signature_id, func.max(LogEvent.leaf_index))
                .where(LogEvent.letter_id == letter_id, LogEvent.signature_id.in_(opened))
                .group_by(LogEvent.signature_id)
            ).all()
        )
    result = []
    for row in rows:
        show = row.fields is not None and latest.get(row.signature_id) == row.leaf_index
        result.append(
            {
                "index": row.leaf_index,
                "leaf": row.leaf,
                "fields": row.fields if show else None,
                "salt": row.salt if show else None,
            }
        )
    return result
