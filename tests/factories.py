"""Test data in a few words: letters, signers in each state, moderators, updates.

Each factory takes the SQLAlchemy session to add to (the ``session`` fixture, or
``db.transaction()`` when the data must be committed for another connection to see) and
flushes; whoever owns the session decides when it is kept. Rows are stored as the application's
own paths leave them, with the count and the public tallies kept exact (``letter recount``
agrees), but without public-log events: the signing path writes those (see
``tests.support.log_confirmed``).

``sign_and_confirm`` is the other way in: through the form, the mail and the confirmation page,
as a person signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app import log
from app.db import db, utcnow
from app.models import (
    Flag,
    FlagKind,
    Letter,
    LetterUpdate,
    Moderator,
    ModeratorRole,
    RemovalReason,
    Signature,
    SignatureStatus,
    SuspectReason,
    Token,
)
from app.moderation import accounts
from app.services import counting, stats, updates
from app.services import letters as letter_service
from app.services.flags import Raised
from app.services.tokens import hash_token
from tests.support import SMTPSink, csrf_token, deliver_mail, link_in, mail_links, path_of, press, sign

SLUG = "test-letter"
PASSWORD = "correct horse battery staple"

LETTER_TEXT = """---
title: An open letter for testing
slug: test-letter
goal: 100
---
We, the undersigned, **ask** for [better tests](https://example.org).

<script>alert("no")</script>
"""

# Signatures a signer took back or a moderator deleted: tombstones without personal data.
TOMBSTONES = (SignatureStatus.WITHDRAWN, SignatureStatus.REMOVED)


def letter(
    session: Session,
    text: str = LETTER_TEXT,
    *,
    slug: str | None = None,
    featured: bool = False,
    now: datetime | None = None,
    **fields: Any,
) -> Letter:
    """A letter loaded from a Markdown file's worth of text, as ``flask letter load`` stores it."""
    source = letter_service.parse_letter_file(text)
    made, _ = letter_service.load_letter(session, source, now=now or utcnow(), slug=slug, featured=featured)
    for key, value in fields.items():
        setattr(made, key, value)
    session.flush()
    return made


def _next_number(session: Session) -> int:
    # Numbered by the signatures already stored: the same names in every run of a test.
    return session.scalar(sa.select(sa.func.count()).select_from(Signature)) or 0


def signer(
    session: Session,
    letter_id: int,
    status: SignatureStatus = SignatureStatus.CONFIRMED,
    *,
    name: str | None = None,
    email: str | None = None,
    reason: RemovalReason | None = None,
    verified: bool = False,
    now: datetime | None = None,
    **fields: Any,
) -> Signature:
    """One signature in ``status``, as signing, confirming and moderating leave it.

    Unconfirmed and suspect (held) signatures are not counted; confirmed ones count (public unless
    ``public=False``; ``founding=True`` for a founding signatory); pending, hidden, withdrawn and
    removed ones are in their public tallies. Withdrawn and removed ones are tombstones. Confirmed
    ones are dated an hour ago plus their number in seconds, so later ones list first.
    """
    now = now or utcnow()
    n = _next_number(session)
    address = email or f"s{n}@example.org"
    values: dict[str, Any] = {
        "letter_id": letter_id,
        "status": status,
        "name": name or f"Signer {n:04d}",
        "email": address,
        "email_key": address.lower(),
        "email_domain": address.rsplit("@", 1)[-1].lower(),
    }
    if status != SignatureStatus.UNCONFIRMED and status != SignatureStatus.SUSPECT:
        values["confirmed_at"] = now - timedelta(hours=1) + timedelta(seconds=n)
    if status == SignatureStatus.SUSPECT:
        values["suspect_reason"] = SuspectReason.HONEYPOT
    if status in counting.REMOVED_STATUSES:
        values["removal_reason"] = reason or RemovalReason.OTHER
    if verified:
        values |= {"verified_at": now, "verified_note": "Checked by phone"}
    values |= fields
    signature = Signature(**values)
    session.add(signature)
    session.flush()
    if status in TOMBSTONES:
        signature.withdrawn_at = now
        signature.name = signature.email = signature.email_domain = ""
        signature.email_key = f"erased:{signature.id}"
        signature.public = False
    if status == SignatureStatus.CONFIRMED:
        counting.add_to_count(session, letter_id, 1, now=now, version=signature.letter_version)
        if signature.confirmed_domain:
            counting.add_to_domain_tally(session, letter_id, signature.confirmed_domain, 1)
        stats.add(session, signature, 1)
    tally = counting.tally_name(status, signature.removal_reason)
    if tally:
        counting.add_to_tally(session, letter_id, tally, 1)
    session.flush()
    return signature


def flag(
    session: Session,
    signature: Signature,
    kind: FlagKind = FlagKind.WATCHLIST,
    *,
    now: datetime | None = None,
    **facts: str,
) -> Flag:
    """An open flag on ``signature`` with its facts, as signing or a report raises it (watch list by default)."""
    if kind == FlagKind.WATCHLIST and not facts:
        facts = {"name": signature.name}
    made = Flag(
        letter_id=signature.letter_id,
        signature_id=signature.id,
        kind=kind,
        detail=Raised(kind, facts).detail,
        created_at=now or utcnow(),
    )
    session.add(made)
    session.flush()
    return made


def confirmed_signers(
    session: Session, letter_id: int, count: int, *, public: bool = True, same_time: bool = False, **fields: Any
) -> None:
    """``count`` confirmed signatures at once (``Signer 0000``, ``Signer 0001``…, each with an organisation).

    ``same_time`` gives them all one confirmation time, to test the ties of keyset pagination.
    """
    now = utcnow()
    start = now - timedelta(hours=1)
    offset = _next_number(session)
    for i in range(count):
        n = offset + i
        values = {"name": f"Signer {n:04d}", "affiliation": f"Org {n % 7}"} | fields
        session.add(
            Signature(
                letter_id=letter_id,
                email=f"s{n}@example.org",
                email_key=f"s{n}@example.org",
                status=SignatureStatus.CONFIRMED,
                public=public,
                confirmed_at=start if same_time else start + timedelta(seconds=n),
                **values,
            )
        )
    session.flush()
    counting.add_to_count(session, letter_id, count, now=now, version=fields.get("letter_version", 1))
    stats.catch_up(session, letter_id)


def add_confirmed(app: Flask, letter_id: int, count: int, **options: Any) -> None:
    """``confirmed_signers`` in a transaction of its own, committed (for the pages and the API to list)."""
    with app.app_context(), db.transaction() as session:
        confirmed_signers(session, letter_id, count, **options)


def log_confirmed(app: Flask, letter_id: int) -> int:
    """Append the public log's ``add`` event of each confirmed signature, as confirming does; how many.

    For signatures stored by the factories, which leave them out of the log.
    """
    with app.app_context(), db.transaction() as session:
        confirmed = session.scalars(
            sa.select(Signature)
            .where(Signature.letter_id == letter_id, Signature.status == SignatureStatus.CONFIRMED)
            .order_by(Signature.id)
        ).all()
        now = utcnow()
        for signature in confirmed:
            log.record(session, signature, "add", now=now)
        return len(confirmed)


def moderator(
    session: Session,
    email: str = "mod@example.org",
    role: ModeratorRole = ModeratorRole.MODERATOR,
    *,
    password: str = PASSWORD,
) -> Moderator:
    """A moderator account (``ModeratorRole.ADMIN`` for an administrator) that can sign in with ``password``."""
    return accounts.create_moderator(session, email, password, role)


def log_in(client: FlaskClient, email: str = "mod@example.org", password: str = PASSWORD, **kwargs: Any) -> Any:
    """Sign in on the moderators' login form; the response (303 on success)."""
    token = csrf_token(client, "/moderate/login")
    return client.post("/moderate/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs)


def update(
    session: Session,
    letter_id: int,
    *,
    title: str = "News",
    body: str = "Something happened.",
    now: datetime | None = None,
) -> LetterUpdate:
    """An update published about a letter (its mail to subscribers queued, as publishing does)."""
    target = session.get(Letter, letter_id)
    assert target is not None, letter_id
    return updates.publish(session, target, title=title, body_markdown=body, now=now or utcnow())


def stored_signatures(app: Flask) -> list[Signature]:
    """Every stored signature, oldest first, detached (to read after the test's requests)."""
    with app.app_context():
        return list(db.session.scalars(sa.select(Signature).order_by(Signature.id)))


@dataclass
class Signed:
    """What signing and confirming through the web left: the signature, its mail's links, the page shown."""

    id: int
    confirm: str
    withdraw: str
    message: EmailMessage | None
    page: str


def sign_and_confirm(
    app: Flask,
    client: FlaskClient,
    email: str,
    *,
    slug: str = SLUG,
    sink: SMTPSink | None = None,
    mailbox: str | None = None,
    button: str = "Confirm my signature",
    **fields: Any,
) -> Signed:
    """Sign through the form, open the confirmation mail and press ``button`` behind its link.

    With ``sink`` the mail is delivered over SMTP and read at ``mailbox`` (the address as
    normalised, when it differs); without, it is read from the outbox.
    """
    assert sign(client, slug, email=email, **fields).status_code == 303
    message: EmailMessage | None = None
    if sink is None:
        confirm, withdraw = mail_links(app, email)
    else:
        deliver_mail(app)
        message = sink.messages_to(mailbox or email)[-1]
        confirm = path_of(link_in(message))
        withdraw = path_of(link_in(message, r"https?://\S+/withdraw/\S+"))
    response = press(client, confirm, button)
    assert response.status_code == 200
    with app.app_context():
        raw = confirm.split("?")[0].rsplit("/", 1)[-1]
        signature_id = db.session.scalar(sa.select(Token.signature_id).where(Token.token_hash == hash_token(raw)))
    assert signature_id is not None, confirm
    return Signed(signature_id, confirm, withdraw, message, response.get_data(as_text=True))
