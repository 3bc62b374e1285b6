"""Moderator accounts: Argon2 password hashes, Flask-Login sessions that end when idle, old or revoked."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from functools import cache, wraps
from typing import Any, TypeVar

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, flash, g, session
from flask_babel import ngettext
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.models import Moderator, ModeratorRole

login_manager = LoginManager()
# Argon2id at RFC 9106's second recommended setting (64 MiB, 3 passes, 4 lanes): argon2-cffi's default,
# named here so a test can hold it to that.
PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
password_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)
MIN_PASSWORD_LENGTH = 12

F = TypeVar("F", bound=Callable[..., Any])

# What a moderator's session holds besides Flask-Login's keys: when it was signed in and last used.
SIGNED_IN_AT = "moderator_since"
LAST_SEEN_AT = "moderator_seen"
# Kept across signing in and out: the visitor's language, which grants nothing.
KEPT_ACROSS_SIGN_IN = ("lang",)


@cache
def _dummy_hash() -> str:
    """Verified against when an address has no account, so a wrong address costs as long as a wrong password.

    Made on first use, not at import: hashing takes Argon2's 64 MiB, which every process
    (each web worker, the mail worker, a CLI export) would otherwise carry at its peak.
    """
    return password_hasher.hash("no account has this password")


class AccountError(ValueError):
    """An account command that cannot be carried out."""


class SignedInModerator(UserMixin):
    """The signed-in moderator, as Flask-Login sees them."""

    def __init__(self, moderator: Moderator) -> None:
        self.moderator = moderator

    def get_id(self) -> str:
        """The account and its session token, kept in the signed session cookie.

        The token changes on signing out, a password reset or when the account is disabled,
        and the loader refuses a cookie with an older one: every session signed in before ends.
        """
        return f"{self.moderator.id}:{self.moderator.session_token}"

    @property
    def is_admin(self) -> bool:
        """Whether this moderator may manage letters."""
        return self.moderator.is_admin

    @property
    def email(self) -> str:
        """The moderator's address."""
        return self.moderator.email


def normalise_email(email: str) -> str:
    """Moderator addresses compare case-insensitively."""
    return email.strip().lower()


def create_moderator(session: Session, email: str, password: str, role: ModeratorRole) -> Moderator:
    """A new account; refuses a short password or an address in use."""
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    if session.scalar(select(Moderator.id).where(Moderator.email == email)) is not None:
        raise AccountError(f"an account for {email} exists already")
    check_password(password)
    moderator = Moderator(
        email=email,
        password_hash=password_hasher.hash(password),
        role=role,
        session_token=secrets.token_hex(16),
        created_at=utcnow(),
    )
    session.add(moderator)
    session.flush()
    return moderator


def check_password(password: str) -> None:
    """Refuse a password too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def end_sessions(moderator: Moderator) -> None:
    """End every session of this account, on every device, by giving it a new session token."""
    moderator.session_token = secrets.token_hex(16)


def set_password(moderator: Moderator, password: str) -> None:
    """A new password; every session signed in with the old one ends."""
    check_password(password)
    moderator.password_hash = password_hasher.hash(password)
    end_sessions(moderator)


def disable(moderator: Moderator) -> None:
    """Refuse this account from now on, and end its sessions."""
    moderator.disabled_at = moderator.disabled_at or utcnow()
    end_sessions(moderator)


def authenticate(session: Session, email: str, password: str) -> Moderator | None:
    """The active account with this address and password, else None (timing alike either way)."""
    moderator = session.scalar(select(Moderator).where(Moderator.email == normalise_email(email)))
    try:
        password_hasher.verify(moderator.password_hash if moderator else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if moderator is None or moderator.disabled_at is not None:
        return None
    if password_hasher.check_needs_rehash(moderator.password_hash):
        moderator.password_hash = password_hasher.hash(password)
    return moderator


def _start_afresh() -> None:
    """Empty the session but for the language, and drop this request's CSRF token with it."""
    kept = {key: session[key] for key in KEPT_ACROSS_SIGN_IN if key in session}
    session.clear()
    session.update(kept)
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def sign_in(moderator: Moderator, now: datetime) -> None:
    """Start a new session for this moderator: nothing of the visitor's session before carries over.

    In particular the CSRF secret is new, so a token handed out before signing in (perhaps to
    someone who planted the cookie) is refused afterwards.
    """
    _start_afresh()
    login_user(SignedInModerator(moderator))
    session.permanent = True
    session[SIGNED_IN_AT] = session[LAST_SEEN_AT] = int(now.timestamp())


def sign_out() -> None:
    """Forget the sign-in in this session and empty it (end_sessions() ends the others)."""
    logout_user()
    _start_afresh()


def _forget_sign_in() -> None:
    # Not logout_user(): that would call this loader again.
    for key in ("_user_id", "_fresh", "_id", LAST_SEEN_AT, SIGNED_IN_AT):
        session.pop(key, None)


def load_moderator(user_id: str) -> SignedInModerator | None:
    """The moderator of a session, unless disabled, revoked, idle for too long or signed in too long ago."""
    identifier, _, token = user_id.partition(":")
    if not identifier.isdigit():
        return None
    moderator = db.session.get(Moderator, int(identifier))
    if (
        moderator is None
        or moderator.disabled_at is not None
        or not secrets.compare_digest(moderator.session_token, token)
    ):
        return None
    now = int(utcnow().timestamp())
    signed_in_at, seen = session.get(SIGNED_IN_AT), session.get(LAST_SEEN_AT)
    if not isinstance(signed_in_at, int) or not isinstance(seen, int):
        # Not signed in through the form (a remember cookie, a session from before these keys).
        _forget_sign_in()
        return None
    hours = current_app.config["MODERATOR_SESSION_HOURS"]
    if now - signed_in_at > hours * 3600:
        _forget_sign_in()
        flash(
            ngettext(
                "You were signed in for %(num)d hour. Please sign in again.",
                "You were signed in for %(num)d hours. Please sign in again.",
                hours,
            )
        )
        return None
    minutes = current_app.config["MODERATOR_IDLE_MINUTES"]
    if now - seen > minutes * 60:
        _forget_sign_in()
        flash(
            ngettext(
                "You were signed out after %(num)d minute without activity. Please sign in again.",
                "You were signed out after %(num)d minutes without activity. Please sign in again.",
                minutes,
            )
        )
        return None
    session[LAST_SEEN_AT] = now
    return SignedInModerator(moderator)


def current_moderator() -> Moderator:
    """The signed-in moderator's account (only inside views that require sign-in)."""
    moderator: Moderator = current_user.moderator
    return moderator


def admin_required(view: F) -> F:
    """Refuse a view to moderators who are not admins (403)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    """Bind Flask-Login; unsigned visitors of moderation pages go to the sign-in page."""
    # No current_user in every template: a public page must not read the session (any cache may keep
    # it); the moderators' pages get it from their blueprint (app.moderation.blueprint).
    login_manager.init_app(app, add_context_processor=False)
    login_manager.user_loader(load_moderator)
    login_manager.login_view = "moderation.login"
    login_manager.login_message = ""
    login_manager.session_protection = "basic"
