"""The schema comes only from migrations: they go up and down, and match the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app.db import Base, db

pytestmark = pytest.mark.engines


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
