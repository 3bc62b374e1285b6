"""What every page shares: error pages and JSON errors, security headers, template helpers."""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec
from urllib.parse import quote, urlsplit

from babel import Locale
from babel import dates as babel_dates
from babel.core import get_global
from flask import Flask, Request, Response, current_app, g, jsonify, render_template, request, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_babel import (
    format_date,
    format_datetime,
    format_decimal,
    format_percent,
    format_timedelta,
    get_locale,
    get_translations,
    to_user_timezone,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from werkzeug.exceptions import Forbidden, HTTPException, InternalServerError
from werkzeug.formparser import FormDataParser

from app.clock import clock_of
from app.db import UNAVAILABLE_ERRORS, database_unavailable
from app.errors import N_, DomainError
from app.extensions import LANGUAGES, STATELESS_ENDPOINTS, keep_language, requested_language
from app.services import domains
from app.services.domains import display_domain
from app.timestamps import iso
from app.urls import external_url

if TYPE_CHECKING:
    from app.mail.compose import Signer

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
    400: N_("The request could not be understood"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("Not allowed here"),
    409: N_("Not possible now"),
    410: N_("No longer available"),
    413: N_("Too much data"),
    422: N_("Please check the form"),
    429: N_("Too many requests"),
    500: N_("Something went wrong"),
    503: N_("Back in a moment"),
}


def wants_json() -> bool:
    """Whether this request should get errors as JSON (the API) rather than a page."""
    return request.path.startswith("/api/")


def error_response(
    status: int, code: str, message: str, *, letter_slug: str | None = None
) -> Response | tuple[str, int]:
    """An error as JSON for the API, as a page otherwise (with a link to the letter ``letter_slug``, if given)."""
    if wants_json():
        response = jsonify(error=code, message=message)
        response.status_code = status
        return response
    title = _(ERROR_TITLES.get(status, ERROR_TITLES[500]))
    page = render_template("errors/error.html", status=status, title=title, message=message, letter_slug=letter_slug)
    return page, status


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


def handle_cross_site(error: CrossSiteRequest) -> Response | tuple[str, int]:
    """A form sent from another site: say where to sign instead."""
    return error_response(
        403,
        "cross_site",
        _("This form was sent from another website. To sign, open the letter on this site and use its form."),
        letter_slug=(request.view_args or {}).get("slug"),
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


OUTAGE_LOG = "undersigned.outage_log"


class _OutageLog:
    """Say that the database is unreachable once per ``every`` seconds, not once per request."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.last: float | None = None
        self.quiet = 0

    def report(self, error: BaseException, where: str) -> None:
        now = clock_of(current_app).monotonic()
        if self.last is not None and now - self.last < self.every:
            self.quiet += 1
            return
        also = f" ({self.quiet} more since the last report)" if self.quiet else ""
        log.warning(
            "database unavailable on %s %s, answered 503%s: %s",
            request.method,
            where,
            also,
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
        )
        self.last, self.quiet = now, 0


def handle_database_unavailable(error: Exception) -> Response:
    """503 with Retry-After and words a person understands; the API gets the same as JSON."""
    where = request.url_rule.rule if request.url_rule is not None else "(no route)"
    current_app.extensions[OUTAGE_LOG].report(error, where)
    message = _(
        "The site cannot reach its database for a moment. Please try again in a few seconds. "
        "If you were signing, sending the form again is safe: an address is only ever counted once."
    )
    response = current_app.make_response(error_response(503, "unavailable", message))
    g.unavailable_retry_after = str(current_app.config["UNAVAILABLE_RETRY_AFTER"])
    response.headers["Retry-After"] = g.unavailable_retry_after
    response.headers["Cache-Control"] = "no-store"
    return response


def keep_unavailable_retry_after(response: Response) -> Response:
    """A 503's Retry-After says when the database should be back, whatever a rate limit's window says."""
    retry_after = g.get("unavailable_retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def handle_unexpected(error: Exception) -> Response | tuple[str, int]:
    """Anything else: log it, and show a page that leaks nothing."""
    if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
        return handle_http_error(error)
    if database_unavailable(error):  # an invalidated connection outside UNAVAILABLE_ERRORS' classes
        return handle_database_unavailable(error)
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


def format_share(share: float) -> str:
    """A share as a percentage in the visitor's language, to a tenth under ten per cent ("4.5%", "87%")."""
    return str(format_percent(share, "#,##0.#%" if share < 0.1 else "#,##0%"))


# Stands for the number while a count's sentence is split around it.
_NUMBER = "\x00"


def count_sentence(number: int) -> tuple[str, str]:
    """The words before and after a signature count in the visitor's language ("", " signatures"; "", "명").

    The page sets the number between them in its own element, so that the script can update it.
    """
    before, _sep, after = _count_words(number, _NUMBER).partition(_NUMBER)
    return before, after


def count_text(number: int) -> str:
    """A signature count as a phrase in the visitor's language ("1,234 signatures", "1,234명")."""
    return _count_words(number, format_count(number))


def _count_words(number: int, shown: str) -> str:
    # Flask-Babel's ngettext puts the raw number in %(num)s; the count is shown formatted.
    words = get_translations().ngettext("%(num)s signature", "%(num)s signatures", number)
    return str(words % {"num": shown})


def machine_time(moment: datetime) -> str:
    """A moment for a datetime attribute: UTC, to the second ("2026-11-20T09:30:00Z")."""
    return iso(moment, timespec="seconds")


def time_tag(moment: datetime, format: str = "medium", *, with_time: bool = False) -> Markup:
    """A <time> element with the moment in the visitor's locale, to set inside a translated sentence.

    With the time: hours and minutes on a 24-hour clock and the zone ("December 10, 2026 18:00 UTC"),
    never seconds, never an AM/PM that a language does not use.
    """
    shown = format_date(moment, format)
    if with_time:
        shown = f"{shown} {clock_time(moment)}"
    return Markup('<time datetime="{}">{}</time>').format(machine_time(moment), shown)


def clock_time(moment: datetime) -> str:
    """The time of ``moment`` in the visitor's time zone: "18:05 UTC"."""
    local = to_user_timezone(moment)
    return f"{local:%H:%M} {local.tzname() or ''}".strip()


def short_day(day: date | datetime) -> str:
    """A day in few characters, in the visitor's language: "Dec 3", "12월 3일"."""
    return str(babel_dates.format_skeleton("MMMd", day, locale=str(get_locale() or "en")))


def short_hour(moment: datetime) -> str:
    """An hour (UTC) in few characters, in the visitor's language and 24-hour time: "Dec 3 17:00", "12월 3일 17:00"."""
    locale = str(get_locale() or "en")
    day = babel_dates.format_skeleton("MMMd", moment, tzinfo=UTC, locale=locale)
    return f"{day} {babel_dates.format_skeleton('Hm', moment, tzinfo=UTC, locale=locale)}"


# How long ago, in the largest whole unit: one step of each, below a day (Babel's words, cached).
_RELATIVE_STEPS: tuple[tuple[int, Literal["hour", "minute"]], ...] = ((3600, "hour"), (60, "minute"))


@lru_cache(maxsize=1024)
def _ago(amount: int, unit: Literal["hour", "minute"], locale: str) -> str:
    ago = timedelta(seconds=amount)
    return str(babel_dates.format_timedelta(ago, granularity=unit, threshold=1, add_direction=True, locale=locale))


def signed_when(moment: datetime) -> Markup:
    """When a signature was confirmed: "5 minutes ago" ("5분 전") within a day, else its date.

    The exact moment is in the element's datetime (live.js keeps the recent ones current) and,
    to the minute, in its title.
    """
    # The app's clock: a page is the same for every visitor within its second (tests freeze it).
    now = datetime.fromtimestamp(clock_of(current_app).time(), UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    exact = f"{signing_day(moment)} {clock_time(moment)}"
    seconds = int((now - moment).total_seconds())
    locale = str(get_locale() or "en")
    if 0 <= seconds < 24 * 3600:
        if seconds < 60:
            shown = _("just now")
        else:
            size, unit = next((size, unit) for size, unit in _RELATIVE_STEPS if seconds >= size)
            shown = _ago(-(seconds // size) * size, unit, locale)
        return Markup('<time class="signer-date" datetime="{}" title="{}" data-relative>{}</time>').format(
            machine_time(moment), exact, shown
        )
    return Markup('<time class="signer-date" datetime="{}" title="{}">{}</time>').format(
        machine_time(moment), exact, signing_day(moment)
    )


def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago ``moment`` was, in its largest whole unit ("5 minutes ago", "3일 전"); "just now" in a minute."""
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return str(_("just now"))
    delta = timedelta(seconds=-seconds)
    return str(babel_dates.format_timedelta(delta, threshold=1, add_direction=True, locale=str(get_locale() or "en")))


def when_tag(moment: datetime) -> Markup:
    """When something happened, relative and exact, in the reader's language: "5 minutes ago" and
    "Dec 3, 2026 15:40 UTC" (a 24-hour clock, never an AM/PM), in a <time> element."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    exact = f"{signing_day(moment)} {clock_time(moment)}"
    return Markup(
        '<time class="when" datetime="{}"><span class="when-ago">{}</span> <span class="when-exact">{}</span></time>'
    ).format(machine_time(moment), ago(moment), exact)


def share_links(url: str, title: str) -> list[tuple[str, str]]:
    """Plain links that share ``url`` by email and on common networks (no script of theirs runs here)."""
    q = quote
    return [
        (_("Email"), f"mailto:?subject={q(title)}&body={q(title + chr(10) + chr(10) + url)}"),
        ("WhatsApp", f"https://wa.me/?text={q(title + ' ' + url, safe='')}"),
        ("LINE", f"https://social-plugins.line.me/lineit/share?url={q(url, safe='')}"),
        ("X", f"https://x.com/intent/post?text={q(title)}&url={q(url, safe='')}"),
        ("Bluesky", f"https://bsky.app/intent/compose?text={q(title + ' ' + url, safe='')}"),
        ("Facebook", f"https://www.facebook.com/sharer/sharer.php?u={q(url, safe='')}"),
        ("LinkedIn", f"https://www.linkedin.com/sharing/share-offsite/?url={q(url, safe='')}"),
        ("Threads", f"https://www.threads.net/intent/post?text={q(title + ' ' + url, safe='')}"),
    ]


def badge_closed() -> str:
    """The right half of a closed letter's badge."""
    return str(_("closed"))


def text_width(text: str) -> int:
    """Roughly how wide ``text`` is in pixels at 11px Verdana-like type (wide characters count double)."""
    return sum(13 if unicodedata.east_asian_width(char) in {"W", "F"} else 7 for char in text)


def language_name(code: str) -> str:
    """A language's name in that language ("English", "한국어")."""
    return str(Locale.parse(code.replace("-", "_")).get_display_name(code.replace("-", "_")) or code)


@lru_cache(maxsize=64)
def og_locale(code: str) -> str:
    """A language as Open Graph names locales, language_TERRITORY ("en_US", "ko_KR"): its likeliest territory."""
    locale = Locale.parse(code.replace("-", "_"))
    territory = locale.territory
    if not territory:
        subtags = get_global("likely_subtags")
        likely = subtags.get(f"{locale.language}_{locale.script}") or subtags.get(locale.language)
        territory = Locale.parse(likely).territory if likely else None
    return f"{locale.language}_{territory}" if territory else locale.language


def url_in_language(code: str | None, *, external: bool = False) -> str:
    """This page's address asking for another language (a GET page keeps its query); None: for none in particular."""
    view_args = dict(request.view_args or {})
    # lang=None: no ?lang= at all (url_for leaves it out, and keep_language leaves it alone).
    language = {"lang": code}
    if request.method == "GET" and request.endpoint and request.endpoint not in STATELESS_ENDPOINTS:
        # Query keys never reach url_for's own options (_external, _scheme, ...) or the route's arguments.
        values: dict[str, Any] = {
            key: value for key, value in request.args.items() if key != "lang" and not key.startswith("_")
        }
        return url_for(request.endpoint, **{**values, **view_args, **language}, _external=external)
    if "slug" in view_args:
        return url_for("letters.letter", slug=view_args["slug"], **language, _external=external)
    return url_for("letters.index", **language, _external=external)


def is_public_page() -> bool:
    """Whether this answer is a public page (``public_page``): the same for everyone, cacheable."""
    return bool(request.environ.get(PUBLIC_PAGE))


def alternate_links() -> list[tuple[str, str]]:
    """This page in each language, for search engines (hreflang), and with none chosen (x-default)."""
    links = [(code, url_in_language(code, external=True)) for code in LANGUAGES]
    return [*links, ("x-default", url_in_language(None, external=True))]


def language_links() -> list[dict[str, str | bool]]:
    """The language switcher: each interface language with its name, address and whether it is current."""
    current = str(get_locale() or "en")
    return [
        {"code": code, "name": language_name(code), "url": url_in_language(code), "current": code == current}
        for code in LANGUAGES
    ]


def shorten(text: str, limit: int) -> tuple[str, bool]:
    """The first ``limit`` characters of ``text`` or so, cut at a space, and whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,.;:") + "…", True


def vary_on_language(response: Response) -> Response:
    """A page asked for without ?lang= is in the language Accept-Language picks: tell caches so."""
    if response.mimetype in LANGUAGE_DEPENDENT_TYPES and requested_language() is None:
        response.vary.add("Accept-Language")
    return response


P = ParamSpec("P")
# Set on a request for a public page: its answer must carry no cookie and not vary by one.
PUBLIC_PAGE = "undersigned.public_page"

# The answers whose words follow the visitor's language.
LANGUAGE_DEPENDENT_TYPES = frozenset({"text/html", "image/svg+xml", "application/atom+xml"})


def public_cache_control() -> str:
    """The Cache-Control of a public page: any cache may keep it briefly, and serve it stale while the app is away."""
    config = current_app.config
    return (
        f"public, max-age={config['PUBLIC_MAX_AGE']}, "
        f"stale-while-revalidate={config['PUBLIC_STALE_WHILE_REVALIDATE']}, "
        f"stale-if-error={config['PUBLIC_STALE_IF_ERROR']}"
    )


def public_page(view: Callable[P, Any]) -> Callable[P, Response]:
    """A page that is the same for every visitor: cacheable by any HTTP cache, with an ETag for revalidation.

    Such a page reads no cookie and sets none (so nothing on it is any visitor's own); its
    language comes from the address or, without ?lang=, from Accept-Language (``Vary``).
    """

    @wraps(view)
    def public_view(*args: P.args, **kwargs: P.kwargs) -> Response:
        request.environ[PUBLIC_PAGE] = True  # no session is saved for it: see SiteSessionInterface
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code not in {200, 304} or request.method not in {"GET", "HEAD"}:
            return response
        response.headers["Cache-Control"] = public_cache_control()
        if response.status_code == 200 and not response.is_streamed:
            response.add_etag()
            response.make_conditional(request.environ)
        return response

    return public_view


def from_another_site() -> bool:
    """Whether a browser sent this request from a page of another site (OWASP's Fetch Metadata and Origin checks).

    Browsers say where a request comes from in Sec-Fetch-Site (all current ones) or, older ones,
    in Origin on every POST; "same-origin", or none of them (a typed address, a bookmark, a
    program), is this site. Only a page elsewhere makes a browser send "cross-site" or
    "same-site", or an Origin naming another host (or "null": a sandboxed or privacy-hidden one).
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in {"same-origin", "none"}
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    # The host alone: a proxy may pass the Host header without the port the browser used.
    return origin == "null" or urlsplit(origin).hostname != urlsplit(f"//{request.host}").hostname


def refuse_other_sites() -> None:
    """Answer 403 to a form a browser sent from another site (the signing form has no session to hold a token)."""
    if from_another_site():
        raise CrossSiteRequest()


class CrossSiteRequest(Forbidden):
    """A form a browser sent from a page on another site."""


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


def signature_details(signature: Signer) -> list[tuple[str, str]]:
    """Every detail a signature publishes or uses, as (label, value) in the visitor's language.

    The confirmation mail and the page behind its link list all of them, because the link
    confirms all of them: someone else may have typed the address into the form.
    """
    none = "—"
    domain = signature.email_domain.strip().lower()
    shown = domains.shown_domain(domain, signature.show_domain)
    if shown:
        domain_shown = _("Shown: “%(shown)s”", shown=_("confirmed via @%(domain)s", domain=shown))
    elif signature.show_domain and domains.is_public_mail(domain):
        domain_shown = _("Not shown: @%(domain)s is a public mail service", domain=domain)
    else:
        domain_shown = _("Not shown")
    return [
        (_("Name"), signature.name),
        (_("Affiliation or title"), signature.affiliation or none),
        (_("Country"), country_name(signature.country) or none),
        (_("City"), signature.city or none),
        (_("Comment"), signature.comment or none),
        (_("Your name on the public list"), _("Shown") if signature.public else _("Not shown: counted only")),
        (_("The domain of your email address"), domain_shown),
        (_("Email updates about this letter"), _("Yes") if signature.wants_updates else _("No")),
    ]


class TextFieldsParser(FormDataParser):
    """Werkzeug's form parser, keeping only named text fields: this site takes no uploads.

    Werkzeug keeps a multipart part without a name under the key None, and Flask-WTF's CSRF check
    then calls ``key.endswith`` on it (a 500); a file sent in place of a text field reaches the
    field's filters as a FileStorage (another 500). Without them, the forms see missing fields.
    """

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """Parse as Werkzeug does, then drop files and anything without a name."""
        stream, form, files = super().parse(*args, **kwargs)
        if None in form:
            form = self.cls([(key, value) for key, value in form.items(multi=True) if key is not None])
        for _name, upload in files.items(multi=True):
            upload.close()
        return stream, form, self.cls()


class SiteSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer made once per key, not twice a request.

    A public page's answer saves no session: no Set-Cookie (Flask would refresh a moderator's
    permanent session on every answer) and no ``Vary: Cookie`` (extensions such as Flask-Login
    look into the session after every request), so every visitor gets the same cacheable answer.
    """

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Save the session as Flask does, except after a public page."""
        if request.environ.get(PUBLIC_PAGE):
            return
        super().save_session(app, session, response)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer for the app's current keys (a new one only when they change)."""
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = getattr(self, "_serializer", None)
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            self._serializer = cached
        return cached[1]


class SiteRequest(Request):
    """Flask's request, with the form parser above."""

    form_data_parser_class = TextFieldsParser


def init_app(app: Flask) -> None:
    """Register the request class, the error handlers, the header hook and the template helpers."""
    app.request_class = SiteRequest
    app.session_interface = SiteSessionInterface()
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(CrossSiteRequest, handle_cross_site)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
    app.extensions[OUTAGE_LOG] = _OutageLog()
    for error_class in UNAVAILABLE_ERRORS:
        app.register_error_handler(error_class, handle_database_unavailable)
    app.after_request(set_security_headers)
    # Flask-Limiter's header hook raises Retry-After to its window's reset on every response. Hooks
    # run last-registered first, so this one goes to the front of the list to run after it.
    app.after_request_funcs.setdefault(None, []).insert(0, keep_unavailable_retry_after)
    app.after_request(vary_on_language)
    app.url_defaults(keep_language)
    assets = StaticAssets(app.static_folder or "static")
    app.get_send_file_max_age = static_max_age  # type: ignore[method-assign,assignment]
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["machine_time"] = machine_time
    app.jinja_env.filters["display_domain"] = display_domain
    app.jinja_env.globals.update(
        asset_url=assets.url,
        format_count=format_count,
        format_share=format_share,
        count_sentence=count_sentence,
        count_text=count_text,
        language_links=language_links,
        short_day=short_day,
        short_hour=short_hour,
        alternate_links=alternate_links,
        is_public_page=is_public_page,
        language_name=language_name,
        og_locale=og_locale,
        shorten=shorten,
        time_tag=time_tag,
        share_links=share_links,
        external_url=external_url,
        languages=LANGUAGES,
        country_name=country_name,
        signature_details=signature_details,
        signing_day=signing_day,
        signed_when=signed_when,
        when_tag=when_tag,
        ago=ago,
        clock_time=clock_time,
        format_decimal=format_decimal,
        format_date=format_date,
        format_datetime=format_datetime,
        current_locale=lambda: str(get_locale() or "en"),
    )
