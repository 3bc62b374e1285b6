"""Fake signers in bulk, for trying the site and measuring it at scale (never in production data).

Rows go straight to the database in batches (executemany on SQLite, COPY on PostgreSQL), around
the ORM. They look like real ones: names in several scripts, affiliations, countries, cities and
comments; most confirmed and public, some hidden (not public), some unconfirmed or held as
suspect. The letter's count grows by the confirmed, and the public log gets an ``add`` event for
each of them, built from the row just written (``log.new_events``, the same leaves as ``record``).

A worker process makes the rows and log events of the next batches while this one writes. A
million signers (2026-11-25, 2 cores shared with two other busy processes, load 3-4): 136 s on
SQLite and 92 s on PostgreSQL, against 262 s and 441 s when the log events were built from
Signatures loaded back through the ORM (180 s and 324 s on an idle machine).
"""

from __future__ import annotations

import gc
import multiprocessing
import random
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import log
from app.models import Letter, Signature, SignatureStatus
from app.services import counting, stats
from app.timestamps import iso

# (given names, family names, family name first?) per script.
NAMES: tuple[tuple[tuple[str, ...], tuple[str, ...], bool], ...] = (
    (
        ("Ada", "Grace", "Alan", "Maria", "José", "Chloé", "Søren", "Zoë", "Liam", "Aoife", "Jürgen", "Ana"),
        ("Lovelace", "Hopper", "Turing", "García", "Müller", "Nguyen", "O'Brien", "Kowalski", "Silva", "Dubois"),
        False,
    ),
    (("민지", "서연", "지훈", "하준", "수아"), ("김", "이", "박", "최", "정"), True),
    (("芳", "伟", "娜", "秀英", "敏"), ("王", "李", "张", "刘", "陈"), True),
    (("陽翔", "結衣", "蓮", "さくら"), ("佐藤", "鈴木", "高橋", "田中"), True),
    (("Ольга", "Иван", "Наталья", "Дмитрий"), ("Петрова", "Иванов", "Смирнова", "Кузнецов"), False),
    (("Νίκος", "Ελένη", "Γιώργος"), ("Παπαδόπουλος", "Οικονόμου", "Γεωργίου"), False),
    (("محمد", "فاطمة", "أحمد", "ليلى"), ("الحسن", "العلي", "خان"), False),
    (("आरव", "अनन्या", "विवान"), ("शर्मा", "पटेल", "सिंह"), False),
)
AFFILIATIONS = (
    "University of Edinburgh",
    "Universidad de Buenos Aires",
    "서울대학교",
    "北京大学",
    "Max Planck Institute",
    "Independent researcher",
    "Open Source Initiative",
    "Médecins du Monde",
    "Studio Ghibli",
    "Московский университет",
)
PLACES: tuple[tuple[str | None, str | None], ...] = (
    ("GB", "London"),
    ("AR", "Buenos Aires"),
    ("KR", "Seoul"),
    ("CN", "Beijing"),
    ("JP", "Tokyo"),
    ("DE", "Berlin"),
    ("FR", "Lyon"),
    ("IN", "Pune"),
    ("EG", "Cairo"),
    ("US", None),
    (None, None),
)
COMMENTS = ("Signed, with hope.", "더 나은 미래를 위해.", "为了我们的孩子。", "Enfin !", "Long overdue.", "Ja!")
DOMAINS = ("example.org", "example.com", "example.net", "mail.example", "uni.example.edu")

COLUMNS = (
    "id",
    "letter_id",
    "status",
    "name",
    "email",
    "email_key",
    "email_domain",
    "removal_reason",
    "founding",
    "affiliation",
    "country",
    "city",
    "comment",
    "public",
    "locale",
    "letter_version",
    "created_at",
    "confirmed_at",
)
# A signer's row: the values of COLUMNS, in order.
Row = tuple[
    int, int, str, str, str, str, str, str | None, bool, str | None, str | None, str | None, str | None, bool, str,
    int, datetime, datetime | None,
]  # fmt: skip
STATUS = COLUMNS.index("status")
CONFIRMED = SignatureStatus.CONFIRMED.value
EVENT_COLUMNS = ("letter_id", "signature_id", "event", "listed", "at", "leaf", "leaf_hash", "fields", "salt")
# Rows go in batches: the log events of a batch are written right after its signers.
BATCH = 20000


@dataclass(frozen=True)
class SeedResult:
    """What a seeding run stored."""

    signatures: int
    confirmed: int


def _name_pool(rng: random.Random, size: int = 4096) -> list[str]:
    """Names written as people of each script write them (family name first where usual)."""
    pool = []
    for _ in range(size):
        given, family, family_first = NAMES[rng.randrange(len(NAMES))] if rng.random() < 0.6 else NAMES[0]
        first_name, last_name = rng.choice(given), rng.choice(family)
        if not family_first:
            pool.append(f"{first_name} {last_name}")
        else:
            pool.append(last_name + first_name)
    return pool


def _mix(n: int) -> int:
    """A cheap, well-spread hash of ``n`` (Fibonacci hashing): per-row choices without a generator call."""
    return (n * 11400714819323198485) & 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class _Plan:
    """What every batch of a seeding run needs to make its rows."""

    letter_id: int
    now: datetime
    count: int
    names: tuple[str, ...]
    sqlite: bool
    logging: bool


def _signers(plan: _Plan, ids: Sequence[int], offset: int) -> Iterator[Row]:
    """Rows for a signer per id in ``ids`` (the ``offset``-th of the run onwards), over the last 60 days."""
    pool, letter_id = plan.names, plan.letter_id
    span = timedelta(days=60)
    step = span / max(plan.count, 1)
    start = plan.now - span + step * offset
    confirm_delay = timedelta(minutes=5)
    for i, n in enumerate(ids):
        mixed = _mix(n)
        roll = (mixed >> 32) % 1000
        # About 3% unconfirmed, 0.5% held as suspect, 0.5% hidden by moderators, the rest confirmed.
        status = "unconfirmed" if roll < 30 else "suspect" if roll < 35 else "hidden" if roll < 40 else "confirmed"
        country, city = PLACES[n % len(PLACES)]
        email = f"signer{n:09d}@{DOMAINS[n % len(DOMAINS)]}"
        created = start + step * i
        yield (
            n,
            letter_id,
            status,
            pool[mixed >> 52],
            email,
            email,
            DOMAINS[n % len(DOMAINS)],
            "fake" if status == "hidden" else None,
            False,
            AFFILIATIONS[n % len(AFFILIATIONS)] if n % 4 else None,
            country,
            city,
            COMMENTS[n % len(COMMENTS)] if n % 10 == 0 else None,
            (mixed >> 16) % 100 >= 5,  # about one in twenty signs without showing the name
            "en",
            1,  # the letter's first version, as the column's default
            created,
            created + confirm_delay if status in ("confirmed", "hidden") else None,
        )


def _events(plan: _Plan, rows: list[Row], at: object) -> Iterator[tuple[object, ...]]:
    """The log's ``add`` event of each confirmed signer, from the very values stored (no reload).

    ``at`` is ``plan.now`` as the database takes it (on SQLite, text).
    """
    listed = (
        (
            id_,
            log.fields_of(
                {
                    "id": id_,
                    "name": name,
                    "affiliation": affiliation,
                    "country": country,
                    "city": city,
                    "comment": comment,
                    "signed_at": iso(confirmed_at),
                    "verified": False,  # verified_at is not set
                    "founding": founding,
                    "version": version,
                    "confirmed_domain": None,  # nor is confirmed_domain
                }
            )
            if public
            else None,
        )
        for (id_, _, status, name, _, _, _, _, founding, affiliation, country, city, comment, public, _, version, _,
             confirmed_at) in rows
        if status == CONFIRMED
    )  # fmt: skip
    for e in log.new_events(plan.letter_id, "add", now=plan.now, signatures=listed):
        # In the order of EVENT_COLUMNS.
        yield (
            e["letter_id"],
            e["signature_id"],
            "add",
            e["listed"],
            at,
            e["leaf"],
            e["leaf_hash"],
            e["fields"],
            e["salt"],
        )


# A batch as written: the signers' rows, their log events, how many are confirmed and hidden.
Batch = tuple[list[tuple[object, ...]], list[tuple[object, ...]], int, int]


def _batch(plan: _Plan, ids: Sequence[int], offset: int) -> Batch:
    """Everything Python does for one batch, ready for executemany or COPY (runs in a worker process)."""
    rows = list(_signers(plan, ids, offset))
    statuses = [row[STATUS] for row in rows]
    events: list[tuple[object, ...]] = []
    if plan.logging:
        events = list(_events(plan, rows, _sqlite_time(plan.now) if plan.sqlite else plan.now))
    stored: list[tuple[object, ...]] = list(_sqlite_rows(rows)) if plan.sqlite else list(rows)
    return stored, events, statuses.count(CONFIRMED), statuses.count(SignatureStatus.HIDDEN.value)


def _batches(plan: _Plan, ids: Sequence[int]) -> Iterator[Batch]:
    """The run's batches in order; made by a worker process while this one writes, when there are several.

    Making the rows and log events takes about as long as writing them, so the two overlap. At
    most three batches are under way, so memory stays flat however many signers are asked for.
    """
    slices = [(ids[start : start + BATCH], start) for start in range(0, len(ids), BATCH)]
    if len(slices) < 2:
        yield from (_batch(plan, part, offset) for part, offset in slices)
        return
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as worker:
        waiting: deque[Future[Batch]] = deque()
        for part, offset in slices:
            waiting.append(worker.submit(_batch, plan, part, offset))
            if len(waiting) > 2:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()


def _sqlite_time(value: object) -> object:
    """A timestamp as SQLAlchemy stores it on SQLite: naive UTC text, always with microseconds
    (the text is compared in order, so "12:00:00" and "12:00:00.000000" must not both occur)."""
    if not isinstance(value, datetime):
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_rows(rows: Iterable[Row]) -> Iterator[tuple[object, ...]]:
    """Signature rows with their two timestamps (the last columns) as SQLite stores them."""
    for row in rows:
        yield (*row[:-2], _sqlite_time(row[-2]), _sqlite_time(row[-1]))


def _insert(table: str, columns: tuple[str, ...]) -> str:
    """An INSERT of one row of ``columns`` (constants of this module) for executemany."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"  # noqa: S608


def _fill_sqlite(
    raw: sqlite3.Connection, batches: Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]], *, first: int
) -> None:
    """Insert the batches, then index the signers for search in one pass (7x faster than row by row).

    The search triggers are put back as they were, in the same transaction: if anything fails,
    the rollback restores it too.
    """
    cursor = raw.cursor()
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MB while building the indexes
    triggers = cursor.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?)",
        ("signatures_fts_insert", "signatures_email_fts_insert"),
    ).fetchall()
    for name, _sql in triggers:
        cursor.execute(f"DROP TRIGGER {name}")
    signatures, events = _insert("signatures", COLUMNS), _insert("log_events", EVENT_COLUMNS)
    for rows, logged in batches:
        cursor.executemany(signatures, rows)
        cursor.executemany(events, logged)
    if triggers:
        cursor.execute(
            "INSERT INTO signatures_fts(rowid, name, affiliation) SELECT id, name, affiliation FROM signatures "
            "WHERE id >= ?",
            (first,),
        )
        cursor.execute(
            "INSERT INTO signatures_email_fts(rowid, email_key) SELECT id, email_key FROM signatures WHERE id >= ?",
            (first,),
        )
    for _name, sql in triggers:
        cursor.execute(sql)


def _copy(cursor: object, table: str, columns: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> None:
    """COPY the rows into ``table`` (PostgreSQL): one round trip per megabyte, not per row."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)


def _fill_postgresql(
    cursor: Any, batches: Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]], *, count: int
) -> None:
    """COPY the batches; when they at least double the table, build its trigram indexes after, in one pass.

    Keeping a GIN index up to date row by row costs more than building it again from all the
    rows. DROP and CREATE INDEX are part of the transaction (a failure restores them), and the
    table stays locked until it commits: this is a tool for development databases.
    """
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'signatures'::regclass")
    rebuilt: list[tuple[str, str]] = []
    if count >= max(cursor.fetchone()[0], 0):
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'signatures' AND indexdef LIKE '% USING gin %'"
        )
        rebuilt = cursor.fetchall()
    for name, _sql in rebuilt:
        cursor.execute(f'DROP INDEX "{name}"')
    for rows, events in batches:
        _copy(cursor, "signatures", COLUMNS, rows)
        if events:
            _copy(cursor, "log_events", EVENT_COLUMNS, events)
    if rebuilt:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _name, sql in rebuilt:
            cursor.execute(sql)


def _new_ids(session: Session, count: int) -> Sequence[int]:
    """Ids for ``count`` new signatures, known before they are written (each event names its signer's).

    SQLite: the next ones after the largest, since this transaction holds the write lock from
    its start. PostgreSQL: drawn from the sequence, so that concurrent signings never take them.
    """
    if session.get_bind().dialect.name == "sqlite":
        first = (session.scalar(sa.select(sa.func.max(Signature.id))) or 0) + 1
        return range(first, first + count)
    ids = session.scalars(
        sa.text("SELECT nextval(pg_get_serial_sequence('signatures', 'id')) FROM generate_series(1, :count)"),
        {"count": count},
    ).all()
    # Usually one run of numbers: keep it as a range rather than a million ints.
    return range(ids[0], ids[0] + count) if ids[-1] - ids[0] == count - 1 else ids


def seed_signatures(session: Session, letter: Letter, count: int, *, now: datetime, seed: int = 1) -> SeedResult:
    """Add ``count`` fake signers to ``letter`` and raise its count by the confirmed ones.

    The public log takes the confirmed ones in too, as if each had confirmed by email (unless
    LOG_ENABLED is false): the same ``add`` events as ``log.record`` writes, built from the rows.
    """
    rng = random.Random(seed)  # noqa: S311 (fake data, not secrets)
    sqlite = session.get_bind().dialect.name == "sqlite"
    plan = _Plan(letter.id, now, count, tuple(_name_pool(rng)), sqlite, log.enabled(session))
    ids = _new_ids(session, count)
    confirmed = hidden = 0

    def counted() -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
        nonlocal confirmed, hidden
        for rows, events, batch_confirmed, batch_hidden in _batches(plan, ids):
            confirmed += batch_confirmed
            hidden += batch_hidden
            yield rows, events

    connection = session.connection()
    raw = connection.connection.driver_connection
    assert raw is not None
    # Millions of short-lived tuples and no cycles among them: the cyclic collector would walk
    # them over and over for nothing (a tenth of the time when it ran).
    collecting = gc.isenabled()
    gc.disable()
    try:
        if sqlite:
            _fill_sqlite(raw, counted(), first=ids[0])
        else:
            with raw.cursor() as cursor:
                _fill_postgresql(cursor, counted(), count=count)
    finally:
        if collecting:
            gc.enable()
    counting.add_to_count(session, letter.id, confirmed, now=now)
    stats.catch_up(session, letter.id)
    if hidden:
        counting.add_to_tally(session, letter.id, "removed:fake", hidden)
    return SeedResult(signatures=count, confirmed=confirmed)


SEED_LETTER = """---
title: A letter signed by very many people
slug: {slug}
---
We, the undersigned, are **many**. This letter was filled with fake signers to try the site at scale.
"""


def seed_letter_text(slug: str) -> str:
    """The Markdown of a letter made for seeding, when the slug does not exist yet."""
    return SEED_LETTER.format(slug=slug)
