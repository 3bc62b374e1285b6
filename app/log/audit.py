"""Checking the stored log (``flask log verify``): recompute it and compare with its heads and the signatures."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.log import merkle
from app.log.events import LIVE_EVENTS, canonical, commitment, public_fields
from app.log.heads import SigningKey, signed_message
from app.log.store import stored_nodes, tree_size
from app.models import Letter, LogEvent, LogHead, LogNode, Signature, SignatureStatus


@dataclass
class Check:
    """The outcome of checking a letter's stored log against its signatures and tree heads."""

    size: int = 0
    heads: int = 0
    live: int = 0
    waiting: int = 0
    problems: list[str] = field(default_factory=list)


def check(session: Session, letter: Letter, key: SigningKey) -> Check:
    """Recompute the letter's log from its entries; compare it with the tree heads and the signatures."""
    result = Check(size=tree_size(session, letter.id))
    problems = result.problems
    hashes: list[bytes] = []
    latest: dict[int, LogEvent] = {}
    for row in _all_entries(session, letter.id):
        if row.leaf_index != len(hashes):
            problems.append(f"entry {len(hashes)} is missing (next stored index: {row.leaf_index})")
            break
        value = merkle.leaf_hash(row.leaf.encode())
        if value.hex() != row.leaf_hash:
            problems.append(f"entry {row.leaf_index}: its leaf does not hash to the stored leaf hash")
        if row.fields is not None:
            leaf = json.loads(row.leaf)
            if row.salt is None or commitment(bytes.fromhex(row.salt), row.fields) != leaf.get("commitment"):
                problems.append(f"entry {row.leaf_index}: the stored fields do not match the leaf's commitment")
        hashes.append(value)
        latest[row.signature_id] = row
    roots = _prefix_roots(hashes)
    heads = list(session.scalars(select(LogHead).where(LogHead.letter_id == letter.id).order_by(LogHead.tree_size)))
    public = key.private.public_key()
    for head in heads:
        result.heads += 1
        if head.tree_size > len(hashes) or roots.get(head.tree_size) != head.root_hash:
            problems.append(f"the tree head of size {head.tree_size} does not match the stored entries")
        if head.key_id == key.key_id:
            try:
                public.verify(
                    base64.b64decode(head.signature),
                    signed_message(letter.slug, head.tree_size, head.root_hash, head.timestamp),
                )
            except (InvalidSignature, ValueError):
                problems.append(f"the tree head of size {head.tree_size} has a bad signature")
    if heads and heads[-1].tree_size != result.size:
        problems.append(f"the latest tree head has {heads[-1].tree_size} entries, the log {result.size}")
    nodes_ok = _check_nodes(session, letter.id, hashes)
    if not nodes_ok:
        problems.append("the stored subtree hashes (used for proofs) do not match the entries")
    # Events written but not sequenced yet come after every entry, in the order they were written
    # (the sequencer's order): with them, the latest event of each signature is exact, so the
    # comparison below excuses nothing. Read in one snapshot (see the CLI), nothing can slip between.
    for row in session.scalars(
        select(LogEvent)
        .where(LogEvent.letter_id == letter.id, LogEvent.leaf_index.is_(None))
        .order_by(LogEvent.id)
        .execution_options(yield_per=5000)
    ):
        result.waiting += 1
        latest[row.signature_id] = row
    _compare_signatures(session, letter, latest, problems)
    result.live = sum(1 for row in latest.values() if row.event in LIVE_EVENTS)
    return result


def _all_entries(session: Session, letter_id: int) -> Iterator[LogEvent]:
    last = -1
    while True:
        batch = list(
            session.scalars(
                select(LogEvent)
                .where(LogEvent.letter_id == letter_id, LogEvent.leaf_index > last)
                .order_by(LogEvent.leaf_index)
                .limit(5000)
            )
        )
        yield from batch
        if len(batch) < 5000:
            return
        last = batch[-1].leaf_index or 0


def _prefix_roots(hashes: list[bytes]) -> dict[int, str]:
    """The root hash of every prefix of the log, in one pass."""
    roots = {0: merkle.EMPTY_ROOT.hex()}
    stack: list[tuple[int, bytes]] = []
    for count, value in enumerate(hashes, start=1):
        size, current = 1, value
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, current = left_size + size, merkle.node_hash(left, current)
        stack.append((size, current))
        root = stack[-1][1]
        for _size, left in reversed(stack[:-1]):
            root = merkle.node_hash(left, root)
        roots[count] = root.hex()
    return roots


def _check_nodes(session: Session, letter_id: int, hashes: list[bytes]) -> bool:
    """Whether the stored subtree hashes of the current tree's frontier are right (proofs rely on them)."""
    nodes: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(hashes), 4096):
        nodes.update(merkle.append(nodes, start, hashes[start : start + 4096]))
    keys = set(merkle.frontier(len(hashes)))
    stored = stored_nodes(session, letter_id, keys)
    count = session.scalar(select(func.count()).select_from(LogNode).where(LogNode.letter_id == letter_id)) or 0
    return all(stored.get(k) == nodes[k] for k in keys) and count == len(nodes)


def _compare_signatures(session: Session, letter: Letter, latest: dict[int, LogEvent], problems: list[str]) -> None:
    """Every listed signature matches its latest event; every live event is a listed or counted signature."""
    confirmed = session.execute(
        select(Signature).where(Signature.letter_id == letter.id, Signature.status == SignatureStatus.CONFIRMED)
    ).scalars()
    seen: set[int] = set()
    for signature in confirmed:
        seen.add(signature.id)
        row = latest.get(signature.id)
        if row is None or row.event not in LIVE_EVENTS:
            problems.append(f"signature {signature.id} is counted but its latest log event does not say so")
            continue
        if row.listed != signature.named:
            problems.append(f"signature {signature.id}: the log says listed={row.listed}, the signature differs")
        elif row.listed and row.fields != canonical(public_fields(signature)):
            problems.append(f"signature {signature.id}: its public fields differ from its log {_place(row)}")
    for signature_id, row in latest.items():
        if row.event in LIVE_EVENTS and signature_id not in seen:
            problems.append(f"signature {signature_id} is live in the log ({_place(row)}) but not counted")


def _place(row: LogEvent) -> str:
    """Where an event is: its entry, or the queue of events waiting to be sequenced."""
    return f"entry {row.leaf_index}" if row.leaf_index is not None else "event waiting to be sequenced"
