"""Text search: one interface over SQLite FTS5 and PostgreSQL pg_trgm, in sync, never a table scan."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import db, utcnow
from app.models import Letter, Signature, SignatureStatus
from app.services import search
from app.services.search import MODERATOR_FIELDS, PUBLIC_FIELDS, SearchField


def add(app: Flask, letter: Letter, name: str, email: str, affiliation: str | None = None) -> int:
    with app.app_context(), db.transaction() as session:
        signature = Signature(
            letter_id=letter.id,
            name=name,
            email=email,
            email_key=email.lower(),
            affiliation=affiliation,
            status=SignatureStatus.CONFIRMED,
            confirmed_at=utcnow(),
        )
        session.add(signature)
        session.flush()
        return signature.id


def found(app: Flask, query: str, fields: Sequence[SearchField] = PUBLIC_FIELDS) -> list[str]:
    with app.app_context():
        session = db.session
        condition = search.matching(session, search.clean_query(query), fields)
        return sorted(session.scalars(sa.select(Signature.name).where(condition)))


@pytest.fixture
def people(app: Flask, letter: Letter) -> dict[str, int]:
    return {
        "ada": add(app, letter, "Ada Lovelace", "Ada@Analytical.example", "Analytical Engines"),
        "minji": add(app, letter, "김민지", "minji@hangul.example"),
        "wang": add(app, letter, "王芳", "wang@han.example", "北京大学"),
        "olga": add(app, letter, "Ольга Петрова", "olga@cyrillic.example", 'The "Quoted" Lab'),
    }


def test_substrings_in_any_script_case_insensitive(app: Flask, people: dict[str, int]) -> None:
    assert found(app, "lovel") == ["Ada Lovelace"]
    assert found(app, "LOVELACE") == ["Ada Lovelace"]
    assert found(app, "engine") == ["Ada Lovelace"]  # affiliation
    assert found(app, "김민지") == ["김민지"]
    assert found(app, "北京大") == ["王芳"]
    assert found(app, "петр") == ["Ольга Петрова"]
    assert found(app, '"quoted"') == ["Ольга Петрова"]  # quotes are text, not query syntax
    assert found(app, "nobody here") == []


def test_short_queries_match_the_beginning_of_names(app: Flask, people: dict[str, int]) -> None:
    assert found(app, "王芳") == ["王芳"]
    assert found(app, "ad") == ["Ada Lovelace"]
    assert found(app, "a") == ["Ada Lovelace"]
    assert found(app, "芳") == []


def test_email_and_domain_only_for_moderators(app: Flask, people: dict[str, int]) -> None:
    assert found(app, "hangul.example") == []
    assert found(app, "hangul.example", MODERATOR_FIELDS) == ["김민지"]
    assert found(app, "ada@analytical.example", MODERATOR_FIELDS) == ["Ada Lovelace"]
    assert found(app, "@han.", MODERATOR_FIELDS) == ["王芳"]


def test_the_index_follows_updates_and_deletes(app: Flask, people: dict[str, int]) -> None:
    with app.app_context(), db.transaction() as session:
        session.execute(sa.update(Signature).where(Signature.id == people["ada"]).values(name="Augusta King"))
        session.execute(sa.delete(Signature).where(Signature.id == people["olga"]))
    assert found(app, "lovelace") == []
    assert found(app, "augusta") == ["Augusta King"]
    assert found(app, "петр") == []


def test_an_empty_query_is_refused() -> None:
    with pytest.raises(ValueError):
        search.matching(None, "")  # type: ignore[arg-type]


def test_clean_query_drops_control_characters_and_trims() -> None:
    assert search.clean_query("  a\x00b\tc  ") == "abc"
    assert len(search.clean_query("x" * 500)) == search.MAX_QUERY_LENGTH


@pytest.mark.parametrize("query", ["lovelace", "ad"])
def test_search_never_scans_the_table(app: Flask, letter: Letter, people: dict[str, int], query: str) -> None:
    with app.app_context():
        session = db.session
        stmt = sa.select(Signature.id).where(
            Signature.letter_id == letter.id, search.matching(session, query, MODERATOR_FIELDS)
        )
        compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        if session.get_bind().dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "SCAN signatures " not in plan + " ", plan
        else:
            # A table this small is cheaper to scan; forbid that to see that an index can answer.
            session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in session.execute(sa.text(f"EXPLAIN {compiled}")))
            assert "Seq Scan" not in plan, plan
