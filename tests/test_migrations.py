"""The schema comes only from migrations: they go up and down, and match the models."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app.db import MIGRATIONS, Base, db


def test_migrations_match_the_models(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    assert "match" in result.output


def test_migrations_downgrade_to_nothing_and_upgrade_again(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables


def test_migration_files_sort_in_the_order_they_chain() -> None:
    """`ls migrations/versions` lists each migration after the one it revises (migrations/README.md)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    chain = [Path(script.path).name for script in reversed(list(scripts.walk_revisions()))]
    assert len(scripts.get_heads()) == 1
    assert sorted(path.name for path in (MIGRATIONS / "versions").glob("*.py")) == chain
    assert all(re.fullmatch(r"\d{8}_\d{4}_[0-9a-f]+_\w+\.py", name) for name in chain), chain
