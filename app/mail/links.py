"""The link to a signer's own page: made wherever a mail or a page shows it, checked by the page.

The link names the signature's random ``page_key`` and an HMAC of it made with SECRET_KEY, so
that neither the database (which holds the key) nor the secret alone opens a page. Nothing is
stored per link: every mail to a signer carries the same one, and it works until the signature
is withdrawn or erased (its key goes) or SECRET_KEY changes (every such link stops working, as
the unsubscribe links do; mail written from then on carries working ones).
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, Signer

from app.urls import external_url

_SALT = "signer-page"
# A real link's token is some 66 characters; anything much longer is not one.
TOKEN_MAX = 200


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=_SALT, digest_method=hashlib.sha256)


def page_token(page_key: str) -> str:
    """The token of the link to the page of the signature with ``page_key``."""
    return _signer().sign(page_key).decode()


def page_key_of(token: str) -> str | None:
    """The page key a genuine token names, or None (forged, mangled, or signed with another key)."""
    if not token or len(token) > TOKEN_MAX:
        return None
    try:
        return _signer().unsign(token).decode()
    except (BadSignature, UnicodeError):
        return None


def page_url(page_key: str | None, locale: str) -> str | None:
    """The absolute address of the signer's page, in their language; None for a signature without one."""
    if not page_key:
        return None
    return external_url("signing.own_page", token=page_token(page_key), lang=locale)
