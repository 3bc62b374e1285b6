"""Fake signers in bulk, for trying the site and measuring it at scale (never in production data).

Rows go straight to the database in large batches (executemany on SQLite, COPY on PostgreSQL),
around the ORM, so a million signers take seconds. They look like real ones: names in several
scripts, affiliations, countries, cities and comments; most confirmed and public, some hidden
(not public), some unconfirmed or held as suspect. The letter's count grows by the confirmed.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import Letter, Signature, SignatureStatus
from app.services import counting, log

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
    "created_at",
    "confirmed_at",
)


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


def _signers(
    letter_id: int, count: int, *, now: datetime, first: int, rng: random.Random
) -> Iterator[tuple[object, ...]]:
    """Rows for ``count`` signers, oldest first, signing over the last 60 days."""
    pool = _name_pool(rng)
    span = timedelta(days=60)
    start = now - span
    step = span / max(count, 1)
    confirm_delay = timedelta(minutes=5)
    for n in range(first, first + count):
        mixed = _mix(n)
        roll = (mixed >> 32) % 1000
        # About 3% unconfirmed, 0.5% held as suspect, 0.5% hidden by moderators, the rest confirmed.
        status = "unconfirmed" if roll < 30 else "suspect" if roll < 35 else "hidden" if roll < 40 else "confirmed"
        country, city = PLACES[n % len(PLACES)]
        email = f"signer{n:09d}@{DOMAINS[n % len(DOMAINS)]}"
        created = start + step * (n - first)
        yield (
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
            created,
            created + confirm_delay if status in ("confirmed", "hidden") else None,
        )


def _sqlite_rows(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """Timestamps as SQLAlchemy stores them on SQLite: naive UTC text, always with microseconds
    (the text is compared in order, so "12:00:00" and "12:00:00.000000" must not both occur)."""
    for row in rows:
        created, confirmed = row[-2], row[-1]
        assert isinstance(created, datetime)
        yield (
            *row[:-2],
            created.replace(tzinfo=None).isoformat(" ", "microseconds"),
            confirmed.replace(tzinfo=None).isoformat(" ", "microseconds") if isinstance(confirmed, datetime) else None,
        )


def _insert_sqlite(raw: sqlite3.Connection, rows: Iterator[tuple[object, ...]], *, first: int) -> None:
    """Insert the rows, then index them for search in one pass (7x faster than row by row).

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
    placeholders = ", ".join("?" for _ in COLUMNS)
    insert = f"INSERT INTO signatures ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 (constants)
    cursor.executemany(insert, _sqlite_rows(rows))
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


def _copy_rows(cursor: object, rows: Iterator[tuple[object, ...]]) -> None:
    """COPY the rows into signatures (PostgreSQL): one round trip per megabyte, not per row."""
    statement = f"COPY signatures ({', '.join(COLUMNS)}) FROM STDIN"
    with cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)


def seed_signatures(session: Session, letter: Letter, count: int, *, now: datetime, seed: int = 1) -> SeedResult:
    """Add ``count`` fake signers to ``letter`` and raise its count by the confirmed ones."""
    rng = random.Random(seed)  # noqa: S311 (fake data, not secrets)
    first = (session.scalar(sa.select(sa.func.max(Signature.id))) or 0) + 1
    confirmed = hidden = 0

    def counted(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
        nonlocal confirmed, hidden
        for row in rows:
            confirmed += row[1] == SignatureStatus.CONFIRMED.value
            hidden += row[1] == SignatureStatus.HIDDEN.value
            yield row

    rows = counted(_signers(letter.id, count, now=now, first=first, rng=rng))
    connection = session.connection()
    raw = connection.connection.driver_connection
    assert raw is not None
    if connection.dialect.name == "sqlite":
        _insert_sqlite(raw, rows, first=first)
    else:
        with raw.cursor() as cursor:
            _copy_rows(cursor, rows)
    counting.add_to_count(session, letter.id, confirmed, now=now)
    # The public log takes the confirmed ones in too, as if each had confirmed by email.
    log.record_confirmed(session, letter.id, first, now=now)
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
