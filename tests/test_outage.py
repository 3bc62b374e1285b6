"""A database that cannot be reached is the service's trouble for a moment, not the visitor's error.

Every request that needs it gets a 503 with Retry-After and a sentence a person understands (JSON on
the API), never a 500 or a stack trace, and the log says so once per few seconds, not per request.
The whole fault (PostgreSQL restarted under a signing load, and the site recovering by itself) is
in tests/test_faults.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.db import database_unavailable, db
from tests.conftest import _config
from tests.support import ManualClock, free_port

pytestmark = pytest.mark.engines

PAGES = ("/", "/letters/open-letter", "/letters/open-letter/signatures", "/letters/open-letter/signatures/7")


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_app(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Flask]:
    """An app whose database cannot be reached: a folder that is not there, or a port nobody listens on."""
    url = {
        "sqlite": f"sqlite:///{tmp_path}/no-such-folder/undersigned.db",
        "postgresql": f"postgresql://postgres@127.0.0.1:{free_port()}/undersigned",
    }[request.param]
    app = create_app(_config(url, tmp_path, WTF_CSRF_ENABLED=False), clock=clock)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_pages_forms_and_the_api_answer_503_with_retry_after_and_plain_words(unreachable_app: Flask) -> None:
    client = unreachable_app.test_client()
    form = {"name": "Ada Lovelace", "email": "ada@example.org", "public": "y"}
    answers = [client.get(path) for path in PAGES]
    answers.append(client.post("/letters/open-letter/sign", data=form))
    for response in answers:
        page = response.get_data(as_text=True)
        assert response.status_code == 503, (response.request.path, page[:300])
        assert response.headers["Retry-After"] == "5"
        assert response.headers["Cache-Control"] == "no-store"
        assert "cannot reach its database for a moment" in page
        assert "sending the form again is safe" in page
        assert "Traceback" not in page and "psycopg" not in page and "sqlite3" not in page
        if response.request.method == "GET":  # the way on is the same address, in a few seconds
            assert f'<a href="{response.request.path}">Try again</a>' in page
    api = client.get("/api/v1/letters/open-letter")
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "5"
    assert api.get_json()["error"] == "unavailable"
    assert "try again in a few seconds" in api.get_json()["message"]


def test_the_503_page_speaks_the_visitors_language(unreachable_app: Flask) -> None:
    response = unreachable_app.test_client().get("/letters/open-letter", headers={"Accept-Language": "ko"})
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert '<html lang="ko">' in page
    assert "데이터베이스" in page
    assert "cannot reach" not in page


def test_the_setting_sets_retry_after(tmp_path: Path) -> None:
    app = create_app(
        _config(f"postgresql://postgres@127.0.0.1:{free_port()}/undersigned", tmp_path, UNAVAILABLE_RETRY_AFTER=30)
    )
    assert app.test_client().get("/letters/open-letter").headers["Retry-After"] == "30"
    with app.app_context():
        db.engine.dispose()


def test_an_outage_is_logged_once_per_ten_seconds_with_the_count_between(
    unreachable_app: Flask, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = unreachable_app.test_client()
    caplog.set_level(logging.WARNING, logger="app.web")

    def reports() -> list[str]:
        return [record.getMessage() for record in caplog.records if "database unavailable" in record.getMessage()]

    for _ in range(5):
        client.get("/letters/open-letter")
    assert len(reports()) == 1
    assert reports()[0].startswith("database unavailable on GET /letters/<slug>, answered 503: ")
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    clock.advance(10)
    client.get("/letters/open-letter")
    assert len(reports()) == 2
    assert "(4 more since the last report)" in reports()[1]


def test_only_an_unreachable_database_is_a_503_not_a_bug(app: Flask, letter: object) -> None:
    import sqlalchemy as sa

    with app.app_context():
        try:
            db.session.execute(sa.text("SELECT * FROM no_such_table"))
        except sa.exc.DBAPIError as error:
            bug = error
        else:
            raise AssertionError("the query should fail")
    # A missing table is a programming error on PostgreSQL (a 500, logged with its traceback); SQLite
    # calls every error an OperationalError, and there a 503 is the safe answer.
    assert database_unavailable(bug) == (bug.orig.__class__.__module__.startswith("sqlite3"))
