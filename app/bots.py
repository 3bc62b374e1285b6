"""Quiet checks against bots and floods on the signing form.

A submission that trips one gets the usual "check your inbox" answer, so a bot learns
nothing, but its signature is held as suspect: no mail, not counted, not listed, and purged
with other unconfirmed data. Real people do trip these checks sometimes (a password manager
that fills the form at once, an office behind one address), so holding is recoverable: the
person who signs again normally releases the signature, and moderators can see held ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import NamedTuple, Protocol

from flask import Flask, current_app, request
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from markupsafe import Markup

from app.clock import Clock, current_clock
from app.config import ConfigError
from app.models import SuspectReason
from app.ratelimit import client_network_key, over_soft_limit

# A form older than this is still fine to send; its time stamp only says when it was shown.
FORM_STAMP_MAX_AGE = 7 * 24 * 3600
# A form sent back faster than SIGN_MIN_SECONDS (a browser's autofill, a quick person) is asked
# about once: the page that asks carries a stamp of its own, signed apart from the form's, and
# the answer must come at least this long after that page was shown. Only a second failure holds.
ASK_MIN_SECONDS = 1
FORM_SALT = "undersigned.sign-form"
ASK_SALT = "undersigned.sign-ask"


class Captcha(Protocol):
    """A CAPTCHA service, plugged in with CAPTCHA=module:factory (none by default).

    ``factory(app)`` returns an object with these two methods. The site makes no call to
    any third party unless one is configured; its widget may need the CSP widened.
    """

    def widget(self) -> Markup:
        """HTML to put in the signing form, above the button."""
        ...

    def verify(self, form: Mapping[str, str], remote_addr: str | None) -> bool:
        """Whether the submitted form passed the challenge."""
        ...


def load_captcha(app: Flask) -> None:
    """Import and build the configured CAPTCHA, if any (a wrong path stops start-up)."""
    path = app.config.get("CAPTCHA") or ""
    captcha: Captcha | None = None
    if path:
        module_name, _, factory_name = path.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), factory_name or "create_captcha")
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"CAPTCHA={path!r} cannot be loaded ({exc}): set it to package.module:factory of an installed "
                "module, or leave it unset"
            ) from None
        captcha = factory(app)
    app.extensions["undersigned.captcha"] = captcha


def current_captcha() -> Captcha | None:
    """The app's CAPTCHA, or None."""
    captcha: Captcha | None = current_app.extensions.get("undersigned.captcha")
    return captcha


class FormStampSigner(TimestampSigner):
    """Signs and reads the form's time stamp by the app's clock (which tests move on)."""

    def __init__(self, secret: str, clock: Clock, salt: str = FORM_SALT) -> None:
        super().__init__(secret, salt=salt)
        self.clock = clock

    def get_timestamp(self) -> int:
        """The clock's current second."""
        return int(self.clock.time())


def _signer(salt: str = FORM_SALT) -> FormStampSigner:
    return FormStampSigner(current_app.config["SECRET_KEY"], current_clock(), salt)


# The last stamp made: (secret, second, stamp). A stamp holds nothing but its second, so every
# form shown in the same second gets the same one; signing it once a second saves the letter page
# an HMAC per visitor.
_last_stamp: tuple[str, int, str] = ("", -1, "")


def new_form_stamp() -> str:
    """A signed note of when the form was shown, for the minimum fill time."""
    global _last_stamp
    secret, second = current_app.config["SECRET_KEY"], int(current_clock().time())
    if _last_stamp[:2] != (secret, second):
        _last_stamp = (secret, second, _signer().sign("form").decode())
    return _last_stamp[2]


def new_ask_stamp() -> str:
    """A signed note of when the "is this you?" page was shown (see ASK_MIN_SECONDS)."""
    return _signer(ASK_SALT).sign("ask").decode()


def seconds_since_shown(stamp: str | None, salt: str = FORM_SALT) -> float | None:
    """How long ago the form (or page) with ``stamp`` was shown; None if the stamp is missing or forged."""
    if not stamp:
        return None
    signer = _signer(salt)
    try:
        _, shown = signer.unsign(stamp, max_age=FORM_STAMP_MAX_AGE, return_timestamp=True)
    except (BadSignature, SignatureExpired):
        return None
    return signer.clock.time() - shown.timestamp()


class FillTime(NamedTuple):
    """How fast the form came back: what is wrong with it, if anything, and the seconds it was open."""

    problem: SuspectReason | None
    # Seconds between the form being shown and sent back; None when its stamp is missing or forged.
    seconds: float | None


def read_fill_time(stamp: str | None, asked: str | None) -> FillTime:
    """What is wrong with how fast the form came back, and how fast (each stamp is read once per request).

    ``asked`` is the stamp of the "is this you?" page when the form comes back from it: then the
    answer must come ASK_MIN_SECONDS after that page, not SIGN_MIN_SECONDS after the form.
    The seconds are always the form's, for moderators to read beside a held signature.
    """
    seconds = seconds_since_shown(stamp)
    minimum = current_app.config["SIGN_MIN_SECONDS"]
    if minimum <= 0:
        return FillTime(None, seconds)
    elapsed = seconds_since_shown(asked, ASK_SALT) if asked else seconds
    if elapsed is None:
        return FillTime(SuspectReason.NO_FORM_TIME, seconds)
    if elapsed < (ASK_MIN_SECONDS if asked else minimum):
        return FillTime(SuspectReason.TOO_FAST, seconds)
    return FillTime(None, seconds)


def should_ask(honeypot: str | None, asked: str | None, timing: SuspectReason | None) -> bool:
    """Whether to ask "is this you?" rather than take the form: sent back too fast, and not asked yet.

    Nothing is counted or stored for a form that is asked about: the answer is the real attempt.
    """
    return not honeypot and not asked and timing == SuspectReason.TOO_FAST


def suspect_reason(honeypot: str | None, timing: SuspectReason | None) -> SuspectReason | None:
    """Why this signing request looks like a bot or a flood, or None; ``timing`` is read_fill_time's problem."""
    # Counted for every attempt, held or not, so a flood cannot hide behind its own bots.
    flooding = over_soft_limit("RATELIMIT_SIGN_HOLD_PER_NETWORK", client_network_key())
    if honeypot:
        return SuspectReason.HONEYPOT
    if timing is not None:
        return timing
    captcha = current_captcha()
    if captcha is not None and not captcha.verify(request.form, request.remote_addr):
        return SuspectReason.CAPTCHA
    if flooding:
        return SuspectReason.NETWORK_FLOOD
    return None
