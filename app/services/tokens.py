"""Single-use tokens: 256 random bits given out once, only their SHA-256 kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from app.models import Signature, Token, TokenPurpose
from app.models import TokenLifetimes as TokenLifetimes  # defined with the models, so that mail can state them

TOKEN_BYTES = 32


def hash_token(raw: str) -> str:
    """The stored form of a token (a lookup by this hash leaks nothing through timing)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A fresh raw token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def issue_token(session: Session, signature: Signature, purpose: TokenPurpose, *, now: datetime, ttl: timedelta) -> str:
    """Store a new token for ``signature`` and return the raw value, which is never stored.

    A confirmation token confirms the signature's submission as it is now: the details that a
    mail written now shows.
    """
    raw = new_token()
    session.add(
        Token(
            signature=signature,
            purpose=purpose,
            token_hash=hash_token(raw),
            created_at=now,
            expires_at=now + ttl,
            submission=signature.submission if purpose == TokenPurpose.CONFIRM else None,
        )
    )
    return raw


def store_tokens(
    session: Session,
    signature_id: int,
    tokens: list[tuple[TokenPurpose, str, timedelta]],
    *,
    now: datetime,
    submission: int | None = None,
) -> None:
    """Store tokens made by ``new_token`` for a signature known by its id: one INSERT for them all.

    The confirmation token among them confirms ``submission`` of the signature, and only it.
    """
    session.execute(
        _INSERT,
        [
            {
                "signature_id": signature_id,
                "purpose": purpose,
                "token_hash": hash_token(raw),
                "created_at": now,
                "expires_at": now + ttl,
                "submission": submission if purpose == TokenPurpose.CONFIRM else None,
            }
            for purpose, raw, ttl in tokens
        ],
    )


def find_token(session: Session, raw: str, purpose: TokenPurpose) -> Token | None:
    """The token with this raw value and purpose, if any."""
    if not raw or len(raw) > 128:
        return None
    digest = hash_token(raw)
    token = session.scalar(select(Token).where(Token.token_hash == digest, Token.purpose == purpose))
    # The index lookup is by a hash no one can steer; the final comparison is constant-time anyway.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


# Built once: a statement made per call costs more than the INSERT itself on SQLite.
_INSERT = insert(cast(Table, Token.__table__))
