"""The moderators' blueprint: every route under it but sign-in needs an active, signed-in moderator.

The routes live in modules beside this one (``views``, and one module per part of the console);
``app.create_app`` imports them all before registering the blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import current_user
from werkzeug.wrappers import Response

from app.moderation.accounts import login_manager

bp = Blueprint("moderation", __name__, url_prefix="/moderate")
# The routes open without signing in: sign-in, and those a module adds (a link mailed to an account).
PUBLIC_ENDPOINTS = {"moderation.login"}


@bp.context_processor
def moderator_in_templates() -> dict[str, Any]:
    """``current_user`` in the moderators' templates (and only there: public pages read no session)."""
    return {"current_user": current_user}


@bp.before_request
def refuse_anonymous() -> Response | None:
    """Every moderation page needs a signed-in, active moderator (sign-in and its limits aside)."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    return None


@bp.after_request
def private(response: Response) -> Response:
    """Moderation pages hold personal data: never stored by a browser or a cache."""
    response.headers["Cache-Control"] = "no-store"
    return response
