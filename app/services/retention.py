"""Retention: personal data is kept only as long as it is needed, then purged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from app.models import (
    Dispute,
    Flag,
    Job,
    JobStatus,
    ModerationUndo,
    OutboxMessage,
    OutboxStatus,
    Signature,
    SignatureStatus,
    Token,
)
from app.services import after_close


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of data is kept."""

    unconfirmed: timedelta
    network: timedelta
    outbox: timedelta
    # What undoing a moderator's action needs (it holds their notes): kept while it can be undone.
    undo: timedelta


@dataclass(frozen=True)
class PurgeResult:
    """How many rows each rule removed or cleared."""

    signatures: int
    tokens: int
    networks: int
    messages: int
    jobs: int = 0
    undos: int = 0
    disputes: int = 0
    # Letters whose signers' personal data was erased because their retention date passed.
    erased_letters: tuple[str, ...] = ()


def _rows(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def purge(session: Session, policy: RetentionPolicy, *, now: datetime) -> PurgeResult:
    """Apply every retention rule once (idempotent; safe to run from several workers)."""
    # Unconfirmed and held signatures, with their tokens and mail (the foreign keys cascade).
    signatures = _rows(
        session.execute(
            delete(Signature)
            .where(
                Signature.status.in_((SignatureStatus.UNCONFIRMED, SignatureStatus.SUSPECT)),
                Signature.created_at < now - policy.unconfirmed,
            )
            .execution_options(synchronize_session=False)
        )
    )
    # Links that no longer work.
    tokens = _rows(
        session.execute(delete(Token).where(Token.expires_at < now).execution_options(synchronize_session=False))
    )
    # Network hashes, once abuse checks no longer need them.
    networks = _rows(
        session.execute(
            update(Signature)
            .where(Signature.created_at < now - policy.network, Signature.network_hash.is_not(None))
            .values(network_hash=None)
            .execution_options(synchronize_session=False)
        )
    )
    # Mail that was sent or given up on: it holds addresses and links.
    messages = _rows(
        session.execute(
            delete(OutboxMessage)
            .where(
                OutboxMessage.status.in_((OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.DISCARDED)),
                OutboxMessage.created_at < now - policy.outbox,
            )
            .execution_options(synchronize_session=False)
        )
    )
    # Finished jobs: a link request names an address.
    jobs = _rows(
        session.execute(
            delete(Job)
            .where(Job.status != JobStatus.PENDING, Job.finished_at < now - policy.outbox)
            .execution_options(synchronize_session=False)
        )
    )
    # What undoing a moderator's action needed, once the time to undo it has passed.
    undos = _rows(
        session.execute(
            delete(ModerationUndo)
            .where(ModerationUndo.at < now - policy.undo)
            .execution_options(synchronize_session=False)
        )
    )
    # "That's not me" disputes hold the address of someone who may never have signed: kept while
    # the link can still be used or the moderators have not settled the flag it raised.
    settled = select(Flag.id).where(Flag.resolved_at.is_not(None))
    disputes = _rows(
        session.execute(
            delete(Dispute)
            .where(
                or_(
                    and_(Dispute.confirmed_at.is_(None), Dispute.expires_at < now),
                    and_(Dispute.confirmed_at.is_not(None), Dispute.flag_id.is_(None)),
                    Dispute.flag_id.in_(settled),
                )
            )
            .execution_options(synchronize_session=False)
        )
    )
    # Letters past their retention date (personal_data_until): only the counts and signed heads remain.
    erased = tuple(after_close.erase_due(session, now=now))
    return PurgeResult(
        erased_letters=erased,
        signatures=signatures,
        tokens=tokens,
        networks=networks,
        messages=messages,
        jobs=jobs,
        undos=undos,
        disputes=disputes,
    )


def policy_from_config(config: dict[str, object]) -> RetentionPolicy:
    """The retention periods from the app's settings."""
    return RetentionPolicy(
        unconfirmed=timedelta(days=int(str(config["UNCONFIRMED_RETENTION_DAYS"]))),
        network=timedelta(days=int(str(config["NETWORK_RETENTION_DAYS"]))),
        outbox=timedelta(days=int(str(config["OUTBOX_RETENTION_DAYS"]))),
        undo=timedelta(minutes=int(str(config["MODERATION_UNDO_MINUTES"]))),
    )
