"""Flask extensions, created here and bound to the app in create_app()."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
babel = Babel()

# The interface languages: each but English (the msgids) has app/translations/<code>/LC_MESSAGES/messages.po.
LANGUAGES = ("en", "ko")
# Endpoints that others embed, cache or probe: a ?lang= there is not carried on to their links.
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


def carries_language(endpoint: str) -> bool:
    """Whether links to ``endpoint`` carry the ?lang= of the page they are on (pages, not files or the API)."""
    return endpoint not in STATELESS_ENDPOINTS and not endpoint.startswith("api.")


def keep_language(endpoint: str, values: dict[str, object]) -> None:
    """``url_for`` hook: a page asked for in a language links on in that language.

    The language lives in the address, never in a cookie: each language of a public page is
    its own entry in any HTTP cache, and no visitor is given a cookie for choosing one.
    """
    chosen = requested_language() if has_request_context() else None
    if chosen and "lang" not in values and carries_language(endpoint):
        values["lang"] = chosen


def select_locale() -> str:
    """The language in the address (?lang=), else the best of Accept-Language, else the site default."""
    if not has_request_context():
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = requested_language()
    if chosen:
        return chosen
    best = request.accept_languages.best_match(LANGUAGES)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]
