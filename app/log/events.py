"""Appending events: the leaves every change to the public list adds, in the transaction that makes it."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app import public_signature
from app.log import merkle
from app.models import LogEvent, Signature, SignatureStatus
from app.timestamps import iso

VERSION = 1


LIVE_EVENTS = ("add", "restore", "update")


ERASED = (SignatureStatus.WITHDRAWN, SignatureStatus.REMOVED)


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
    # Counted but not named (the signer unticked "show my name", it waits for a moderator's
    # review, or the letter's names were hidden after it closed): the entry says so and commits to nothing.
    listed = event in LIVE_EVENTS and signature.named
    row = new_event(
        signature.letter_id,
        signature.id,
        event,
        now=now,
        fields=public_fields(signature) if listed else None,
        reason=reason,
    )
    session.execute(insert(LogEvent).values(**row))


# The session's info key that says whether changes are logged. The app's sessions carry
# LOG_ENABLED there (see app.db), as they carry the counter's shards: the log reads no app config.
ENABLED = "log_enabled"


def enabled(session: Session) -> bool:
    """Whether changes made in ``session`` are logged (yes unless its maker says otherwise)."""
    return bool(session.info.get(ENABLED, True))


def on_move(
    session: Session, signature: Signature, before: SignatureStatus, after: SignatureStatus, *, now: datetime
) -> None:
    """Log what a change of state does to the public list (called by counting.move and confirm)."""
    if before == after or not enabled(session):
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
    """Log a change of a counted signature's public fields (the verified mark) or of whether it is listed.

    A signature counted while it waited for a moderator's review (``"listed": false``) appears
    on the list with an ``update`` that opens its fields, so verifiers need no new kind of event.
    """
    if signature.status == SignatureStatus.CONFIRMED and enabled(session):
        record(session, signature, "update", now=now)


def on_unlisted(session: Session, signature: Signature, *, now: datetime) -> None:
    """Log that a counted signature left the list but not the count (it awaits a moderator's review again).

    Its name and comment are no longer served, as after a hide; the ``update`` says counted, not named.
    """
    on_own_change(session, signature, now=now)


def on_own_change(session: Session, signature: Signature, *, now: datetime) -> None:
    """Log a signer's own change of what the list shows of them (their name, comment, listing...).

    What they no longer show is served nowhere: the openings of their earlier entries go (their
    leaves stay, as hiding leaves them), and the ``update`` carries a fresh one; an unlisted
    signature's ``update`` commits to nothing.
    """
    if signature.status == SignatureStatus.CONFIRMED and enabled(session):
        _withdraw_openings(session, signature)
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


def on_names_hidden(session: Session, letter_id: int, signature_ids: Iterable[int], *, now: datetime) -> None:
    """Log that a letter's names left the public list while its count stays (hidden after it closed).

    Every opening of the letter's log goes (its leaves stay, as hiding leaves them), and each
    signature that was named gets an ``update`` that says counted, not named: the log's live
    listed set is empty, as the public list is, so verifiers need no new kind of event.
    """
    if not enabled(session):
        return
    session.flush()
    session.execute(
        update(LogEvent)
        .where(LogEvent.letter_id == letter_id, LogEvent.salt.is_not(None))
        .values(fields=None, salt=None)
        .execution_options(synchronize_session=False)
    )
    _insert(session, new_events(letter_id, "update", now=now, signatures=((i, None) for i in signature_ids)))


def on_names_shown(session: Session, letter_id: int, signatures: Iterable[Signature], *, now: datetime) -> None:
    """Log that a letter's names are back on the list (signing opened again): a fresh opening each."""
    if not enabled(session):
        return
    session.flush()
    rows = ((s.id, public_fields(s)) for s in signatures)
    _insert(session, new_events(letter_id, "update", now=now, signatures=rows))


def _insert(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert event rows in batches (one statement per thousand)."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 1000:
            session.execute(insert(LogEvent), batch)
            batch = []
    if batch:
        session.execute(insert(LogEvent), batch)
