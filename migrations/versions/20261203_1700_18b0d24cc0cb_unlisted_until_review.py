"""Flagged until reviewed: a watch-list or disposable-address flag keeps a signature off the public list.

``signatures.unlisted_until_review`` marks a signature counted (once confirmed) but not listed
until a moderator approves it or dismisses its flags. The listing index (and the partial indexes
of the list's filters) take the column after the status, so the public list
(``unlisted_until_review = false``) stays one index range that never walks past the signatures
awaiting review.

The upgrade marks every live signature that has an open watch-list or disposable-address flag,
as signing now does, unless the site runs with LIST_FLAGGED=true (the ``list_flagged`` attribute
the app's ``db`` commands pass). For those already counted it keeps the public numbers and the
log in step: the ``counted_awaiting_review`` tally, and for each one the log had listed, an
``update`` entry with ``"listed": false`` (counted, not named) after its openings are withdrawn,
as hiding withdraws them. The downgrade lists them again: an ``update`` entry that opens their
fields afresh (a new salt), since the code before this revision lists them.

Revision ID: 18b0d24cc0cb
Revises: c4d8e2f6a9b1
Create Date: 2026-12-03 17:00:00
"""

import hashlib
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "18b0d24cc0cb"
down_revision: str | None = "c4d8e2f6a9b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDING_KINDS = ("watchlist", "disposable")
LIVE_STATUSES = ("unconfirmed", "suspect", "confirmed", "pending")
TALLY = "counted_awaiting_review"
# The list and the partial indexes of its filters (verified, founding, domain-confirmed signers):
# each takes the column after the status, so SQLite keeps choosing the partial ones for their filters.
LIST_INDEXES: dict[str, dict[str, str]] = {
    "ix_signatures_listing": {},
    "ix_signatures_verified": {"sqlite": "verified_at IS NOT NULL", "postgresql": "verified_at IS NOT NULL"},
    "ix_signatures_founding": {"sqlite": "founding = 1", "postgresql": "founding = true"},
    "ix_signatures_confirmed_domain": {
        "sqlite": "confirmed_domain IS NOT NULL",
        "postgresql": "confirmed_domain IS NOT NULL",
    },
}

# The tables as this revision sees them (not the models, which move on).
metadata = sa.MetaData()
signatures = sa.Table(
    "signatures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("letter_id", sa.Integer),
    sa.Column("status", sa.String(20)),
    sa.Column("name", sa.String(200)),
    sa.Column("affiliation", sa.String(200)),
    sa.Column("country", sa.String(2)),
    sa.Column("city", sa.String(100)),
    sa.Column("comment", sa.Text),
    sa.Column("public", sa.Boolean),
    sa.Column("verified_at", sa.DateTime(timezone=True)),
    sa.Column("founding", sa.Boolean),
    sa.Column("letter_version", sa.Integer),
    sa.Column("confirmed_domain", sa.String(255)),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("unlisted_until_review", sa.Boolean),
)
flags = sa.Table(
    "flags",
    metadata,
    sa.Column("signature_id", sa.Integer),
    sa.Column("kind", sa.String(20)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
)
tallies = sa.Table(
    "letter_tallies",
    metadata,
    sa.Column("letter_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.Integer),
)
log_events = sa.Table(
    "log_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("letter_id", sa.Integer),
    sa.Column("signature_id", sa.Integer),
    sa.Column("event", sa.String(10)),
    sa.Column("listed", sa.Boolean),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("leaf", sa.Text),
    sa.Column("leaf_hash", sa.String(64)),
    sa.Column("fields", sa.Text),
    sa.Column("salt", sa.String(64)),
    sa.Column("leaf_index", sa.Integer),
)


def _canonical(value: Any) -> str:
    """app.log.canonical: sorted keys, no spaces, non-ASCII as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso(value: datetime | None) -> str | None:
    """app.timestamps.iso: UTC, ISO 8601, microseconds only when not zero, "Z"."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def _fields(row: Any) -> dict[str, Any]:
    """The fields the log commits to at this revision (app.public_signature.COMMITTED)."""
    return {
        "id": row.id,
        "name": row.name,
        "affiliation": row.affiliation,
        "country": row.country,
        "city": row.city,
        "comment": row.comment,
        "verified": row.verified_at is not None,
        "signed_at": _iso(row.confirmed_at),
        "founding": bool(row.founding),
        "version": row.letter_version,
        "confirmed_domain": row.confirmed_domain,
    }


def _update_event(row: Any, now: datetime, dialect: str, *, listed: bool) -> dict[str, Any]:
    """An unsequenced ``update`` entry of ``row``, as app.log.events builds it: opened when ``listed``."""
    leaf: dict[str, Any] = {
        "v": 1,
        "event": "update",
        "signature": row.id,
        "at": _iso(now),
        "listed": listed,
        "commitment": None,
    }
    text = salt = None
    if listed:
        salt_bytes = secrets.token_bytes(32)
        text, salt = _canonical(_fields(row)), salt_bytes.hex()
        leaf["commitment"] = hashlib.sha256(salt_bytes + text.encode()).hexdigest()
    leaf_text = _canonical(leaf)
    return {
        "letter_id": row.letter_id,
        "signature_id": row.id,
        "event": "update",
        "listed": listed,
        "at": now.replace(tzinfo=None) if dialect == "sqlite" else now,
        "leaf": leaf_text,
        "leaf_hash": hashlib.sha256(b"\x00" + leaf_text.encode()).hexdigest(),
        "fields": text,
        "salt": salt,
    }


def _counted_and_logged() -> sa.Select[Any]:
    """Confirmed, public signatures awaiting review that the log has entries of (it listed them)."""
    logged = sa.select(log_events.c.id).where(
        log_events.c.letter_id == signatures.c.letter_id, log_events.c.signature_id == signatures.c.id
    )
    return (
        sa.select(signatures)
        .where(
            signatures.c.status == "confirmed",
            signatures.c.public == sa.true(),
            signatures.c.unlisted_until_review == sa.true(),
            logged.exists(),
        )
        .order_by(signatures.c.id)
    )


def _list_indexes(*, with_review: bool) -> None:
    """(Re)make the list's indexes, with or without ``unlisted_until_review`` after the status."""
    columns = ["letter_id", "status", *(["unlisted_until_review"] if with_review else []), "confirmed_at", "id"]
    for name, where in LIST_INDEXES.items():
        op.drop_index(name, table_name="signatures")
        partial = {f"{dialect}_where": sa.text(condition) for dialect, condition in where.items()}
        op.create_index(name, "signatures", columns, **partial)


def upgrade() -> None:
    # Plain ADD COLUMN and index changes (no batch mode): a batch migration would rebuild the
    # signatures table on SQLite and drop the text-search triggers with it.
    op.add_column(
        "signatures", sa.Column("unlisted_until_review", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    _list_indexes(with_review=True)
    if context.config.attributes.get("list_flagged", False):
        return
    bind = op.get_bind()
    holding = sa.select(flags.c.signature_id).where(flags.c.resolved_at.is_(None), flags.c.kind.in_(HOLDING_KINDS))
    bind.execute(
        sa.update(signatures)
        .where(signatures.c.status.in_(LIVE_STATUSES), signatures.c.id.in_(holding))
        .values(unlisted_until_review=True)
    )
    counted = (
        sa.select(signatures.c.letter_id, sa.literal(TALLY), sa.func.count())
        .where(signatures.c.status == "confirmed", signatures.c.unlisted_until_review == sa.true())
        .group_by(signatures.c.letter_id)
    )
    bind.execute(tallies.insert().from_select(["letter_id", "name", "value"], counted))
    now = datetime.now(UTC)
    rows = bind.execute(_counted_and_logged()).all()
    for row in rows:
        # Off the list: its name and comment are no longer served, by the log or its snapshots.
        bind.execute(
            sa.update(log_events)
            .where(log_events.c.letter_id == row.letter_id, log_events.c.signature_id == row.id)
            .values(fields=None, salt=None)
        )
    if rows:
        bind.execute(log_events.insert(), [_update_event(row, now, bind.dialect.name, listed=False) for row in rows])


def downgrade() -> None:
    bind = op.get_bind()
    # The code before this revision lists them: the log opens them again, with a fresh salt.
    rows = bind.execute(_counted_and_logged()).all()
    if rows:
        now = datetime.now(UTC)
        bind.execute(log_events.insert(), [_update_event(row, now, bind.dialect.name, listed=True) for row in rows])
    bind.execute(tallies.delete().where(tallies.c.name == TALLY))
    _list_indexes(with_review=False)
    op.drop_column("signatures", "unlisted_until_review")
