"""Text search: one interface over SQLite FTS5 and PostgreSQL pg_trgm, in sync, never a table scan."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Letter, Signature, SignatureStatus
from app.services.queries import search
from app.services.queries.search import MODERATOR_FIELDS, PUBLIC_FIELDS, SearchField
from tests import factories
from tests.support import query_plan, recorded_sql, write

pytestmark = pytest.mark.engines


def add(session: Session, letter: Letter, name: str, email: str, affiliation: str | None = None) -> int:
    return factories.signer(session, letter.id, name=name, email=email, affiliation=affiliation).id


def found(session: Session, query: str, fields: Sequence[SearchField] = PUBLIC_FIELDS) -> list[str]:
    condition = search.matching(session, search.clean_query(query), fields)
    return sorted(session.scalars(sa.select(Signature.name).where(condition)))


@pytest.fixture
def people(session: Session, letter: Letter) -> dict[str, int]:
    return {
        "ada": add(session, letter, "Ada Lovelace", "Ada@Analytical.example", "Analytical Engines"),
        "minji": add(session, letter, "김민지", "minji@hangul.example"),
        "wang": add(session, letter, "王芳", "wang@han.example", "北京大学"),
        "olga": add(session, letter, "Ольга Петрова", "olga@cyrillic.example", 'The "Quoted" Lab'),
    }


def test_substrings_in_any_script_case_insensitive(session: Session, people: dict[str, int]) -> None:
    assert found(session, "lovel") == ["Ada Lovelace"]
    assert found(session, "LOVELACE") == ["Ada Lovelace"]
    assert found(session, "engine") == ["Ada Lovelace"]  # affiliation
    assert found(session, "김민지") == ["김민지"]
    assert found(session, "北京大") == ["王芳"]
    assert found(session, "петр") == ["Ольга Петрова"]
    assert found(session, '"quoted"') == ["Ольга Петрова"]  # quotes are text, not query syntax
    assert found(session, "nobody here") == []


def test_short_queries_match_the_beginning_of_names(session: Session, people: dict[str, int]) -> None:
    assert found(session, "王芳") == ["王芳"]
    assert found(session, "ad") == ["Ada Lovelace"]
    assert found(session, "a") == ["Ada Lovelace"]
    assert found(session, "芳") == []


def test_email_and_domain_only_for_moderators(session: Session, people: dict[str, int]) -> None:
    assert found(session, "hangul.example") == []
    assert found(session, "hangul.example", MODERATOR_FIELDS) == ["김민지"]
    assert found(session, "ada@analytical.example", MODERATOR_FIELDS) == ["Ada Lovelace"]
    assert found(session, "@han.", MODERATOR_FIELDS) == ["王芳"]


def test_the_index_follows_updates_and_deletes(session: Session, people: dict[str, int]) -> None:
    session.execute(sa.update(Signature).where(Signature.id == people["ada"]).values(name="Augusta King"))
    session.execute(sa.delete(Signature).where(Signature.id == people["olga"]))
    assert found(session, "lovelace") == []
    assert found(session, "augusta") == ["Augusta King"]
    assert found(session, "петр") == []


def test_an_empty_query_is_refused() -> None:
    with pytest.raises(ValueError):
        search.matching(None, "")  # type: ignore[arg-type]


def test_clean_query_drops_control_characters_and_trims() -> None:
    assert search.clean_query("  a\x00b\tc  ") == "abc"
    assert len(search.clean_query("x" * 500)) == search.MAX_QUERY_LENGTH


@pytest.mark.parametrize("query", ["lovelace", "ad"])
def test_search_never_scans_the_table(session: Session, letter: Letter, people: dict[str, int], query: str) -> None:
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


# Signers the public list never shows, each under a name of its own, and the query that finds it.
UNLISTED = {
    "hidden": ("Xavier Hiddenfield", {"status": SignatureStatus.HIDDEN}),
    "not public": ("Yusuf Unlistedson", {"public": False}),
    "unconfirmed": ("Wilma Unconfirmova", {"status": SignatureStatus.UNCONFIRMED, "confirmed_at": None}),
    "held": ("Vera Heldmann", {"status": SignatureStatus.SUSPECT, "confirmed_at": None}),
    "pending": ("Ulla Pendingsen", {"status": SignatureStatus.PENDING}),
    "awaiting review": ("Tobias Reviewwait", {"unlisted_until_review": True}),
}


def _public_search_sql(app: Flask, client: FlaskClient, path: str, query: str) -> list[str]:
    """The SQL statements (text, without parameters) sent while ``path`` answers a search for ``query``."""
    with recorded_sql(app) as seen:
        assert client.get(path, query_string={"q": query}).status_code == 200
    return [" ".join(text.split()) for text, _ in seen]


@pytest.mark.settings(PAGE_CACHE_SECONDS=0)
@pytest.mark.parametrize("path", ["/letters/test-letter/signatures", "/api/v1/letters/test-letter/signatures"])
@pytest.mark.parametrize("length", ["whole name", "two letters"])
def test_public_search_does_the_same_work_for_an_unlisted_signer_as_for_nobody(
    app: Flask, client: FlaskClient, letter: Letter, path: str, length: str
) -> None:
    """A search for an unlisted, hidden or unconfirmed signer's name sends the very statements a
    search for a name nobody has sends: the text index is asked only about listed signers, so
    neither the answer nor the work behind it (a second query, its time) tells who signed."""

    def one_listed_and_the_unlisted(session: Session) -> None:
        add(session, letter, "Ada Lovelace", "ada@example.org")
        for name, fields in UNLISTED.values():
            email = f"{name.split()[0].lower()}@example.org"
            values = {"status": SignatureStatus.CONFIRMED, "confirmed_at": utcnow()} | fields
            session.add(Signature(letter_id=letter.id, name=name, email=email, email_key=email, **values))

    write(app, one_listed_and_the_unlisted)

    def shorten(name: str) -> str:
        return name if length == "whole name" else name[:2]

    _public_search_sql(app, client, path, shorten("Tamsin Warmup"))  # whatever a first request reads once
    nobody = _public_search_sql(app, client, path, shorten("Nadia Nobodyssen"))
    assert nobody, "a search reads the database"
    searched = {who: _public_search_sql(app, client, path, shorten(name)) for who, (name, _) in UNLISTED.items()}
    assert searched == dict.fromkeys(UNLISTED, nobody)
    # And a listed signer is found, so the searches above did search.
    assert "Ada Lovelace" in client.get(path, query_string={"q": shorten("Ada Lovelace")}).get_data(as_text=True)


@pytest.mark.parametrize(("query", "index"), [("lovelace", "signatures_fts"), ("ad", "ix_signatures_name_nocase")])
def test_the_listed_matches_are_found_from_the_text_index(
    app: Flask, session: Session, letter: Letter, people: dict[str, int], query: str, index: str
) -> None:
    """The count of listed matches starts from the text index and looks each match up by its key.

    SQLite would rather walk the letter's listing index and test each row against the matches
    (a whole-letter read for every search) unless the statement is written for the other order.
    """
    with recorded_sql(app) as seen:
        assert search.few_matching_ids(session, letter.id, query) == [people["ada"]]
    (statement,) = [item for item in seen if item[0].lstrip().upper().startswith("SELECT")]
    plan = query_plan(app, statement)
    if app.config["DATABASE_URL"].startswith("sqlite"):
        assert index in plan.split("SEARCH signatures USING INTEGER PRIMARY KEY")[0], plan
        assert "ix_signatures_listing" not in plan and "SCAN signatures " not in plan + " ", plan
    else:
        assert "Seq Scan" not in plan, plan
