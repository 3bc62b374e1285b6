"""Updates to signers: dated news about a letter, on its page, in a feed, and by email to those who asked.

Publishing stores the update and one job standing for all its mail; the worker turns that job
into one message per opted-in signer, a batch at a time (``mail_batch``), so a million
recipients never make one giant transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from urllib.parse import urlsplit

import yaml
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.mail import compose, outbox
from app.models import (
    Letter,
    LetterUpdate,
    OutboxMessage,
    OutboxStatus,
    Signature,
    SignatureStatus,
    UpdateKind,
)
from app.services import jobs
from app.text import clean_line, render_markdown

# The job that stands for an update's mail until the worker has written it all.
UPDATE_REQUEST = "update_request"
UPDATE_MAIL = "update"
TITLE_MAX = 300
BODY_MAX = 100_000
# Who answered a letter (a response's title), and the address of where they did.
RESPONDER_MAX = 200
SOURCE_URL_MAX = 2000
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_HEADING = re.compile(r"\A#[ \t]+(.+?)[ \t#]*(?:\r?\n|\Z)")


class BadUpdate(DomainError):
    """An update without a title or a text, or one too long."""

    code = "bad_update"


def parse_update_file(text: str) -> tuple[str, str]:
    """The title and Markdown body of an update file: front matter with a title, or a first "# heading"."""
    title = ""
    body = text.strip()
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise BadUpdate(f"the front matter is not valid YAML: {exc}") from None
        if not isinstance(meta, dict):
            raise BadUpdate("the front matter must be a mapping of fields")
        title = str(meta.get("title") or "")
        body = text[match.end() :].strip()
    else:
        heading = _HEADING.match(body)
        if heading:
            title, body = heading.group(1), body[heading.end() :].strip()
    if not clean_line(title):
        raise BadUpdate("an update needs a title: front matter 'title:' or a first line '# Title'")
    return title, body


def publish(session: Session, letter: Letter, *, title: str, body_markdown: str, now: datetime) -> LetterUpdate:
    """Publish an update and queue its mail to every confirmed signer who asked for updates."""
    title = clean_line(title)
    if not title or len(title) > TITLE_MAX:
        raise BadUpdate(f"The title must be 1 to {TITLE_MAX} characters.")
    return _publish(session, letter, UpdateKind.UPDATE, title, body_markdown, now=now)


def record_response(
    session: Session,
    letter: Letter,
    *,
    responder: str,
    responded_on: date,
    source_url: str,
    body_markdown: str,
    now: datetime,
) -> LetterUpdate:
    """Publish the addressee's response as an update of its own kind, mailed like any update.

    ``responder`` is who answered (the response's title), ``responded_on`` the day they did,
    ``source_url`` where the response was published (empty if nowhere online).
    """
    responder = clean_line(responder)
    source_url = source_url.strip()
    if not responder or len(responder) > RESPONDER_MAX:
        raise BadUpdate(f"Who answered must be 1 to {RESPONDER_MAX} characters.")
    if responded_on > now.date():
        raise BadUpdate("The date of the response cannot be in the future.")
    if source_url and not is_web_address(source_url):
        raise BadUpdate(f"The source must be a web address (http or https), at most {SOURCE_URL_MAX} characters.")
    return _publish(
        session,
        letter,
        UpdateKind.RESPONSE,
        responder,
        body_markdown,
        now=now,
        responded_on=responded_on,
        source_url=source_url or None,
    )


def is_web_address(text: str) -> bool:
    """Whether ``text`` is an absolute http(s) address of a reasonable length, on one line."""
    if len(text) > SOURCE_URL_MAX or any(char.isspace() or ord(char) < 32 for char in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _publish(
    session: Session,
    letter: Letter,
    kind: UpdateKind,
    title: str,
    body_markdown: str,
    *,
    now: datetime,
    responded_on: date | None = None,
    source_url: str | None = None,
) -> LetterUpdate:
    """Store an update of ``kind`` and one job standing for all its mail."""
    body_markdown = body_markdown.strip()
    if not body_markdown or len(body_markdown) > BODY_MAX:
        raise BadUpdate(f"The text must be 1 to {BODY_MAX} characters.")
    update = LetterUpdate(
        letter=letter,
        kind=kind,
        title=title,
        body_markdown=body_markdown,
        body_html=render_markdown(body_markdown),
        published_at=now,
        responded_on=responded_on,
        source_url=source_url,
    )
    session.add(update)
    session.flush()
    # One job for all the update's mail; its cursor is the last signer reached (none yet).
    jobs.add(session, UPDATE_REQUEST, {"update_id": update.id}, now=now)
    return update


def mail_batch(session: Session, update_id: int, *, after: int, batch_size: int, secret: str, now: datetime) -> int:
    """Queue the update's mail for the next ``batch_size`` opted-in signers after id ``after``; the last id reached.

    Returns ``after`` itself when nobody is left (or the update is gone): the update is done.
    """
    letter_update = session.get(LetterUpdate, update_id)
    if letter_update is None:
        return after
    recipients = session.scalars(
        select(Signature)
        .where(
            Signature.letter_id == letter_update.letter_id,
            Signature.wants_updates.is_(True),
            Signature.id > after,
            Signature.status == SignatureStatus.CONFIRMED,
        )
        .order_by(Signature.id)
        .limit(batch_size)
    )
    write = compose.response if letter_update.is_response else compose.update
    for signature in recipients:
        email = write(signature, letter_update, unsubscribe_token(secret, signature))
        outbox.enqueue(session, signature.email, email, kind=UPDATE_MAIL, now=now, signature=signature)
        after = signature.id
    session.flush()
    return after


def letter_updates(session: Session, letter_id: int, *, limit: int | None = None) -> Sequence[LetterUpdate]:
    """A letter's updates, newest first."""
    stmt = (
        select(LetterUpdate)
        .where(LetterUpdate.letter_id == letter_id)
        .order_by(LetterUpdate.published_at.desc(), LetterUpdate.id.desc())
    )
    return list(session.scalars(stmt.limit(limit) if limit else stmt))


def latest_response(session: Session, letter_id: int) -> LetterUpdate | None:
    """The addressee's latest response to a letter, if they answered."""
    return session.scalars(
        select(LetterUpdate)
        .where(LetterUpdate.letter_id == letter_id, LetterUpdate.kind == UpdateKind.RESPONSE)
        .order_by(LetterUpdate.published_at.desc(), LetterUpdate.id.desc())
        .limit(1)
    ).first()


def latest_responses(session: Session, letter_ids: Iterable[int]) -> dict[int, LetterUpdate]:
    """The latest response to each of these letters that has one, by letter id (one query)."""
    ids = list(letter_ids)
    if not ids:
        return {}
    found: dict[int, LetterUpdate] = {}
    responses = session.scalars(
        select(LetterUpdate)
        .where(LetterUpdate.letter_id.in_(ids), LetterUpdate.kind == UpdateKind.RESPONSE)
        .order_by(LetterUpdate.published_at, LetterUpdate.id)
    )
    for response in responses:
        found[response.letter_id] = response
    return found


def _serializer(secret: str, signature: Signature) -> URLSafeSerializer:
    # Bound to the address: once the signature is erased (its key replaced), the link is dead.
    return URLSafeSerializer(secret, salt="unsubscribe-updates:" + signature.email_key)


def unsubscribe_token(secret: str, signature: Signature) -> str:
    """A link token that stops ``signature``'s update mail (signed, never stored; it does not expire)."""
    return _serializer(secret, signature).dumps(signature.id)


def find_subscriber(session: Session, secret: str, token: str) -> Signature | None:
    """The signature an unsubscribe token belongs to, or None if the token is not genuine."""
    if not token or len(token) > 200:
        return None
    valid, payload = URLSafeSerializer(secret).loads_unsafe(token)
    del valid  # the salt differs per signature: checked below with the right one
    if not isinstance(payload, int) or isinstance(payload, bool) or not 0 < payload < 2**31:
        return None
    signature = session.get(Signature, payload)
    if signature is None:
        return None
    try:
        _serializer(secret, signature).loads(token)
    except BadSignature:
        return None
    return signature


def unsubscribe(session: Session, signature: Signature) -> None:
    """Stop update mail to ``signature``: the consent goes, and so does update mail not yet sent."""
    signature.wants_updates = False
    session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.signature_id == signature.id,
            OutboxMessage.kind == UPDATE_MAIL,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
    )
    session.flush()
