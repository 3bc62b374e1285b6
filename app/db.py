"""Engine and session handling: one session per request or job, committed once by its owner."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Alembic's folder: the only source of the schema (see migrations/README.md).
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

P = ParamSpec("P")
R = TypeVar("R")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def upsert(session: Session, table: Any) -> Any:
    """An INSERT into ``table`` that takes ``on_conflict_do_nothing`` / ``on_conflict_do_update``.

    Both databases have ON CONFLICT; SQLAlchemy spells it through each dialect's own ``insert``.
    """
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def add_to_value(session: Session, model: type[Base], key: dict[str, object], delta: int) -> None:
    """Add ``delta`` to the ``value`` of ``model``'s row at ``key``, creating it if needed.

    One atomic INSERT ... ON CONFLICT DO UPDATE on both databases: no read-modify-write, and
    through the table, not the entity, so there is nothing for the ORM to read back. The count's
    shards and every tally are kept this way.
    """
    table = cast(Table, model.__table__)
    statement = upsert(session, table).values(**key, value=delta)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c[name] for name in key],
            set_={"value": table.c.value + delta},
        )
    )


@dataclass(frozen=True)
class MigrationGraph:
    """The revisions in migrations/versions, and the heads: those no other revision follows."""

    revisions: frozenset[str]
    heads: frozenset[str]


def _constants(path: Path) -> dict[str, Any]:
    """A Python file's top-level ``name = literal`` (or ``name: type = literal``) assignments."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            with suppress(ValueError, TypeError):  # not a literal: not a revision
                found[target.id] = ast.literal_eval(value)
    return found


@cache
def migration_graph(versions: Path = MIGRATIONS / "versions") -> MigrationGraph:
    """Every migration's ``revision`` and ``down_revision``, read from its file once per process.

    Parsed, not imported through Alembic: Alembic is loaded only by the db commands (about 10 MB
    that every app process would otherwise carry), and the readiness check needs only this.
    """
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in versions.glob("*.py"):
        values = _constants(path)
        if isinstance(values.get("revision"), str):
            revisions.add(values["revision"])
            down = values.get("down_revision")
            followed.update([down] if isinstance(down, str) else down or ())
    return MigrationGraph(frozenset(revisions), frozenset(revisions - followed))


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with named constraints (SQLite batch migrations need the names)."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (read by SQLAlchemy, never mutated)


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL, and explicit BEGIN so writers can take the lock up front."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own is too late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        # A writer that starts with a read would otherwise fail with "database is locked"
        # when another process committed in between (WAL snapshots cannot be upgraded).
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    """Create an engine for ``url`` with the settings this application relies on."""
    # Bound values are emails and token hashes: keep them out of error messages and logs.
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        # A request waits at most this long for a connection, then fails rather than queue forever.
        pool_timeout=10,
        hide_parameters=True,
    )


# The errors that mean the database could not be reached or could not answer for now (restarting,
# failed over, out of connections, SQLite busy past its timeout), rather than a bug: a request
# that meets one is told to come back (503), and a worker tries again at its next look.
UNAVAILABLE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database could not be reached or answer, rather than a bug."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, UNAVAILABLE_ERRORS)


def claim_leased(
    session: Session,
    model: Any,
    *,
    pending: object,
    due: Any,
    worker_id: str,
    now: datetime,
    limit: int,
    lease: timedelta,
) -> list[Any]:
    """Lease up to ``limit`` rows of ``model`` to ``worker_id`` for ``lease``, in one statement; oldest first.

    For the work queues (the outbox's messages, the jobs): a row is due when its status is
    ``pending``, its ``due`` moment has come and nobody holds it (or the holder's lease ran out).
    On PostgreSQL, FOR UPDATE SKIP LOCKED lets any number of workers claim side by side.
    """
    free = sa.or_(model.claimed_until.is_(None), model.claimed_until < now)
    chosen = (
        sa.select(model.id)
        .where(model.status == pending, due <= now, free)
        .order_by(due, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = session.scalars(
        sa.update(model)
        .where(model.id.in_(chosen.scalar_subquery()))
        .values(claimed_until=now + lease, claimed_by=worker_id)
        .returning(model)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed, key=lambda row: row.id)


@dataclass
class _State:
    engine: Engine
    sessions: sessionmaker[Session]


class Database:
    """The application's engine and sessions; bound to an app with ``init_app``."""

    def init_app(self, app: Flask) -> None:
        """Create the engine for the app's DATABASE_URL (connections open lazily)."""
        engine = make_engine(
            app.config["DATABASE_URL"],
            pool_size=app.config["DB_POOL_SIZE"],
            max_overflow=app.config["DB_MAX_OVERFLOW"],
        )
        # Sessions carry the counter's shard count to services.counting, and whether the public log
        # is on to app.log, which know no app.
        info = {"counter_shards": app.config["COUNTER_SHARDS"], "log_enabled": app.config.get("LOG_ENABLED", True)}
        sessions = sessionmaker(engine, expire_on_commit=False, info=info)
        app.extensions["undersigned.db"] = _State(engine, sessions)
        app.teardown_appcontext(self._close_session)

    def forget_connections(self, app: object) -> None:
        """After a fork: drop the pooled connections inherited from the parent, without closing them.

        For a server that loads the app before forking its workers (gunicorn's preload_app);
        anything but this application's Flask app is left alone.
        """
        state = getattr(app, "extensions", {}).get("undersigned.db")
        if isinstance(state, _State):
            state.engine.dispose(close=False)

    def sessionmaker_of(self, app: Flask) -> sessionmaker[Session]:
        """The session factory of ``app`` (to listen to its sessions' events)."""
        state: _State = app.extensions["undersigned.db"]
        return state.sessions

    @property
    def _state(self) -> _State:
        state: _State = current_app.extensions["undersigned.db"]
        return state

    @property
    def engine(self) -> Engine:
        """The current app's engine."""
        return self._state.engine

    def new_session(self, *, write: bool = False) -> Session:
        """A new session; ``write`` makes SQLite take its write lock at BEGIN."""
        options = {"sqlite_immediate": True} if write else {}
        return self._state.sessions(execution_options=options)

    @property
    def session(self) -> Session:
        """The session of the current request or app context, created on first use."""
        if "db_session" not in g:
            write = has_request_context() and request.method not in SAFE_METHODS and not g.get("db_reads_first")
            g.db_session = self.new_session(write=write)
        session: Session = g.db_session
        return session

    def reads_first(self, view: Callable[P, R]) -> Callable[P, R]:
        """Mark a view that reads (and works a while) before it writes: its session starts reading.

        On SQLite a write session takes the one write lock at BEGIN, and every other writer waits
        for it; such a view reads without the lock and calls ``begin_write`` when it is ready.
        """

        @wraps(view)
        def reading_first(*args: P.args, **kwargs: P.kwargs) -> R:
            g.db_reads_first = True
            return view(*args, **kwargs)

        return reading_first

    def begin_write(self) -> Session:
        """Be ready to write (see ``reads_first``): on SQLite, end the reading transaction and take the lock.

        On SQLite the new transaction holds the write lock from its BEGIN, so it never fails to
        upgrade a read; what was read stays usable (sessions do not expire on commit). PostgreSQL
        locks rows, not the database: the reads and the writes stay one transaction, on one
        connection taken from the pool once.
        """
        session = self.session
        if session.get_bind().dialect.name == "sqlite":
            session.commit()
            session.connection(execution_options={"sqlite_immediate": True})
        return session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session in one transaction, committed on success (for the CLI and workers)."""
        with self.new_session(write=True) as session, session.begin():
            yield session

    def _close_session(self, _exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


db = Database()
