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

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app import log
from app.db import add_to_value
from app.models import (
    Letter,
    LetterCounterShard,
    LetterDomainTally,
    LetterTally,
    RemovalReason,
    Signature,
    SignatureStatus,
)
from app.services import stats
from app.services.versions import VERSION_TALLY_PREFIX, version_tally

PENDING_TALLY = "pending"
# Confirmed and counted, but kept off the public list until a moderator reviews it (a watch-list
# or disposable-address flag: see app.services.flags.HOLDING).
COUNTED_AWAITING_REVIEW_TALLY = "counted_awaiting_review"
REMOVED_STATUSES = (SignatureStatus.HIDDEN, SignatureStatus.REMOVED)
TALLY_NAMES = (
    PENDING_TALLY,
    COUNTED_AWAITING_REVIEW_TALLY,
    *(f"removed:{reason}" for reason in (*RemovalReason, "withdrawn")),
)


def tally_name(status: SignatureStatus, reason: RemovalReason | None, unlisted: bool = False) -> str | None:
    """The public tally a signature in this state counts towards, if any.

    ``unlisted`` is ``Signature.unlisted_until_review``: it matters only while the signature is
    confirmed (counted and waiting to be listed).
    """
    if status == SignatureStatus.PENDING:
        return PENDING_TALLY
    if status == SignatureStatus.CONFIRMED:
        return COUNTED_AWAITING_REVIEW_TALLY if unlisted else None
    if status in REMOVED_STATUSES:
        return f"removed:{reason or RemovalReason.OTHER}"
    if status == SignatureStatus.WITHDRAWN:
        return "removed:withdrawn"
    return None


def add_to_tally(session: Session, letter_id: int, name: str, delta: int) -> None:
    """Add ``delta`` to one of a letter's tallies, creating it if needed (one atomic statement)."""
    add_to_value(session, LetterTally, {"letter_id": letter_id, "name": name}, delta)


def add_to_domain_tally(session: Session, letter_id: int, domain: str, delta: int) -> None:
    """Add ``delta`` to the number of a letter's counted signers confirmed through ``domain``."""
    add_to_value(session, LetterDomainTally, {"letter_id": letter_id, "domain": domain}, delta)


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
    caller's transaction; so does the public log's record of it (app.log).
    """
    before = signature.status
    before_count = signature.status == SignatureStatus.CONFIRMED
    before_tally = tally_name(signature.status, signature.removal_reason, signature.unlisted_until_review)
    signature.status = status
    signature.removal_reason = reason if status in REMOVED_STATUSES else None
    after_count = status == SignatureStatus.CONFIRMED
    after_tally = tally_name(status, signature.removal_reason, signature.unlisted_until_review)
    if before_count != after_count:
        delta = 1 if after_count else -1
        add_to_count(session, signature.letter_id, delta, now=now, version=signature.letter_version)
        if signature.confirmed_domain:
            add_to_domain_tally(session, signature.letter_id, signature.confirmed_domain, delta)
        stats.add(session, signature, delta)
    _move_tally(session, signature.letter_id, before_tally, after_tally)
    log.on_move(session, signature, before, status, now=now)


def _move_tally(session: Session, letter_id: int, before: str | None, after: str | None) -> None:
    if before != after:
        if before:
            add_to_tally(session, letter_id, before, -1)
        if after:
            add_to_tally(session, letter_id, after, +1)


def end_review(session: Session, signature: Signature, *, now: datetime) -> None:
    """A moderator has reviewed ``signature``: nothing keeps it off the public list any longer.

    A confirmed one appears on the list at once (the public log records an ``update`` that opens
    its name); any other is listed whenever it is counted. The moderation service calls this
    before approving, restoring or dismissing flags, and after hiding or deleting (the signature
    is then off the list anyway).
    """
    if not signature.unlisted_until_review:
        return
    before_tally = tally_name(signature.status, signature.removal_reason, True)
    signature.unlisted_until_review = False
    _move_tally(session, signature.letter_id, before_tally, tally_name(signature.status, signature.removal_reason))
    if signature.public:
        log.on_update(session, signature, now=now)


def start_review(session: Session, signature: Signature, *, now: datetime) -> None:
    """Keep ``signature`` off the public list until a moderator reviews it again (an approval undone).

    Counted all the same; a confirmed one leaves the list at once: the public log withdraws its
    openings, as hiding does, and records an ``update`` that no longer names it.
    """
    if signature.unlisted_until_review:
        return
    before_tally = tally_name(signature.status, signature.removal_reason)
    signature.unlisted_until_review = True
    _move_tally(
        session, signature.letter_id, before_tally, tally_name(signature.status, signature.removal_reason, True)
    )
    if signature.public:
        log.on_unlisted(session, signature, now=now)


def _with_versions(fixed: dict[str, int], found: dict[str, int]) -> dict[str, int]:
    # The per-version tallies that are not zero (versions come and go; zero means no row needed).
    versions = {name: value for name, value in found.items() if name.startswith(VERSION_TALLY_PREFIX) and value}
    return fixed | dict(sorted(versions.items()))


def tallies(session: Session, letter_id: int) -> dict[str, int]:
    """A letter's public tallies (every name present, zero when nothing counted yet).

    Also the count of each version after the first that any counted signature was signed under,
    as ``version:N`` (see app.services.versions.counts_by_version).
    """
    rows = session.execute(select(LetterTally.name, LetterTally.value).where(LetterTally.letter_id == letter_id))
    stored = {name: value for name, value in rows}
    return _with_versions({name: stored.get(name, 0) for name in TALLY_NAMES}, stored)


def counted_tallies(session: Session, letter_id: int) -> dict[str, int]:
    """The tallies counted from the signatures themselves."""
    columns = (Signature.status, Signature.removal_reason, Signature.letter_version, Signature.unlisted_until_review)
    rows = session.execute(select(*columns, func.count()).where(Signature.letter_id == letter_id).group_by(*columns))
    counted = dict.fromkeys(TALLY_NAMES, 0)
    versions: dict[str, int] = {}
    for status, reason, version, unlisted, number in rows:
        name = tally_name(status, reason, unlisted)
        if name:
            counted[name] += number
        if status == SignatureStatus.CONFIRMED and version > 1:
            versions[version_tally(version)] = versions.get(version_tally(version), 0) + number
    return _with_versions(counted, versions)


def add_to_count(session: Session, letter_id: int, delta: int, *, now: datetime, version: int = 1) -> None:
    """Add ``delta`` to the letter's count: one atomic upsert of one of its shards (no read-modify-write).

    The letter row itself is not touched (nor its ``updated_at``, which dates its text and
    settings), so confirmations do not queue behind one row lock. ``version`` is the letter
    version the signatures were signed under: after the first, its own tally changes too,
    after the shard, the order every change of the count and a tally takes.
    """
    shards = int(session.info.get("counter_shards", 1))
    if shards == 1:
        shard: object = 0
    elif session.get_bind().dialect.name == "postgresql":
        # The connection's own shard: a connection runs one transaction at a time.
        shard = func.pg_backend_pid() % shards
    else:
        shard = random.randrange(shards)  # noqa: S311 (spreading writes, not a secret)
    add_to_value(session, LetterCounterShard, {"letter_id": letter_id, "shard": shard}, delta)
    if version > 1:
        add_to_tally(session, letter_id, version_tally(version), delta)


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


def domain_tallies(session: Session, letter_id: int) -> dict[str, int]:
    """The stored number of counted signers per confirmed domain (domains with none left out)."""
    rows = session.execute(
        select(LetterDomainTally.domain, LetterDomainTally.value).where(LetterDomainTally.letter_id == letter_id)
    )
    return {domain: value for domain, value in rows if value}


def counted_domains(session: Session, letter_id: int) -> dict[str, int]:
    """The number of counted signers per confirmed domain, from the signatures themselves."""
    rows = session.execute(
        select(Signature.confirmed_domain, func.count())
        .where(
            Signature.letter_id == letter_id,
            Signature.status == SignatureStatus.CONFIRMED,
            Signature.confirmed_domain.is_not(None),
        )
        .group_by(Signature.confirmed_domain)
    )
    return {str(domain): number for domain, number in rows}


@dataclass(frozen=True)
class Recount:
    """The stored count and tallies next to the ones counted from the signatures."""

    stored: int
    actual: int
    stored_tallies: dict[str, int]
    actual_tallies: dict[str, int]
    stored_domains: dict[str, int]
    actual_domains: dict[str, int]
    # Where and when the counted signers signed (app.services.stats).
    stored_stats: dict[str, int]
    actual_stats: dict[str, int]

    @property
    def exact(self) -> bool:
        """Whether everything stored matches the recount."""
        return (
            self.stored == self.actual
            and self.stored_tallies == self.actual_tallies
            and self.stored_domains == self.actual_domains
            and self.stored_stats == self.actual_stats
        )


def recount(session: Session, letter: Letter, *, now: datetime, fix: bool = False) -> Recount:
    """Compare the stored count and tallies with a full count; with ``fix``, store the full count."""
    session.refresh(letter, ["signature_count"])
    result = Recount(
        letter.signature_count,
        counted_signatures(session, letter.id),
        tallies(session, letter.id),
        counted_tallies(session, letter.id),
        domain_tallies(session, letter.id),
        counted_domains(session, letter.id),
        stats.stored(session, letter.id),
        stats.counted(session, letter.id),
    )
    if fix and not result.exact:
        # Fold the whole count into the letter row; the shards start again from nothing.
        session.execute(delete(LetterCounterShard).where(LetterCounterShard.letter_id == letter.id))
        letter.folded_count = result.actual
        letter.updated_at = now
        for name in result.stored_tallies.keys() | result.actual_tallies.keys():
            stored, actual = result.stored_tallies.get(name, 0), result.actual_tallies.get(name, 0)
            if stored != actual:
                add_to_tally(session, letter.id, name, actual - stored)
        for domain in result.stored_domains.keys() | result.actual_domains.keys():
            stored, actual = result.stored_domains.get(domain, 0), result.actual_domains.get(domain, 0)
            if stored != actual:
                add_to_domain_tally(session, letter.id, domain, actual - stored)
        stats.catch_up(session, letter.id)
        session.flush()
        session.refresh(letter, ["signature_count"])
    return result
