"""Health checks: /healthz (the process answers) and /readyz (it can serve), for load balancers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from app import create_app
from app.db import MIGRATIONS, db, migration_graph
from app.health import schema_problem
from app.models import Letter
from app.ratelimit import limiter
from tests.conftest import _config
from tests.support import free_port, recorded_sql

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parent.parent
PROBES = ("/healthz", "/readyz")


def assert_probe_answer(response: TestResponse, status: int, body: dict[str, str]) -> None:
    """The status and JSON body, never stored by a cache, never a cookie."""
    assert (response.status_code, response.get_json()) == (status, body)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def ready(client: FlaskClient) -> Any:
    response = client.get("/readyz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def test_healthz_does_no_database_work_and_readyz_one_small_query(app: Flask, client: FlaskClient) -> None:
    with recorded_sql(app) as seen:
        for query in ("", "?lang=ko"):
            assert_probe_answer(client.get("/healthz" + query), 200, {"status": "ok"})
    assert seen == []
    with recorded_sql(app) as seen:
        for query in ("", "?lang=ko"):
            assert_probe_answer(client.get("/readyz" + query), 200, {"status": "ok"})
    assert [statement for statement, _ in seen if statement != "BEGIN"] == [
        "SELECT version_num FROM alembic_version"
    ] * 2
    assert client.head("/readyz").status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_readyz_says_when_the_database_is_unreachable(backend: str, tmp_path: Path) -> None:
    url = {
        "sqlite": f"sqlite:///{tmp_path}/no-such-folder/undersigned.db",
        "postgresql": f"postgresql://postgres@127.0.0.1:{free_port()}/undersigned",  # nothing listens there
    }[backend]
    app = create_app(_config(url, tmp_path))
    client = app.test_client()
    assert_probe_answer(client.get("/readyz"), 503, {"status": "unavailable", "reason": "database unreachable"})
    assert_probe_answer(client.get("/healthz"), 200, {"status": "ok"})  # the process itself is fine
    with app.app_context():
        db.engine.dispose()


@pytest.mark.settings(PAGE_CACHE_SECONDS=60)
def test_readyz_says_when_migrations_are_behind_or_missing_and_is_never_cached(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    assert ready(client) == (200, {"status": "ok"})
    try:
        result = runner.invoke(args=["db", "downgrade", "-1"])
        assert result.exit_code == 0, result.output
        assert ready(client) == (503, {"status": "unavailable", "reason": "migrations behind"})
        result = runner.invoke(args=["db", "downgrade", "base"])
        assert result.exit_code == 0, result.output
        assert ready(client) == (503, {"status": "unavailable", "reason": "database not migrated"})
    finally:
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
    assert ready(client) == (200, {"status": "ok"})


def test_readyz_on_a_database_nobody_migrated(tmp_path: Path) -> None:
    app = create_app(_config(f"sqlite:///{tmp_path}/empty.db", tmp_path))
    assert ready(app.test_client()) == (503, {"status": "unavailable", "reason": "database not migrated"})
    with app.app_context():
        db.engine.dispose()


def test_readyz_says_when_the_log_signing_key_is_missing(app: Flask, client: FlaskClient) -> None:
    app.config["LOG_SIGNING_KEY"] = ""
    assert_probe_answer(client.get("/readyz"), 503, {"status": "unavailable", "reason": "log signing key missing"})
    app.config["LOG_ENABLED"] = False  # benchmarks: no log, no key needed
    assert ready(client) == (200, {"status": "ok"})


def test_a_database_migrated_ahead_of_this_code_is_ready() -> None:
    """A deploy migrates before the new code starts; the old code keeps serving until then."""
    graph = migration_graph()
    (head,) = graph.heads
    older = next(iter(graph.revisions - graph.heads))
    assert schema_problem(frozenset({head})) is None
    assert schema_problem(frozenset({"0123456789ab"})) is None  # a revision from newer code
    assert schema_problem(frozenset({older})) == "migrations behind"
    assert schema_problem(frozenset()) == "database not migrated"


def test_the_migration_heads_read_from_the_files_are_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    graph = migration_graph()
    assert graph.heads == frozenset(scripts.get_heads())
    assert graph.revisions == frozenset(script.revision for script in scripts.walk_revisions())


def test_readyz_does_not_load_alembic(sqlite_template: Path, tmp_path: Path) -> None:
    """Alembic is for the db commands only: a web process that answers probes never imports it."""
    database = tmp_path / "ready.db"
    shutil.copyfile(sqlite_template, database)
    program = (
        "import sys\n"
        "from app import create_app\n"
        "from tests.conftest import _config\n"
        "from pathlib import Path\n"
        f"app = create_app(_config({f'sqlite:///{database}'!r}, Path({str(tmp_path)!r})))\n"
        "response = app.test_client().get('/readyz')\n"
        "assert response.status_code == 200, response.get_data(as_text=True)\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.fixture
def default_limit() -> Iterator[str]:
    """A site-wide default limit for one test.

    Flask-Limiter keeps default limits on the module-level limiter once an app sets them: they
    are taken away again after the test, so no other test meets them.
    """
    yield "3 per minute"
    limiter.limit_manager.set_default_limits([])


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("settings")
    settings = dict(marker.kwargs) if marker else {}
    if "default_limit" in request.fixturenames:
        settings["RATELIMIT_DEFAULT"] = request.getfixturevalue("default_limit")
    return settings


def test_probes_are_never_rate_limited(default_limit: str, app: Flask, client: FlaskClient, letter: Letter) -> None:
    # The default limit holds for pages without limits of their own...
    answers = [client.get(f"/letters/{letter.slug}/signatures").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    # ...but a load balancer asking every second is always answered.
    for path in PROBES:
        for _ in range(20):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "X-RateLimit-Limit" not in response.headers
