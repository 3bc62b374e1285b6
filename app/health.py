"""Health checks for load balancers and orchestrators: is the process up, and can it serve?

``GET /healthz`` answers while the process can answer at all (no database work): restart it
when this fails. ``GET /readyz`` answers 200 only when a request could be served: the database
answers and its schema is the one this code was written for, and the public log's signing key
is there; otherwise 503 with the reason, so the load balancer sends requests elsewhere. Both
are cheap enough to be called every second: at most one small query, never cached, never rate
limited, no session cookie.

Redis is not part of readiness: without it the rate limits are counted in each process's
memory (see app.ratelimit), and taking every app server out because Redis is down would
stop the very signing the fallback keeps going.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from app.db import db, migration_graph
from app.ratelimit import limiter

bp = Blueprint("health", __name__)
# Probes come every second from a few addresses: no limit, not even a site-wide default, applies.
limiter.exempt(bp)

DATABASE_UNREACHABLE = "database unreachable"
DATABASE_NOT_MIGRATED = "database not migrated"
MIGRATIONS_BEHIND = "migrations behind"
LOG_KEY_MISSING = "log signing key missing"


def _answer(code: int, **body: str) -> Response:
    response = jsonify(body)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and answering."""
    return _answer(200, status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """The process can serve requests: 200, or 503 with the reason it cannot."""
    reason = not_ready_reason()
    if reason is not None:
        return _answer(503, status="unavailable", reason=reason)
    return _answer(200, status="ok")


def not_ready_reason() -> str | None:
    """Why this process cannot serve requests now, or None when it can."""
    if current_app.config["LOG_ENABLED"] and not current_app.config.get("LOG_SIGNING_KEY"):
        return LOG_KEY_MISSING
    try:
        connection = db.engine.connect()
    except sa.exc.SQLAlchemyError:  # refused, timed out, or no connection free in the pool
        return DATABASE_UNREACHABLE
    with connection:
        try:
            applied = frozenset(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        except sa.exc.DBAPIError as error:
            # Lost mid-way, or the table Alembic keeps its revision in is not there.
            return DATABASE_UNREACHABLE if error.connection_invalidated else DATABASE_NOT_MIGRATED
    return schema_problem(applied)


def schema_problem(applied: frozenset[str]) -> str | None:
    """Why a database at the ``applied`` revisions does not fit this code, or None when it does.

    A revision this code does not know is newer than it: a deploy migrates the database before
    the new code starts, and migrations keep the old code working until then, so that is ready.
    """
    graph = migration_graph()
    if not applied:
        return DATABASE_NOT_MIGRATED
    if applied == graph.heads or not applied <= graph.revisions:
        return None
    return MIGRATIONS_BEHIND
