"""Short-lived, per-process caches of the hottest public answers: the count API and rendered pages.

A viral letter is read by thousands of people a second who all ask for the same few things.
Each app process keeps what it last answered for up to PAGE_CACHE_SECONDS (1 s by default),
and forgets all of it when the process commits a change to the database, so its own visitors
see their own changes at once; other processes' changes show within that bound. Only
anonymous, public answers are kept: never a cookie, a session or a CSRF token (the letter page
is kept with holes where the form's per-visitor values go, see ``app.letters.views``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request, session
from flask_babel import get_locale
from itsdangerous import BadSignature
from sqlalchemy import event
from werkzeug.datastructures import Headers
from werkzeug.http import parse_etags, remove_entity_headers, unquote_etag

from app.clock import clock_of
from app.db import db

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EXTENSION = "undersigned.cache"


class TTLCache:
    """Values kept for ``ttl`` seconds, at most ``max_entries`` of them (the oldest go first).

    Not cachetools.TTLCache, though it has the same lifetime, bound and injectable timer: its
    reads write (each one moves the key in its LRU order and counts the timer's nesting), so
    threads would need a lock around every read, on the path that answers thousands of polls a
    second. Here a read is one dict lookup and only writers take the lock.
    """

    def __init__(self, ttl: float, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        # Reads are single dict operations; writers take turns (threaded servers evict and clear).
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether anything is kept at all (PAGE_CACHE_SECONDS=0 turns caching off)."""
        return self.ttl > 0

    def get(self, key: Hashable) -> Any | None:
        """The value stored under ``key`` if it is still fresh, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[0]:
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` for the cache's lifetime."""
        if not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries and key not in self._entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (self.clock() + self.ttl, value)

    def clear(self) -> None:
        """Forget everything (after this process changed the database)."""
        with self._lock:
            self._entries.clear()


def page_cache() -> TTLCache:
    """The current app's cache."""
    cache: TTLCache = current_app.extensions[EXTENSION]
    return cache


@dataclass(frozen=True)
class CachedAnswer:
    """A whole answer as the app gave it: its ETag, body and headers (with and without the body)."""

    etag: str
    body: bytes
    headers: list[tuple[str, str]]
    not_modified_headers: list[tuple[str, str]]


class CachedCountAPI:
    """WSGI middleware that answers ``GET /api/v1/letters/<slug>`` from the cache, before Flask.

    Pages and widgets poll this address every few seconds; most polls are answered here with
    the stored body, or ``304 Not Modified`` when the client's If-None-Match names the stored
    ETag, without routing, sessions, locale or database work. A miss goes to the app and its
    answer, if it is a 200 without a cookie, is kept (the answer depends on the address only).
    """

    PATH = re.compile(r"/api/v1/letters/[a-z0-9-]{1,80}")

    def __init__(self, app: WSGIApplication, cache: TTLCache) -> None:
        self.app = app
        self.cache = cache

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer from the cache when possible, else from the app (and keep its answer)."""
        path = environ.get("PATH_INFO", "")
        if (
            not self.cache.enabled
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("QUERY_STRING")
            or not self.PATH.fullmatch(path)
        ):
            return self.app(environ, start_response)
        key = ("api", environ.get("SCRIPT_NAME", ""), path, environ.get("wsgi.url_scheme"))
        answer: CachedAnswer | None = self.cache.get(key)
        if answer is None:
            answer, status, headers, body = self._fill(key, environ)
            if answer is None:
                start_response(status, headers)
                return [body]
        if _matches(environ.get("HTTP_IF_NONE_MATCH"), answer.etag):
            start_response("304 NOT MODIFIED", list(answer.not_modified_headers))
            return []
        start_response("200 OK", list(answer.headers))
        return [answer.body]

    def _fill(
        self, key: Hashable, environ: WSGIEnvironment
    ) -> tuple[CachedAnswer | None, str, list[tuple[str, str]], bytes]:
        """Ask the app for the whole answer (never a 304: the cache needs the body), keep it if it may be kept.

        The answer kept (None for one that may not be: an error, a cookie) and the app's own.
        """
        inner = {name: value for name, value in environ.items() if name != "HTTP_IF_NONE_MATCH"}
        status, headers, body = _whole_answer(self.app, inner)
        stored = Headers(headers)
        etag = stored.get("ETag")
        if not status.startswith("200 ") or not etag or "Set-Cookie" in stored:
            return None, status, headers, body
        stored.remove("Date")  # the server adds its own
        not_modified = stored.copy()
        remove_entity_headers(not_modified)
        answer = CachedAnswer(etag, body, stored.to_wsgi_list(), not_modified.to_wsgi_list())
        self.cache.put(key, answer)
        return answer, status, headers, body


@dataclass(frozen=True)
class KeptPage:
    """A page as the app gave a visitor without cookies, with holes for everything that was theirs."""

    body: str
    headers: list[tuple[str, str]]
    set_cookie: str
    session_keys: frozenset[str]
    holes: Mapping[str, Callable[[], str]]


class NewVisitorPages:
    """WSGI middleware that answers a new visitor's letter page from the cache, before Flask.

    When a letter goes viral nearly every reader is a new visitor: no cookie yet, so the page
    must come with a session of its own holding the signing form's CSRF secret. Flask would
    route the request, run its hooks and render (or take from the page cache) the same page
    for each of them. Here the page that the app last gave such a visitor (for this address,
    host and Accept-Language) is kept with holes where that visitor's values were: the form's
    CSRF token and time stamp, and the session cookie. Each new visitor gets fresh ones, made by
    the same functions the view uses (Flask-WTF's ``generate_csrf``, in a request context of
    their own) and a session cookie signed by the app's own session interface.

    Anything else goes to the app: a visitor with a cookie, a query string, another method,
    an answer that is not a 200 or that sets anything but the session.
    """

    PATH = re.compile(r"/|/letters/[a-z0-9-]{1,80}")

    def __init__(self, app: WSGIApplication, flask_app: Flask, cache: TTLCache) -> None:
        self.app = app
        self.flask_app = flask_app
        self.cache = cache

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The kept page with this visitor's values, else the app's answer (kept when it may be)."""
        if (
            not self.cache.enabled
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("QUERY_STRING")
            or environ.get("HTTP_COOKIE")
            or not self.PATH.fullmatch(environ.get("PATH_INFO", ""))
        ):
            return self.app(environ, start_response)
        key = (
            "new-visitor",
            environ.get("SCRIPT_NAME", ""),
            environ.get("PATH_INFO"),
            environ.get("wsgi.url_scheme"),
            environ.get("HTTP_HOST"),
            environ.get("HTTP_ACCEPT_LANGUAGE"),
        )
        kept: KeptPage | None = self.cache.get(key)
        answer = self._fresh(kept, environ) if kept is not None else None
        if answer is None:
            return self._fill(key, environ, start_response)
        body, headers = answer
        start_response("200 OK", headers)
        return [body]

    def _serializer(self) -> Any:
        return self.flask_app.session_interface.get_signing_serializer(self.flask_app)  # type: ignore[attr-defined]

    def _fresh(self, kept: KeptPage, environ: WSGIEnvironment) -> tuple[bytes, list[tuple[str, str]]] | None:
        """The kept page with a new visitor's values; None if their session would differ from the kept one's."""
        with self.flask_app.request_context(environ):
            values = {name: make() for name, make in kept.holes.items()}
            if set(session) != kept.session_keys:
                return None
            cookie = self._serializer().dumps(dict(session))
        body = kept.body
        for name, value in values.items():
            body = body.replace(_HOLE.format(name), value)
        data = body.encode()
        headers = [
            *kept.headers,
            ("Content-Length", str(len(data))),
            ("Set-Cookie", kept.set_cookie.replace(_HOLE.format("session"), cookie)),
        ]
        return data, headers

    def _fill(self, key: Hashable, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer from the app, and keep its answer when it is a page with holes and nothing else personal."""
        status, headers, body = _whole_answer(self.app, environ, start_response)
        kept = self._keepable(status, headers, body, environ.get(HOLES_KEY))
        if kept is not None:
            self.cache.put(key, kept)
        return [body]

    def _keepable(
        self,
        status: str,
        headers: list[tuple[str, str]],
        body: bytes,
        holes: tuple[Mapping[str, Any], Mapping[str, str]] | None,
    ) -> KeptPage | None:
        cookies = [value for name, value in headers if name.lower() == "set-cookie"]
        if not status.startswith("200 ") or holes is None or len(cookies) != 1:
            return None
        makers, values = holes
        name, _, rest = cookies[0].partition("=")
        value = rest.partition(";")[0]
        if name != self.flask_app.config["SESSION_COOKIE_NAME"] or cookies[0].count(value) != 1:
            return None
        try:
            stored = self._serializer().loads(value)
        except BadSignature:
            return None
        page = body.decode()
        if not values or any(page.count(v) != 1 for v in values.values()):
            return None
        for hole, made in values.items():
            page = page.replace(made, _HOLE.format(hole))
        kept_headers = [(n, v) for n, v in headers if n.lower() not in {"set-cookie", "content-length", "date"}]
        set_cookie = cookies[0].replace(value, _HOLE.format("session"), 1)
        return KeptPage(page, kept_headers, set_cookie, frozenset(stored), makers)


def _whole_answer(
    app: WSGIApplication, environ: WSGIEnvironment, forward: StartResponse | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run ``app`` to the end: its status, headers and whole body (also passed on to ``forward``, if given)."""
    seen: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen[:] = [status, headers]
        return forward(status, headers, exc_info) if forward is not None else (lambda _data: None)

    result = app(environ, capture)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = seen
    return status, headers, body


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, as Werkzeug does)."""
    if not if_none_match:
        return False
    if if_none_match == etag:
        return True
    value, _weak = unquote_etag(etag)
    return value is not None and parse_etags(if_none_match).contains_weak(value)


def init_app(app: Flask) -> None:
    """Make the app's cache, put the count API's and new visitors' middleware in front, forget all on each commit."""
    cache = TTLCache(float(app.config["PAGE_CACHE_SECONDS"]), clock=clock_of(app).monotonic)
    app.extensions[EXTENSION] = cache
    app.wsgi_app = NewVisitorPages(app.wsgi_app, app, cache)  # type: ignore[method-assign]
    app.wsgi_app = CachedCountAPI(app.wsgi_app, cache)  # type: ignore[method-assign]

    def forget(_session: Any) -> None:
        cache.clear()

    event.listen(db.sessionmaker_of(app), "after_commit", forget)


# Marks where a per-visitor value goes in a kept page; random, so no letter's text can hold it.
_HOLE = "\x00" + secrets.token_hex(8) + ":{}\x00"
# Where ``cached_page`` tells ``NewVisitorPages`` which per-visitor values a page holds.
HOLES_KEY = "undersigned.page_holes"


def cached_page(
    kind: str,
    render: Callable[[], tuple[str, Mapping[str, str]]],
    holes: Mapping[str, Callable[[], str]] | None = None,
) -> str:
    """A public page rendered at most once per PAGE_CACHE_SECONDS for its address and language.

    ``render`` gives the page and the per-visitor values it holds by name (a CSRF token, a
    form's time stamp); the page is kept with holes in their place, and each later visitor
    gets fresh values from ``holes``, made in their own request (so their own session). A
    value that does not occur exactly once in the page makes it one not to keep. Pages with
    flashed messages (they live in the visitor's session) are never kept nor served from here.
    """
    cache = page_cache()
    if not cache.enabled or request.method not in {"GET", "HEAD"} or session.get("_flashes"):
        return render()[0]
    key = (kind, request.full_path, str(get_locale()))
    kept: str | None = cache.get(key)
    if kept is not None:
        made = {name: make() for name, make in (holes or {}).items()}
        for name, value in made.items():
            kept = kept.replace(_HOLE.format(name), value)
        request.environ[HOLES_KEY] = (holes or {}, made)
        return kept
    html, values = render()
    if set(values) == set(holes or {}) and all(html.count(value) == 1 for value in values.values()):
        template = html
        for name, value in values.items():
            template = template.replace(value, _HOLE.format(name))
        cache.put(key, template)
        request.environ[HOLES_KEY] = (holes or {}, values)
    return html
