"""Fixtures: an app on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL, a real SMTP server.

Which database a test runs on: a test that uses the ``database_url`` fixture (through ``app``,
``client``, ``letter``…) runs on SQLite only, unless it is marked ``@pytest.mark.engines``: then it
runs once on each engine. Mark a test (or a whole module, with ``pytestmark``) ``engines`` when
what it checks could differ between SQLite and PostgreSQL: queries and their plans, locking and
concurrency, migrations, search, counting and tallies, the public log, purges by date, values
one engine stores and the other refuses (NUL characters, huge numbers), anything with SQL that
is spelt per dialect. Pages, headers, templates, translations, rate limits, caches and the
browser run on SQLite only. When in doubt, mark it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, settings
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app
from app.db import Base, db, utcnow
from app.models import Letter, Moderator, ModeratorRole
from app.moderation import accounts
from tests import factories
from tests.factories import LETTER_TEXT
from tests.support import IN_CI, ManualClock, SMTPSink, marked_settings, require

# The browser fixtures, registered once: a session fixture imported into two test modules would be
# two fixtures, and two Playwright drivers in one process do not work.
pytest_plugins = ["tests.browser_support"]

# Hypothesis: in CI (CI=true) the same examples on every run, with no example database, so a run
# passes or fails on the code alone; elsewhere fresh random examples each run, and the database in
# .hypothesis/ replays past failures first. Both print the blob that reproduces a failure
# (@reproduce_failure); a failure found once is then kept in its test as an @example. No deadlines:
# a loaded machine is slow, not wrong. `pytest --hypothesis-profile NAME` chooses another.
settings.register_profile(
    "ci",
    parent=settings.get_profile("default"),
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", parent=settings.get_profile("default"), print_blob=True, deadline=None)
settings.load_profile("ci" if IN_CI else "dev")

# Argon2 at the site's cost (64 MiB, 3 passes) takes about half a second a hash or a check, and the
# suite makes and checks hundreds of moderators' passwords. In this process they use argon2-cffi's
# profile made for tests; test_moderation holds the site's own parameters (and a hash the CLI makes
# in a process of its own) to RFC 9106's.
accounts.password_hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates kept for the whole test process, not thrown away with each app.

    Every test makes an app, and each app's Jinja environment would compile every template it
    renders again (about half a second for all of them). Jinja keys the bytecode on the template's
    name and a checksum of its source, so a changed template is compiled afresh.
    """

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self.compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()

BACKENDS = ["sqlite", "postgresql"]
SEEDED_TABLES = {"watch_names"}


def _migrate(url: str, tmp: Path) -> None:
    app = create_app(_config(url, tmp))
    with app.app_context():
        runner = app.test_cli_runner()
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output + repr(result.exception)
        db.engine.dispose()


def _config(url: str, tmp: Path, **overrides: Any) -> dict[str, Any]:
    config = {
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-" + "x" * 40,
        "BASE_URL": "http://localhost",
        "MAIL_SERVER": None,
        "MAIL_OUTBOX_DIR": str(tmp / "mail"),
        # Each test's own download files (the default, the instance folder, is shared by every test).
        "EXPORT_CACHE_DIR": str(tmp / "exports"),
        "PREVIEW_DIR": str(tmp / "previews"),
        "DELIVERY_DIR": str(tmp / "delivery"),
        "EMAIL_CHECK_DELIVERABILITY": False,
        "SERVER_NAME": None,
        # Tests fill forms in milliseconds; the bot tests set their own minimum.
        "SIGN_MIN_SECONDS": 0,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file with every migration applied, copied for each test."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    _migrate(f"sqlite:///{path}", folder)
    return path


def _worker_suffix() -> str:
    # The checkout's path too, so that two checkouts can run their suites at once.
    checkout = hashlib.sha256(str(Path(__file__).resolve().parent).encode()).hexdigest()[:8]
    return checkout + "_" + re.sub(r"\W", "", os.environ.get("PYTEST_XDIST_WORKER", "main"))


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated PostgreSQL database of this test worker's own (dropped at the end)."""
    base = os.environ.get("TEST_DATABASE_URL")
    require(bool(base), "TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    assert base is not None
    admin_url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"undersigned_test_{_worker_suffix()}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        require(False, f"PostgreSQL at TEST_DATABASE_URL is not reachable: {exc}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    _migrate(url, tmp_path_factory.mktemp("pg"))
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _truncate(url: str) -> None:
    engine = sa.create_engine(url)
    # Tables the migrations fill (the watch list) keep their rows, as on a real site.
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables if table.name not in SEEDED_TABLES)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests that use a database on SQLite, and those marked ``engines`` on both engines."""
    if "database_url" in metafunc.fixturenames:
        engines = BACKENDS if metafunc.definition.get_closest_marker("engines") else BACKENDS[:1]
        metafunc.parametrize("database_url", engines, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test: SQLite, or each engine for a test marked ``engines``."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        yield url
        _truncate(url)


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Overrides a test may change before the app is made: ``@pytest.mark.settings(NAME=value)``."""
    return marked_settings(request)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that stands still until the test moves it on; the app runs by it when a test asks for both."""
    return ManualClock()


@pytest.fixture
def app(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, app_config: dict[str, Any]
) -> Iterator[Flask]:
    """The application on this test's database, with CSRF on as in production."""
    # The system's clock, unless the test asks for the `clock` fixture (then the app's time is the test's).
    clock = request.getfixturevalue("clock") if "clock" in request.fixturenames else None
    application = create_app(_config(database_url, tmp_path, **app_config), clock=clock)
    application.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session in one transaction that is rolled back after the test: the test leaves nothing behind.

    The app's own sessions (requests through ``client``, the CLI runner, ``db.transaction()``) join
    the same transaction on the same connection, each of their commits only releasing a savepoint
    (SQLAlchemy's "joining a session into an external transaction"), so the test and the app see
    each other's writes. For tests that set data up and read it back; a test whose data another
    connection, thread or process must see (concurrency, workers, browsers, servers) commits for
    real instead.
    """
    with app.app_context():
        engine = db.engine
    sessions = db.sessionmaker_of(app)
    connection = engine.connect()
    outer = connection.begin()
    sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
    joined = sessions()
    try:
        yield joined
    finally:
        joined.close()
        outer.rollback()
        connection.close()
        sessions.configure(bind=engine, join_transaction_mode="conservative_savepoint")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """The app's CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def create_letter(app: Flask) -> Callable[..., Letter]:
    """Make a letter from front matter fields (a Markdown file's worth)."""

    def make(text: str = LETTER_TEXT, *, slug: str | None = None, featured: bool = False, **fields: Any) -> Letter:
        with app.app_context(), db.transaction() as session:
            made = factories.letter(session, text, slug=slug, featured=featured, **fields)
            session.expunge(made)
            return made

    return make


@pytest.fixture
def create_moderator(app: Flask) -> Callable[..., Moderator]:
    """Make a moderator account (``role=ModeratorRole.ADMIN`` for an administrator) with ``factories.PASSWORD``."""

    def make(email: str = "mod@example.org", role: ModeratorRole = ModeratorRole.MODERATOR) -> Moderator:
        with app.app_context(), db.transaction() as session:
            made = factories.moderator(session, email, role)
            session.expunge(made)
            return made

    return make


@pytest.fixture
def letter(create_letter: Callable[..., Letter]) -> Letter:
    """The default test letter (slug ``test-letter``), open for signing."""
    return create_letter()


@pytest.fixture
def closed_letter(create_letter: Callable[..., Letter]) -> Letter:
    """A letter whose closing date has passed."""
    return create_letter(LETTER_TEXT.replace("test-letter", "closed-letter"), closes_at=utcnow() - timedelta(days=1))


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    """A real SMTP server (aiosmtpd) on a free port on loopback; collects what it receives."""
    sink = SMTPSink()
    sink.start()
    yield sink
    sink.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL variants, so ``-m 'not postgres'`` can leave them out."""
    for item in items:
        if "[postgresql" in item.nodeid or "-postgresql" in item.nodeid:
            item.add_marker(pytest.mark.postgres)
