"""Flask extensions, created here and bound to the app in create_app()."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
babel = Babel()

# The interface languages: each but English (the msgids) has app/translations/<code>/LC_MESSAGES/messages.po.
LANGUAGES = ("en", "ko")
# Endpoints that others embed, cache or probe: a ?lang= there applies to that answer only, and no
# session cookie is set, so a shared cache never stores one visitor's cookie.
STATELESS_ENDPOINTS = frozenset(
    {
        "letters.badge",
        "letters.embed",
        "letters.preview_image",
        "letters.updates_feed",
        "static",
        "health.healthz",
        "health.readyz",
    }
)


def requested_language() -> str | None:
    """The language asked for in the address (?lang=ko), if it is one of ours."""
    chosen = request.args.get("lang")
    return chosen if chosen in LANGUAGES else None


def remember_language() -> None:
    """A ?lang= in the address is the visitor's choice: keep it in the session for the next pages."""
    chosen = requested_language()
    endpoint = request.endpoint or ""
    if (
        chosen
        and endpoint not in STATELESS_ENDPOINTS
        and not endpoint.startswith("api.")
        and session.get("lang") != chosen
    ):
        session["lang"] = chosen


def select_locale() -> str:
    """The visitor's chosen language, else the best of Accept-Language, else the site default."""
    if not has_request_context():
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = requested_language() or session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(LANGUAGES)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]
