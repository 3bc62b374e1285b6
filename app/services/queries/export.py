"""Exports of a letter's signatures as CSV or JSON, streamed in constant memory.

``public_rows`` is what anyone may download: the public list, never an address. ``all_rows`` is
for moderators and operators: every field except the links' tokens and the network hash. Both
give a dictionary per row, for JSON and scripts.

The CSV downloads (``public_csv``, ``all_csv``) are the large ones, so they skip the
dictionaries: plain tuples of the needed columns go straight to ``csv.writer`` over a buffer
that is handed out in chunks of about 64 kB. PostgreSQL streams the rows from a server-side
cursor; SQLite reads them in keyset batches. A million rows take a few seconds and the same
few megabytes as a hundred.

The public downloads are written to files made at most every EXPORT_CACHE_SECONDS (see
app.export_files), not streamed to each visitor. In a streamed response, read the rows in a
session the stream opens and closes itself (see the snapshots in app.letters.views): the
request's own session is closed before the body is sent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app import public_signature
from app.models import Flag, Letter, Signature, listed_terms
from app.services.domains import organisations_for
from app.text import FORMULA_STARTS as FORMULA_STARTS
from app.text import formula_safe
from app.timestamps import iso

BATCH_SIZE = 1000
# The CSV downloads: rows fetched at once, and the size of a chunk of text handed to the server.
CSV_BATCH_SIZE = 2_000
CSV_CHUNK = 64 * 1024

PUBLIC_FIELDS = public_signature.DOWNLOADED
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
    "unlisted_until_review",
    "created_at",
    "confirmed_at",
    "withdrawn_at",
)

Row = dict[str, Any]

# What public_rows selects: the columns its fields are read from, and the keys it pages by.
_PUBLIC_COLUMNS = [
    getattr(Signature, name)
    for name in dict.fromkeys(("id", "confirmed_at", "confirmed_domain", *public_signature.columns(PUBLIC_FIELDS)))
]


def _names_shown(letter_id: int) -> sa.ColumnElement[bool]:
    """The letter's names are not hidden (see ``listing.names_hidden``), as a condition of the export's query."""
    return sa.exists().where(Letter.id == letter_id, Letter.names_hidden_at.is_(None))


def public_rows(session: Session, letter_id: int, *, batch_size: int = BATCH_SIZE) -> Iterator[Row]:
    """The public list, oldest first: listed signatures (``Signature.listed``), public fields only."""
    after: tuple[datetime, int] | None = None
    while True:
        stmt = select(*_PUBLIC_COLUMNS).where(
            Signature.letter_id == letter_id, *listed_terms(), _names_shown(letter_id)
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
            yield public_signature.read(row, PUBLIC_FIELDS) | {"confirmed_organisation": owner.name if owner else None}
        if len(batch) < batch_size:
            return
        after = (batch[-1].confirmed_at, batch[-1].id)


def all_rows(session: Session, letter_id: int, *, batch_size: int = BATCH_SIZE) -> Iterator[Row]:
    """Every signature of a letter in every state, by id, with every field but tokens and network hash."""
    for batch in _all_batches(session, letter_id, batch_size=batch_size):
        for row in batch:
            yield dict(zip(ALL_FIELDS, row, strict=True))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    # Formula injection: make the spreadsheet read the cell as text.
    return formula_safe(str(value))


# The byte order mark that opens every CSV download: without it Excel reads UTF-8 as the system's
# legacy code page, and a Korean or accented name opens garbled. csv, pandas and LibreOffice skip it.
CSV_BOM = "\ufeff"


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
    return iso(value) if isinstance(value, datetime) else value


def write_json(rows: Iterable[Row], fields: Sequence[str], **head: Any) -> Iterator[str]:
    """A JSON object in chunks: the ``head`` fields, then ``"signatures": [...]`` written row by row."""
    opening = json.dumps({name: _json_value(value) for name, value in head.items()}, ensure_ascii=False)[:-1]
    yield (opening + ", " if head else "{") + '"signatures": ['
    for number, row in enumerate(rows):
        item = json.dumps({name: _json_value(row.get(name)) for name in fields}, ensure_ascii=False)
        yield ("," if number else "") + "\n" + item
    yield "\n]}\n"


def _safe_text(column: Any) -> Any:
    """``formula_safe`` in SQL: empty for NULL, a leading apostrophe when the first character starts a formula."""
    return sa.case(
        (func.substr(column, 1, 1).in_(FORMULA_STARTS), sa.literal("'") + column),
        else_=func.coalesce(column, ""),
    )


def _iso_text(column: Any, dialect: str) -> Any:
    """SQL for a UTC time stamp as ``iso`` writes it: ISO 8601, microseconds only when not zero, then Z."""
    text: Any
    if dialect == "postgresql":
        text = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
    else:
        # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (SQLAlchemy's format, and the seed's).
        text = func.substr(column, 1, 10) + "T" + func.substr(column, 12)
    return func.replace(text, ".000000", "") + "Z"


def _stream(session: Session, stmt: sa.Select[Any], *, batch_size: int) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows of ``stmt`` in lists of ``batch_size``, read from one cursor as they are written out.

    PostgreSQL: a server-side cursor (``stream_results``); SQLite's cursors fetch lazily anyway.
    """
    result = session.connection().execute(stmt.execution_options(stream_results=True, yield_per=batch_size))
    yield from result.partitions(batch_size)


def _stream_raw(session: Session, stmt: sa.Select[Any], *, batch_size: int) -> Iterator[Sequence[Sequence[Any]]]:
    """Like ``_stream``, but the driver's own tuples, untouched by SQLAlchemy (about a third faster).

    Only for statements whose values are constants of this module (they are written into the
    SQL) and whose columns need no conversion: text the database has already formatted.
    """
    connection = session.connection()
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    assert driver is not None
    # A named cursor is a server-side one on PostgreSQL (psycopg): rows come batch by batch.
    postgresql = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name="undersigned_export") if postgresql else driver.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(batch_size):
            yield batch
    finally:
        cursor.close()


def _csv_chunks(header: Sequence[str], batches: Iterable[Iterable[Sequence[Any]]]) -> Iterator[str]:
    """CSV text of ``header`` and the rows of ``batches`` (cells already safe), in chunks of about CSV_CHUNK."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for batch in batches:
        writer.writerows(batch)
        if buffer.tell() >= CSV_CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def public_csv(session: Session, letter_id: int, *, batch_size: int = CSV_BATCH_SIZE) -> Iterator[str]:
    """The public list as CSV text, oldest first (the same text as ``write_csv`` of ``public_rows``).

    The database writes each cell (formula guard, true/false, ISO time), so a row goes from the
    cursor to ``csv.writer`` untouched by Python code: that is what makes a million rows take seconds.
    """
    dialect = session.get_bind().dialect.name
    # Each public field's cell as SQL, in PUBLIC_FIELDS' order (a field added there without its
    # SQL here fails loudly).
    cells = {
        "name": _safe_text(Signature.name),
        "affiliation": _safe_text(Signature.affiliation),
        "country": _safe_text(Signature.country),
        "city": _safe_text(Signature.city),
        "comment": _safe_text(Signature.comment),
        "verified": sa.case((Signature.verified_at.is_(None), "false"), else_="true"),
        "signed_at": _iso_text(Signature.confirmed_at, dialect),
        "confirmed_domain": _safe_text(Signature.confirmed_domain),
        # The domain again, replaced below by its organisation's name (few rows have one).
        "confirmed_organisation": func.coalesce(Signature.confirmed_domain, ""),
    }
    assert PUBLIC_FIELDS[-1] == "confirmed_organisation"  # _with_organisations fills the last cell
    stmt = (
        select(*(cells[name] for name in PUBLIC_FIELDS))
        .where(Signature.letter_id == letter_id, *listed_terms(), _names_shown(letter_id))
        .order_by(Signature.confirmed_at, Signature.id)
    )
    batches = _stream_raw(session, stmt, batch_size=batch_size)
    return _csv_chunks(PUBLIC_FIELDS, (_with_organisations(session, batch) for batch in batches))


def _with_organisations(session: Session, batch: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """The batch with each row's last cell, a confirmed domain, turned into its organisation's name.

    One query for the batch, and none when no row in it shows a domain (most batches).
    """
    shown = {row[-1] for row in batch if row[-1]}
    if not shown:
        return batch
    owners = organisations_for(session, shown)
    return [
        (*row[:-1], formula_safe(owners[row[-1]].name) if row[-1] in owners else "") if row[-1] else row
        for row in batch
    ]


def all_csv(session: Session, letter_id: int, *, batch_size: int = CSV_BATCH_SIZE) -> Iterator[str]:
    """Every signature with every field as CSV text, by id (the same text as ``write_csv`` of ``all_rows``)."""
    batches = _all_batches(session, letter_id, batch_size=batch_size)
    return _csv_chunks(ALL_FIELDS, (([_cell(value) for value in row] for row in batch) for batch in batches))


def _all_batches(session: Session, letter_id: int, *, batch_size: int) -> Iterator[Sequence[Sequence[Any]]]:
    flags = select(func.count(Flag.id)).where(Flag.signature_id == Signature.id).correlate(Signature).scalar_subquery()
    open_flags = (
        select(func.count(Flag.id))
        .where(Flag.signature_id == Signature.id, Flag.resolved_at.is_(None))
        .correlate(Signature)
        .scalar_subquery()
    )
    computed = {"verified": Signature.verified_at.is_not(None), "flags": flags, "open_flags": open_flags}
    columns = [computed[name] if name in computed else getattr(Signature, name) for name in ALL_FIELDS]
    stmt = select(*columns).where(Signature.letter_id == letter_id).order_by(Signature.id)
    verified = ALL_FIELDS.index("verified")
    for batch in _stream(session, stmt, batch_size=batch_size):
        rows = [list(row) for row in batch]
        for row in rows:
            row[verified] = bool(row[verified])  # SQLite gives the test as 0 or 1
        yield rows
