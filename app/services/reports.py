"""Public reports: anyone may ask moderators to look at a listed signature; a report never hides it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.models import Flag, FlagKind, Letter, Signature
from app.services.flags import Raised


class ReportReason(enum.StrEnum):
    """What a visitor says is wrong with a signature."""

    FAKE = "fake"
    DUPLICATE = "duplicate"
    ABUSIVE = "abusive"
    OTHER = "other"


class SignatureNotFound(DomainError):
    """No listed signature of this letter has that id (only those can be reported)."""

    status_code = 404
    code = "signature_not_found"
    message = "There is no signature on this letter's public list at this address."


def reportable_signature(session: Session, letter: Letter, signature_id: int) -> Signature:
    """The listed signature of ``letter`` with this id (see ``Signature.listed``), or SignatureNotFound."""
    signature = session.scalar(
        select(Signature).where(Signature.id == signature_id, Signature.letter_id == letter.id, Signature.listed)
    )
    if signature is None or letter.names_hidden:
        raise SignatureNotFound()
    return signature


def report_signature(
    session: Session,
    letter: Letter,
    signature_id: int,
    *,
    reason: ReportReason,
    details: str = "",
    contact: str | None = None,
    now: datetime,
) -> Flag:
    """Put a listed signature in the moderators' queue with the reporter's reason; it stays listed."""
    signature = reportable_signature(session, letter, signature_id)
    details = details.strip()
    flag = Flag(
        letter_id=letter.id,
        signature_id=signature.id,
        kind=FlagKind.REPORT,
        detail=Raised(FlagKind.REPORT, {"reason": str(reason), "details": details}).detail,
        contact=contact or None,
        created_at=now,
    )
    session.add(flag)
    session.flush()
    return flag
