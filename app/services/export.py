"""Exports of a letter's signatures as CSV or JSON, streamed in keyset batches (constant memory).

``public_rows`` is what anyone may download: the public list, never an address. ``all_rows`` is
for moderators and operators: every field except the links' tokens and the network hash.

In a streamed response, read the rows in a session the stream opens and closes itself (see
app.letters.views): the request's own session is closed before the body is sent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.models import Flag, Signature, SignatureStatus
from app.services.domains import organisations_for
from app.text import FORMULA_STARTS as FORMULA_STARTS
from app.text import csv_safe

BATCH_SIZE = 1000

PUBLIC_FIELDS = (
    "name",
    "affiliation",
    "country",
    "city",
    "comment",
    "verified",
    "signed_at",
    "confirmed_domain",
    "confirmed_organisation",
)
ALL_FIELDS = (
    "id",
    "status",
    "name",
    "email",
    "email_domain",
    "affiliation",
    "country",
    "city",
    "comment",
    "public",
    "show_domain",
    "confirmed_domain",
    "wants_updates",
    "locale",
    "founding",
    "verified",
    "verified_at",
    "verified_note",
    "suspect_reason",
    "removal_reason",
    "moderator_note",
    "flags",
    "open_flags",
    "created_at",
    "confirmed_at",
    "withdrawn_at",
)

# Fields of all_rows that are not columns of the signature.
_COMPUTED = {"verified", "flags", "open_flags"}

Row = dict[str, Any]


def public_rows(session: Session, letter_id: int, *, batch_size: int = BATCH_SIZE) -> Iterator[Row]:
    """The public list, oldest first: confirmed public signatures, public fields only."""
    after: tuple[datetime, int] | None = None
    while True:
        stmt = select(
            Signature.id,
            Signature.name,
            Signature.affiliation,
            Signature.country,
            Signature.city,
            Signature.comment,
            Signature.verified_at,
            Signature.confirmed_at,
            Signature.confirmed_domain,
        ).where(
            Signature.letter_id == letter_id,
            Signature.status == SignatureStatus.CONFIRMED,
            Signature.public.is_(True),
        )
        if after is not None:
            when, last_id = after
            stmt = stmt.where(
                or_(Signature.confirmed_at > when, and_(Signature.confirmed_at == when, Signature.id > last_id))
            )
        batch = session.execute(stmt.order_by(Signature.confirmed_at, Signature.id).limit(batch_size)).all()
        # One query per batch for the organisations of the domains shown in it.
        shown = {row.confirmed_domain for row in batch if row.confirmed_domain}
        owners = organisations_for(session, shown) if shown else {}
        for row in batch:
            owner = owners.get(row.confirmed_domain) if row.confirmed_domain else None
            yield {
                "name": row.name,
                "affiliation": row.affiliation,
                "country": row.country,
                "city": row.city,
                "comment": row.comment,
                "verified": row.verified_at is not None,
                "signed_at": row.confirmed_at,
                "confirmed_domain": row.confirmed_domain,
                "confirmed_organisation": owner.name if owner else None,
            }
        if len(batch) < batch_size:
            return
        after = (batch[-1].confirmed_at, batch[-1].id)


def all_rows(session: Session, letter_id: int, *, batch_size: int = BATCH_SIZE) -> Iterator[Row]:
    """Every signature of a letter in every state, by id, with every field but tokens and network hash."""
    flags = select(func.count(Flag.id)).where(Flag.signature_id == Signature.id).correlate(Signature).scalar_subquery()
    open_flags = (
        select(func.count(Flag.id))
        .where(Flag.signature_id == Signature.id, Flag.resolved_at.is_(None))
        .correlate(Signature)
        .scalar_subquery()
    )
    columns = [getattr(Signature, name) for name in ALL_FIELDS if name not in _COMPUTED]
    last_id = 0
    while True:
        stmt = (
            select(*columns, flags.label("flags"), open_flags.label("open_flags"))
            .where(Signature.letter_id == letter_id, Signature.id > last_id)
            .order_by(Signature.id)
            .limit(batch_size)
        )
        batch = session.execute(stmt).all()
        for row in batch:
            values = row._asdict()
            values["verified"] = values["verified_at"] is not None
            yield {name: values[name] for name in ALL_FIELDS}
        if len(batch) < batch_size:
            return
        last_id = batch[-1].id


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = _iso(value)
    else:
        text = str(value)
    # Formula injection: make the spreadsheet read the cell as text.
    return csv_safe(text)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def write_csv(rows: Iterable[Row], fields: Sequence[str]) -> Iterator[str]:
    """CSV text in chunks (a header, then about a hundred rows a chunk), cells safe from formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for number, row in enumerate(rows, start=1):
        writer.writerow([_cell(row.get(name)) for name in fields])
        if number % 100 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_value(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value


def write_json(rows: Iterable[Row], fields: Sequence[str], **head: Any) -> Iterator[str]:
    """A JSON object in chunks: the ``head`` fields, then ``"signatures": [...]`` written row by row."""
    opening = json.dumps({name: _json_value(value) for name, value in head.items()}, ensure_ascii=False)[:-1]
    yield (opening + ", " if head else "{") + '"signatures": ['
    for number, row in enumerate(rows):
        item = json.dumps({name: _json_value(row.get(name)) for name in fields}, ensure_ascii=False)
        yield ("," if number else "") + "\n" + item
    yield "\n]}\n"


def public_csv(session: Session, letter_id: int) -> Iterator[str]:
    """The public list as CSV text, streamed (for the benchmark and scripts)."""
    return write_csv(public_rows(session, letter_id), PUBLIC_FIELDS)
