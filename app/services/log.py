"""The tamper-evident public log: every change to a letter's public list, in a signed Merkle tree.

How it works, in the manner of Certificate Transparency (RFC 6962 / 9162):

* **Events.** The transaction that changes a signature's place on the list appends an
  unsequenced ``LogEvent`` (``record``): ``add`` (it appears), ``hide`` (a moderator hid it),
  ``restore``, ``update`` (a public field changed: the verified mark) and ``erase`` (withdrawn by
  the signer or removed for good by a moderator, with ``reason``). ``counting.move`` and
  ``signing.confirm`` call ``on_move``, so nothing changes the list without an event. Inserting
  a row takes no lock that other signings wait for.
* **Leaves.** Each event's leaf is canonical JSON (keys sorted, no spaces, UTF-8, times as in
  the API): ``{"at", "commitment", "event", "listed", "signature", "v": 1}`` and ``"reason"`` for
  an erasure. ``commitment`` is SHA-256(salt || fields), hex, where ``salt`` is 32 random bytes
  and ``fields`` the canonical JSON of the signature's public fields exactly as the API lists
  them (``public_fields``). A signature counted but not named (``public`` unticked) gets
  ``"listed": false`` and no commitment: the log counts it without naming it. Hide and erase
  entries commit to nothing.
* **Openings.** The entries API serves ``fields`` and ``salt`` for the latest entry of each
  signature on the list, so anyone can check the list against the log. Erasure deletes the salt
  and fields of every entry of the signature: the leaves (hashes of a commitment) stay, so the
  tree is unchanged, and a 256-bit salt keeps the name from being guessed back. Hiding does the
  same (``on_move``): a signature hidden as fake or abusive (an impersonation, a defamatory
  comment) is opened nowhere, neither in the entries nor in the snapshots taken before; a
  restore records a fresh opening, with a new salt, as an addition does.
* **Sequencing.** ``sequence_letter`` gives waiting events the next leaf indices, stores their
  leaf hashes and every subtree they complete (``LogNode``), and signs a tree head (``LogHead``,
  Ed25519) per batch. It holds the letter's ``LogState`` row lock (SQLite: the write
  transaction), so two workers never interleave. The mail worker runs it every poll, and
  ``flask log sequence`` on demand.
* **Proofs** read O(log n) stored subtree hashes in one query (see services.merkle).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import and_, delete, func, insert, select, union_all, update
from sqlalchemy.orm import Session, aliased

from app import public_signature
from app.config import check_log_signing_key
from app.db import upsert
from app.models import Letter, LogEvent, LogHead, LogNode, LogSnapshot, LogState, Signature, SignatureStatus
from app.services import merkle
from app.services.errors import DomainError
from app.timestamps import iso

VERSION = 1
LIVE_EVENTS = ("add", "restore", "update")
MAX_ENTRIES = 1000
ERASED = (SignatureStatus.WITHDRAWN, SignatureStatus.REMOVED)

# The largest tree size or leaf index the log takes (its columns are 32-bit integers).
MAX_POSITION = 2**31 - 1


class NotInLog(DomainError):
    """A request for a part of the log it does not have (an index, a tree size, a signature)."""

    status_code = 404
    code = "not_in_log"


# One encoder for every call: json.dumps with options builds a new one each time (a third slower).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no spaces, non-ASCII as is."""
    return _CANONICAL.encode(value)


def public_fields(signature: Signature) -> dict[str, Any]:
    """A signature's committed fields, exactly as the public list and the API show them."""
    return public_signature.read(signature, public_signature.COMMITTED)


def fields_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The committed fields from plain values by name (``public_fields`` of a row not loaded as a Signature)."""
    return public_signature.committed(values)


def commitment(salt: bytes, fields: str) -> str:
    """SHA-256(salt || fields) in hex."""
    return hashlib.sha256(salt + fields.encode()).hexdigest()


# --- Keys and tree heads -------------------------------------------------------------------------


def generate_key_text() -> str:
    """A new Ed25519 private key as LOG_SIGNING_KEY holds it (URL-safe base64 of its 32 bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class SigningKey:
    """The site's log signing key."""

    private: Ed25519PrivateKey

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        """The key LOG_SIGNING_KEY holds."""
        return cls(Ed25519PrivateKey.from_private_bytes(check_log_signing_key(text)))

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_text(self) -> str:
        """The public key in standard base64."""
        return base64.b64encode(self.public_bytes).decode()

    @property
    def key_id(self) -> str:
        """The first 8 bytes of the public key's SHA-256, in hex."""
        return hashlib.sha256(self.public_bytes).hexdigest()[:16]


def signed_message(slug: str, tree_size: int, root_hash: str, timestamp: int) -> bytes:
    """The exact bytes a tree head's signature covers (the verifier builds the same)."""
    return (
        "undersigned tree head v1\n"
        f"letter: {slug}\n"
        f"tree_size: {tree_size}\n"
        f"root_hash: {root_hash}\n"
        f"timestamp: {timestamp}\n"
    ).encode()


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def head_json(slug: str, head: LogHead, key: SigningKey) -> dict[str, Any]:
    """A signed tree head as the API publishes it."""
    return {
        "letter": slug,
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "time": iso(datetime.fromtimestamp(head.timestamp / 1000, UTC)),
        "signature": head.signature,
        "algorithm": "Ed25519",
        "key_id": head.key_id,
        "public_key": key.public_text if head.key_id == key.key_id else None,
    }


def _sign(letter: Letter, size: int, root_hash: str, when: datetime, key: SigningKey) -> LogHead:
    timestamp = _millis(when)
    signature = key.private.sign(signed_message(letter.slug, size, root_hash, timestamp))
    return LogHead(
        letter_id=letter.id,
        tree_size=size,
        root_hash=root_hash,
        timestamp=timestamp,
        signature=base64.b64encode(signature).decode(),
        key_id=key.key_id,
    )


def current_head(session: Session, letter: Letter, key: SigningKey) -> LogHead:
    """The latest signed tree head; for a log with no entries yet, the empty tree's, signed now."""
    head = session.scalar(
        select(LogHead).where(LogHead.letter_id == letter.id).order_by(LogHead.tree_size.desc()).limit(1)
    )
    if head is None:
        head = _sign(letter, 0, merkle.EMPTY_ROOT.hex(), letter.created_at, key)
    return head


# --- Appending events ----------------------------------------------------------------------------


def new_event(
    letter_id: int,
    signature_id: int,
    event: str,
    *,
    now: datetime,
    fields: dict[str, Any] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The row of an unsequenced event: its leaf and, for a listed signature, the salted opening."""
    salt = secrets.token_bytes(32) if fields is not None else None
    return _event_row(letter_id, signature_id, event, now, iso(now), fields, salt, reason)


def new_events(
    letter_id: int, event: str, *, now: datetime, signatures: Iterable[tuple[int, dict[str, Any] | None]]
) -> Iterator[dict[str, Any]]:
    """``new_event`` for each (signature id, fields or None) at one time, in bulk (salts drawn together)."""
    at = iso(now)
    salts = b""
    offset = 0
    for signature_id, fields in signatures:
        salt = None
        if fields is not None:
            if offset == len(salts):
                salts, offset = secrets.token_bytes(32 * 4096), 0
            salt = salts[offset : offset + 32]
            offset += 32
        yield _event_row(letter_id, signature_id, event, now, at, fields, salt, None)


def _event_row(
    letter_id: int,
    signature_id: int,
    event: str,
    now: datetime,
    at: str | None,
    fields: dict[str, Any] | None,
    salt: bytes | None,
    reason: str | None,
) -> dict[str, Any]:
    """The one place the leaf is built: ``at`` is ``iso(now)``, ``salt`` 32 random bytes when listed."""
    leaf: dict[str, Any] = {
        "v": VERSION,
        "event": event,
        "signature": signature_id,
        "at": at,
        "listed": fields is not None,
        "commitment": None,
    }
    text = salt_text = None
    if fields is not None:
        assert salt is not None and len(salt) == 32
        text = canonical(fields)
        salt_text = salt.hex()
        leaf["commitment"] = commitment(salt, text)
    if reason is not None:
        leaf["reason"] = reason
    leaf_text = canonical(leaf)
    return {
        "letter_id": letter_id,
        "signature_id": signature_id,
        "event": event,
        "listed": fields is not None,
        "at": now,
        "leaf": leaf_text,
        "leaf_hash": merkle.leaf_hash(leaf_text.encode()).hex(),
        "fields": text,
        "salt": salt_text,
    }


def record(session: Session, signature: Signature, event: str, *, now: datetime, reason: str | None = None) -> None:
    """Append an unsequenced event about ``signature`` (in the caller's transaction)."""
    # The signature's own row is written (and locked) first, so its events are ordered like its changes.
    session.flush()
    listed = event in LIVE_EVENTS and signature.public
    row = new_event(
        signature.letter_id,
        signature.id,
        event,
        now=now,
        fields=public_fields(signature) if listed else None,
        reason=reason,
    )
    session.execute(insert(LogEvent).values(**row))


def enabled() -> bool:
    """Whether changes are logged (LOG_ENABLED; always outside an app)."""
    from flask import current_app, has_app_context

    return not has_app_context() or bool(current_app.config.get("LOG_ENABLED", True))


def on_move(
    session: Session, signature: Signature, before: SignatureStatus, after: SignatureStatus, *, now: datetime
) -> None:
    """Log what a change of state does to the public list (called by counting.move and confirm)."""
    if before == after or not enabled():
        return
    if after in ERASED:
        if before == SignatureStatus.CONFIRMED or _has_entries(session, signature):
            erase(session, signature, now=now, reason="withdrawn" if after == SignatureStatus.WITHDRAWN else "removed")
    elif after == SignatureStatus.CONFIRMED:
        record(session, signature, "restore" if before == SignatureStatus.HIDDEN else "add", now=now)
    elif before == SignatureStatus.CONFIRMED:
        # Off the list: its name and comment are no longer served, by the log or its snapshots.
        _withdraw_openings(session, signature)
        record(session, signature, "hide", now=now)


def on_update(session: Session, signature: Signature, *, now: datetime) -> None:
    """Log a change of a listed signature's public fields (the verified mark)."""
    if signature.status == SignatureStatus.CONFIRMED and enabled():
        record(session, signature, "update", now=now)


def _has_entries(session: Session, signature: Signature) -> bool:
    return (
        session.scalar(
            select(LogEvent.id)
            .where(LogEvent.letter_id == signature.letter_id, LogEvent.signature_id == signature.id)
            .limit(1)
        )
        is not None
    )


def _withdraw_openings(session: Session, signature: Signature) -> None:
    """Delete the salt and fields of every entry of ``signature``: its leaves (only hashes) stay."""
    session.execute(
        update(LogEvent)
        .where(LogEvent.letter_id == signature.letter_id, LogEvent.signature_id == signature.id)
        .values(fields=None, salt=None)
        .execution_options(synchronize_session=False)
    )


def erase(session: Session, signature: Signature, *, now: datetime, reason: str) -> None:
    """Delete the salt and fields of every entry of ``signature`` and append an erasure event."""
    _withdraw_openings(session, signature)
    record(session, signature, "erase", now=now, reason=reason)


# --- Sequencing ----------------------------------------------------------------------------------


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


def _nodes(session: Session, letter_id: int, keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
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


def sequence_letter(session: Session, letter: Letter, *, now: datetime, key: SigningKey, limit: int) -> int:
    """Give up to ``limit`` waiting events of ``letter`` their leaf indices and sign the new head.

    Returns how many were sequenced. Runs under the letter's log lock.
    """
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
    stored = _nodes(session, letter.id, set(merkle.frontier(size)))
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
    session.add(_sign(letter, new_size, root.hex(), now, key))
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
    """Ids of letters with events waiting to be sequenced."""
    return list(session.scalars(select(LogEvent.letter_id).where(LogEvent.leaf_index.is_(None)).distinct()))


# --- Reading the log -----------------------------------------------------------------------------


def tree_size(session: Session, letter_id: int) -> int:
    """How many entries the letter's log holds (sequenced)."""
    return session.scalar(select(LogState.tree_size).where(LogState.letter_id == letter_id)) or 0


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

    nodes = _nodes(session, letter_id, merkle.needed_nodes(proof))
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

    nodes = _nodes(session, letter_id, merkle.needed_nodes(proof))
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


# --- Checking the stored log (flask log verify) ---------------------------------------------------


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
    from cryptography.exceptions import InvalidSignature

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
    stored = _nodes(session, letter_id, keys)
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
        if row.listed != signature.public:
            problems.append(f"signature {signature.id}: the log says listed={row.listed}, the signature differs")
        elif row.listed and row.fields != canonical(public_fields(signature)):
            problems.append(f"signature {signature.id}: its public fields differ from its log {_place(row)}")
    for signature_id, row in latest.items():
        if row.event in LIVE_EVENTS and signature_id not in seen:
            problems.append(f"signature {signature_id} is live in the log ({_place(row)}) but not counted")


def _place(row: LogEvent) -> str:
    """Where an event is: its entry, or the queue of events waiting to be sequenced."""
    return f"entry {row.leaf_index}" if row.leaf_index is not None else "event waiting to be sequenced"


# --- Open-data snapshots -------------------------------------------------------------------------

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


def snapshots(session: Session, letter_id: int) -> list[LogSnapshot]:
    """A letter's snapshots, newest first."""
    return list(
        session.scalars(select(LogSnapshot).where(LogSnapshot.letter_id == letter_id).order_by(LogSnapshot.day.desc()))
    )


def head_at(session: Session, letter: Letter, size: int, key: SigningKey) -> LogHead | None:
    """The signed tree head of exactly ``size`` entries (the empty tree's is signed on demand)."""
    if size == 0:
        return _sign(letter, 0, merkle.EMPTY_ROOT.hex(), letter.created_at, key)
    return session.get(LogHead, (letter.id, size))


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


def delete_letter_log(session: Session, letter_id: int) -> None:
    """Remove a letter's whole log (benchmarks and tests only)."""
    for model in (LogNode, LogHead, LogSnapshot, LogState, LogEvent):
        session.execute(delete(model).where(model.letter_id == letter_id))
