"""Keys and signed tree heads: what the site signs, and how the API publishes it."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import check_log_signing_key
from app.log import merkle
from app.models import Letter, LogHead
from app.timestamps import iso


def generate_key_text() -> str:
    """A new Ed25519 private key as LOG_SIGNING_KEY holds it (URL-safe base64 of its 32 bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class SigningKey:
    """The site's log signing key."""

    private: Ed25519PrivateKey

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        """The key LOG_SIGNING_KEY holds."""
        return cls(Ed25519PrivateKey.from_private_bytes(check_log_signing_key(text)))

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_text(self) -> str:
        """The public key in standard base64."""
        return base64.b64encode(self.public_bytes).decode()

    @property
    def key_id(self) -> str:
        """The first 8 bytes of the public key's SHA-256, in hex."""
        return hashlib.sha256(self.public_bytes).hexdigest()[:16]


def signed_message(slug: str, tree_size: int, root_hash: str, timestamp: int) -> bytes:
    """The exact bytes a tree head's signature covers (the verifier builds the same)."""
    return (
        "undersigned tree head v1\n"
        f"letter: {slug}\n"
        f"tree_size: {tree_size}\n"
        f"root_hash: {root_hash}\n"
        f"timestamp: {timestamp}\n"
    ).encode()


def _millis(when: datetime) -> int:
    """``when`` in whole milliseconds since the epoch (a tree head's timestamp)."""
    return int(when.timestamp() * 1000)


def head_json(slug: str, head: LogHead, key: SigningKey) -> dict[str, Any]:
    """A signed tree head as the API publishes it."""
    return {
        "letter": slug,
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "time": iso(datetime.fromtimestamp(head.timestamp / 1000, UTC)),
        "signature": head.signature,
        "algorithm": "Ed25519",
        "key_id": head.key_id,
        "public_key": key.public_text if head.key_id == key.key_id else None,
    }


def sign_head(letter: Letter, size: int, root_hash: str, when: datetime, key: SigningKey) -> LogHead:
    """A tree head of ``size`` entries with ``root_hash``, signed with ``key`` at ``when`` (not stored)."""
    timestamp = _millis(when)
    signature = key.private.sign(signed_message(letter.slug, size, root_hash, timestamp))
    return LogHead(
        letter_id=letter.id,
        tree_size=size,
        root_hash=root_hash,
        timestamp=timestamp,
        signature=base64.b64encode(signature).decode(),
        key_id=key.key_id,
    )


def current_head(session: Session, letter: Letter, key: SigningKey) -> LogHead:
    """The latest signed tree head; for a log with no entries yet, the empty tree's, signed now."""
    head = session.scalar(
        select(LogHead).where(LogHead.letter_id == letter.id).order_by(LogHead.tree_size.desc()).limit(1)
    )
    if head is None:
        head = sign_head(letter, 0, merkle.EMPTY_ROOT.hex(), letter.created_at, key)
    return head


def head_at(session: Session, letter: Letter, size: int, key: SigningKey) -> LogHead | None:
    """The signed tree head of exactly ``size`` entries (the empty tree's is signed on demand)."""
    if size == 0:
        return sign_head(letter, 0, merkle.EMPTY_ROOT.hex(), letter.created_at, key)
    return session.get(LogHead, (letter.id, size))
