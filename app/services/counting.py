"""The exact signature count: changed in the same transaction as the signature, read in O(1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Letter, LetterDomainTally, LetterTally, RemovalReason, Signature, SignatureStatus
from app.services.versions import VERSION_TALLY_PREFIX, version_tally

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
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(LetterTally).values(letter_id=letter_id, name=name, value=delta)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[LetterTally.letter_id, LetterTally.name],
            set_={"value": LetterTally.value + delta},
        )
    )


def add_to_domain_tally(session: Session, letter_id: int, domain: str, delta: int) -> None:
    """Add ``delta`` to the number of a letter's counted signers confirmed through ``domain``."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(LetterDomainTally).values(letter_id=letter_id, domain=domain, value=delta)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[LetterDomainTally.letter_id, LetterDomainTally.domain],
            set_={"value": LetterDomainTally.value + delta},
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
        delta = 1 if after_count else -1
        add_to_count(session, signature.letter_id, delta, now=now, version=signature.letter_version)
        if signature.confirmed_domain:
            add_to_domain_tally(session, signature.letter_id, signature.confirmed_domain, delta)
    if before_tally != after_tally:
        if before_tally:
            add_to_tally(session, signature.letter_id, before_tally, -1)
        if after_tally:
            add_to_tally(session, signature.letter_id, after_tally, +1)


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
    rows = session.execute(
        select(Signature.status, Signature.removal_reason, Signature.letter_version, func.count())
        .where(Signature.letter_id == letter_id)
        .group_by(Signature.status, Signature.removal_reason, Signature.letter_version)
    )
    counted = dict.fromkeys(TALLY_NAMES, 0)
    versions: dict[str, int] = {}
    for status, reason, version, number in rows:
        name = tally_name(status, reason)
        if name:
            counted[name] += number
        if status == SignatureStatus.CONFIRMED and version > 1:
            versions[version_tally(version)] = versions.get(version_tally(version), 0) + number
    return _with_versions(counted, versions)


def add_to_count(session: Session, letter_id: int, delta: int, *, now: datetime, version: int = 1) -> None:
    """Add ``delta`` to the letter's count with one atomic UPDATE (no read-modify-write).

    ``version`` is the letter version the signatures were signed under: after the first, its
    own tally changes too. The letter's row is locked first, as everywhere else the count and
    a tally change together, so that two such transactions never wait for each other in a circle.
    """
    session.execute(
        update(Letter)
        .where(Letter.id == letter_id)
        .values(signature_count=Letter.signature_count + delta, updated_at=now)
        .execution_options(synchronize_session=False)
    )
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
        letter.signature_count = result.actual
        letter.updated_at = now
        for name in result.stored_tallies.keys() | result.actual_tallies.keys():
            stored, actual = result.stored_tallies.get(name, 0), result.actual_tallies.get(name, 0)
            if stored != actual:
                add_to_tally(session, letter.id, name, actual - stored)
        session.flush()
    return result
