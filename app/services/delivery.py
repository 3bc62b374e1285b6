"""The document organisers hand in: a letter's text, its count, and its public signers, as of one moment.

The page (``/moderate/letters/<slug>/delivery``) and the PDF job read the same things from here:
the notable signatories (verified, then founding), then every other listed signature in the
order they were confirmed, read in keyset batches so that a list of any length takes the same
memory. A PDF is a background job (``DELIVERY_PDF``): its payload fixes the moment the list is
read up to, the count and the signed tree head at the moment it was asked for, so every step
of the job reads the same document whatever is signed meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.models import Job, JobStatus, Letter, Moderator, Signature, listed_terms
from app.services import moderation
from app.timestamps import iso

DELIVERY_PDF = "delivery_pdf"
# Notable signatories shown before the rest: verified ones and the founding ones, at most this many.
MAX_NOTABLE = 1000
BATCH_SIZE = 1000


@dataclass(frozen=True)
class Signer:
    """One line of the document: a listed signer's name and affiliation."""

    id: int
    name: str
    affiliation: str | None
    confirmed_at: datetime
    verified: bool
    founding: bool


_COLUMNS = (
    Signature.id,
    Signature.name,
    Signature.affiliation,
    Signature.confirmed_at,
    Signature.verified_at,
    Signature.founding,
)


def _signer(row: Any) -> Signer:
    return Signer(row.id, row.name, row.affiliation, row.confirmed_at, row.verified_at is not None, row.founding)


def _listed_until(letter_id: int, until: datetime) -> list[sa.ColumnElement[bool]]:
    return [Signature.letter_id == letter_id, *listed_terms(), Signature.confirmed_at <= until]


def _notable_terms() -> sa.ColumnElement[bool]:
    return or_(Signature.verified_at.is_not(None), Signature.founding == sa.true())


def notable(session: Session, letter_id: int, *, until: datetime) -> list[Signer]:
    """The verified signatories, then the founding ones, each in the order they signed."""
    rows = session.execute(
        select(*_COLUMNS)
        .where(*_listed_until(letter_id, until), _notable_terms())
        .order_by(Signature.verified_at.is_(None), Signature.confirmed_at, Signature.id)
        .limit(MAX_NOTABLE)
    ).all()
    return [_signer(row) for row in rows]


def others_count(session: Session, letter_id: int, *, until: datetime) -> int:
    """How many listed signers the document names after the notable ones."""
    return session.scalar(select(func.count()).where(*_listed_until(letter_id, until), ~_notable_terms())) or 0


def others(
    session: Session,
    letter_id: int,
    *,
    until: datetime,
    after: tuple[datetime, int] | None = None,
    limit: int = BATCH_SIZE,
) -> list[Signer]:
    """The next ``limit`` listed signers that are not notable, oldest first, after the position ``after``."""
    stmt = select(*_COLUMNS).where(*_listed_until(letter_id, until), ~_notable_terms())
    if after is not None:
        when, last_id = after
        stmt = stmt.where(
            or_(Signature.confirmed_at > when, and_(Signature.confirmed_at == when, Signature.id > last_id))
        )
    rows = session.execute(stmt.order_by(Signature.confirmed_at, Signature.id).limit(limit)).all()
    return [_signer(row) for row in rows]


def all_others(session: Session, letter_id: int, *, until: datetime, batch_size: int = BATCH_SIZE) -> Iterator[Signer]:
    """Every listed signer that is not notable, oldest first, read in batches."""
    after: tuple[datetime, int] | None = None
    while True:
        batch = others(session, letter_id, until=until, after=after, limit=batch_size)
        yield from batch
        if len(batch) < batch_size:
            return
        after = (batch[-1].confirmed_at, batch[-1].id)


def position(signer: Signer) -> list[Any]:
    """Where the list stands after ``signer``, as a job's payload keeps it."""
    return [iso(signer.confirmed_at), signer.id]


def parse_position(value: Sequence[Any] | None) -> tuple[datetime, int] | None:
    """The position a payload keeps (see ``position``), or None at the start."""
    if not value:
        return None
    return datetime.fromisoformat(str(value[0])), int(value[1])


def request_pdf(
    session: Session,
    moderator: Moderator,
    letter: Letter,
    *,
    version: int,
    lang: str,
    head: Mapping[str, Any],
    now: datetime,
) -> Job:
    """Queue the job that makes the PDF of the letter as it stands ``now``, and audit the request."""
    total = others_count(session, letter.id, until=now)
    job = Job(
        kind=DELIVERY_PDF,
        payload={
            "letter_id": letter.id,
            "version": version,
            "lang": lang,
            "until": iso(now),
            "count": letter.signature_count,
            "total": total,
            "head": dict(head),
            "after": None,
            "pages": 0,
            "parts": 0,
        },
        cursor=0,
        status=JobStatus.PENDING,
        attempts=0,
        run_after=now,
        created_at=now,
    )
    session.add(job)
    session.flush()
    moderation.record(
        session, moderator, "letter.delivery", now=now, letter=letter, detail=f"PDF, version {version}, {lang}"
    )
    return job


def delivery_job(session: Session, letter: Letter, job_id: int) -> Job | None:
    """The delivery PDF job ``job_id`` of ``letter``, or None."""
    job = session.get(Job, job_id)
    if job is None or job.kind != DELIVERY_PDF or job.payload.get("letter_id") != letter.id:
        return None
    return job
