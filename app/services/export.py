"""Exporting a letter's signatures as CSV, streamed: constant memory however many there are."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Signature, SignatureStatus

PUBLIC_COLUMNS = ("name", "affiliation", "country", "city", "comment", "signed_at")
# Rows fetched from the database per round trip (a server-side cursor on PostgreSQL).
BATCH = 2000
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: str | None) -> str:
    """The cell's text, with a leading apostrophe if a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def public_csv(session: Session, letter_id: int) -> Iterator[str]:
    """The letter's confirmed, public signatures as CSV text, header first, oldest first.

    Yields a chunk per batch of rows, so a web response or a file can be written as it comes.
    Only public fields; never an address.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PUBLIC_COLUMNS)
    stmt = (
        select(
            Signature.name,
            Signature.affiliation,
            Signature.country,
            Signature.city,
            Signature.comment,
            Signature.confirmed_at,
        )
        .where(
            Signature.letter_id == letter_id,
            Signature.status == SignatureStatus.CONFIRMED,
            Signature.public.is_(True),
        )
        .order_by(Signature.confirmed_at, Signature.id)
        .execution_options(yield_per=BATCH)
    )
    for partition in session.execute(stmt).partitions():
        for name, affiliation, country, city, comment, confirmed_at in partition:
            writer.writerow(
                (
                    formula_safe(name),
                    formula_safe(affiliation),
                    country or "",
                    formula_safe(city),
                    formula_safe(comment),
                    confirmed_at.isoformat().replace("+00:00", "Z") if confirmed_at else "",
                )
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
