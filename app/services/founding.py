"""Founding signatories: signed through the usual service, confirmed by email, shown apart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Letter, Signature
from app.services import signing
from app.services.tokens import TokenLifetimes
from app.services.withdrawal import LIVE_STATUSES


def sign_founding(
    session: Session,
    letter: Letter,
    signers: Sequence[signing.SignatureInput],
    *,
    now: datetime,
    ttl: TokenLifetimes,
) -> int:
    """Sign ``letter`` for each founding signer and mark the signature founding; return how many.

    Each signer gets the usual confirmation mail (or, having signed already, the usual note)
    and counts only once confirmed, like anyone else.
    """
    for data in signers:
        signing.sign(session, letter, data, now=now, ttl=ttl)
        signature = session.scalar(
            select(Signature).where(Signature.letter_id == letter.id, Signature.email_key == data.email_key)
        )
        if signature is not None and signature.status in LIVE_STATUSES:
            signature.founding = True
    session.flush()
    return len(signers)
