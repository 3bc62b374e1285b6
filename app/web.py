"""What every page shares: error pages and JSON errors, security headers, template helpers."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel import dates as babel_dates
from flask import Flask, Response, current_app, jsonify, render_template, request, url_for
from flask_babel import format_date, format_datetime, format_decimal, format_timedelta, get_locale, to_user_timezone
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.services.errors import DomainError

log = logging.getLogger(__name__)


def content_security_policy(frame_ancestors: str = "'none'") -> str:
    """The site's policy: no inline scripts or styles; framing only by ``frame_ancestors``."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()

# Messages for people, by status; the technical reason goes to the log, not the page.
ERROR_TITLES = {
    400: "The request could not be understood",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Not possible now",
    410: "No longer available",
    413: "Too much data",
    422: "Please check the form",
    429: "Too many requests",
    500: "Something went wrong",
}


def wants_json() -> bool:
    """Whether this request should get errors as JSON (the API) rather than a page."""
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str) -> Response | tuple[str, int]:
    """An error as JSON for the API, as a page otherwise."""
    if wants_json():
        response = jsonify(error=code, message=message)
        response.status_code = status
        return response
    title = _(ERROR_TITLES.get(status, "Something went wrong"))
    return render_template("errors/error.html", status=status, title=title, message=message), status


def handle_domain_error(error: DomainError) -> Response | tuple[str, int]:
    """A domain error becomes its status and message."""
    return error_response(error.status_code, error.code, _(error.message))


def handle_csrf_error(error: CSRFError) -> Response | tuple[str, int]:
    """A form without a valid CSRF token: say how to recover."""
    return error_response(
        400,
        "csrf",
        _("This form has expired or was not sent from this site. Go back, reload the page and try again."),
    )


def handle_http_error(error: HTTPException) -> Response | tuple[str, int]:
    """Werkzeug's errors (404, 405, 413, 429, ...) in the site's own words and layout.

    Only our own messages are shown: an exception's description may carry internal detail.
    """
    status = error.code or 500
    messages = {
        400: _("This request could not be understood. Go back, reload the page and try again."),
        403: _("You are not allowed to see this page."),
        404: _("There is nothing at this address."),
        405: _("This address does not accept that kind of request."),
        413: _("What you sent is larger than this site accepts. Please shorten it and try again."),
        429: too_many_requests_message(error),
    }
    default = _("Something went wrong on our side. Please try again in a moment.") if status >= 500 else None
    message = messages.get(status) or default or _("The request could not be carried out.")
    response = current_app.make_response(error_response(status, error.name.lower().replace(" ", "_"), message))
    # Keep the headers that tell a client what to do next (Allow for 405, Retry-After for 429 and 503).
    for name, value in error.get_headers():
        if name in {"Allow", "Retry-After"}:
            response.headers[name] = value
    return response


def too_many_requests_message(error: HTTPException) -> str:
    """When to try again, in words, from the exception's Retry-After if it has one."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, datetime):
        wait = retry_after - datetime.now(UTC)
    elif isinstance(retry_after, int):
        wait = timedelta(seconds=retry_after)
    else:
        return str(_("You have sent too many requests. Please wait a while and try again."))
    wait = max(wait, timedelta(seconds=1))
    return str(
        _("You have sent too many requests. Please try again in %(wait)s.", wait=format_timedelta(wait, threshold=1))
    )


def handle_unexpected(error: Exception) -> Response | tuple[str, int]:
    """Anything else: log it, and show a page that leaks nothing."""
    if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
        return handle_http_error(error)
    # The route's pattern, not the path: a path may hold a confirmation token.
    where = request.url_rule.rule if request.url_rule is not None else "(no route)"
    log.exception("unhandled error on %s %s", request.method, where)
    return error_response(500, "internal_error", _("Something went wrong on our side. Please try again in a moment."))


def set_security_headers(response: Response) -> Response:
    """Headers for every response.

    A view that may be framed sets its own Content-Security-Policy, e.g.
    ``content_security_policy(frame_ancestors="https:")``; it is kept, and X-Frame-Options is
    then left out, as it cannot name who may frame the page.
    """
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if "frame-ancestors 'none'" in headers["Content-Security-Policy"]:
        headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


class StaticAssets:
    """Cache-busting URLs for static files: a content hash, computed once at start-up."""

    def __init__(self, folder: str) -> None:
        self.versions = {
            path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for path in Path(folder).rglob("*")
            if path.is_file()
        }

    def url(self, filename: str) -> str:
        """The URL of a static file, with its version so that it can be cached for a year."""
        return url_for("static", filename=filename, v=self.versions.get(filename))


def static_max_age(_filename: str | None) -> int:
    """Versioned static URLs never change content: cache them for a year; others briefly."""
    return 365 * 24 * 3600 if request.args.get("v") else 300


def format_count(number: int) -> str:
    """A count in the visitor's locale (1,234)."""
    return str(format_decimal(number))


@lru_cache(maxsize=4096)
def _medium_date(day: date, locale: str) -> str:
    return str(babel_dates.format_date(day, "medium", locale=locale))


def signing_day(value: datetime) -> str:
    """A signature's date ("Nov 25, 2026") in the visitor's language and time zone.

    Cached per day and language: a list page shows fifty signers who mostly share a few days,
    and babel's formatting was the largest cost of rendering it.
    """
    return _medium_date(to_user_timezone(value).date(), str(get_locale() or "en"))


@lru_cache(maxsize=4096)
def _territory(code: str, locale: str) -> str:
    return str(Locale.parse(locale).territories.get(code, code))


def country_name(code: str | None) -> str:
    """The name of a country from its ISO code, in the visitor's language."""
    if not code:
        return ""
    return _territory(code, str(get_locale() or "en"))


def init_app(app: Flask) -> None:
    """Register the error handlers, the header hook and the template helpers."""
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
    app.after_request(set_security_headers)
    assets = StaticAssets(app.static_folder or "static")
    app.get_send_file_max_age = static_max_age  # type: ignore[method-assign,assignment]
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals.update(
        asset_url=assets.url,
        format_count=format_count,
        country_name=country_name,
        signing_day=signing_day,
        format_date=format_date,
        format_datetime=format_datetime,
        current_locale=lambda: str(get_locale() or "en"),
    )
