"""Flask extensions, created here and bound to the app in create_app()."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
babel = Babel()

LANGUAGES = ("en",)


def select_locale() -> str:
    """The visitor's chosen language, else the best of Accept-Language, else the site default."""
    if not has_request_context():
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(LANGUAGES)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]
