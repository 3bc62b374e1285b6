"""The outbox: mail written in the caller's transaction, so it exists exactly when the change does."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address
from email.utils import parseaddr
from typing import cast

from flask import current_app
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from app.mail.message import Email
from app.models import OutboxMessage, Signature


def sender_domain() -> str:
    """The domain of the app's sender (MAIL_DEFAULT_SENDER), for Message-IDs and List-Ids."""
    address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    return address.rpartition("@")[2] or "localhost"


def new_message_id() -> str:
    """A unique Message-ID under the sender's domain: 128 bits from ``secrets``.

    Not make_msgid: its uniqueness comes from the ``random`` module, which a caller may have
    seeded (Hypothesis seeds it for every example), and its longer id makes the header fold.
    """
    return f"<{secrets.token_hex(16)}@{sender_domain()}>"


def _values(
    recipient: str, email: Email, *, kind: str, now: datetime, headers: Mapping[str, str] | None
) -> dict[str, object]:
    # Refuse a recipient that is not one plain address (no display name, no header tricks).
    Address(addr_spec=recipient)
    headers = {**email.headers, **(headers or {})}
    return {
        "kind": kind,
        "recipient": recipient,
        "subject": email.subject,
        "body_text": email.text,
        "body_html": email.html,
        "message_id": new_message_id(),
        "headers": json.dumps(dict(headers), ensure_ascii=False) if headers else None,
        "created_at": now,
        "next_attempt_at": now,
    }


def enqueue(
    session: Session,
    recipient: str,
    email: Email,
    *,
    kind: str,
    now: datetime,
    signature: Signature | None = None,
    headers: Mapping[str, str] | None = None,
) -> OutboxMessage:
    """Add ``email`` for ``recipient`` to the outbox; the worker sends it after commit.

    ``signature`` links the message to the signature it is about, so that erasing or purging
    the signature takes its mail with it. ``headers`` (and the email's own) are added to the
    message as they are (List-Unsubscribe, for instance).
    """
    message = OutboxMessage(signature=signature, **_values(recipient, email, kind=kind, now=now, headers=headers))
    session.add(message)
    return message


def enqueue_for(session: Session, signature_id: int, recipient: str, email: Email, *, kind: str, now: datetime) -> None:
    """``enqueue`` for a signature known by its id only: one INSERT, nothing for the ORM to track."""
    values = _values(recipient, email, kind=kind, now=now, headers=None)
    session.execute(_INSERT, {"signature_id": signature_id, **values})


# Built once: a statement made per call costs more than the INSERT itself on SQLite.
_INSERT = insert(cast(Table, OutboxMessage.__table__))
