"""Short-lived, per-process caches of the hottest public answers: the count API and rendered pages.

A viral letter is read by thousands of people a second who all ask for the same few things.
Each app process keeps what it last answered for up to PAGE_CACHE_SECONDS (1 s by default),
and forgets all of it when the process commits a change to the database, so its own visitors
see their own changes at once; other processes' changes show within that bound. Only public
answers are kept, and they hold nothing of any visitor's (no cookie, session or token): the
same answers any HTTP cache in front may keep for PUBLIC_MAX_AGE (``app.web.public_page``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request
from flask_babel import get_locale
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
    """Make the app's cache, put the count API's middleware in front, forget all on each commit."""
    cache = TTLCache(float(app.config["PAGE_CACHE_SECONDS"]), clock=clock_of(app).monotonic)
    app.extensions[EXTENSION] = cache
    app.wsgi_app = CachedCountAPI(app.wsgi_app, cache)  # type: ignore[method-assign]

    def forget(_session: Any) -> None:
        cache.clear()

    event.listen(db.sessionmaker_of(app), "after_commit", forget)


def cached_page(kind: str, render: Callable[[], str]) -> str:
    """A public page rendered at most once per PAGE_CACHE_SECONDS for its address and language.

    Public pages hold nothing of any visitor's (``app.web.public_page``), so the page kept is
    the page every visitor gets; HTTP caches in front (nginx, a CDN) keep it for longer.
    """
    cache = page_cache()
    if not cache.enabled or request.method not in {"GET", "HEAD"}:
        return render()
    key = (kind, request.full_path, str(get_locale()))
    kept: str | None = cache.get(key)
    if kept is None:
        kept = render()
        cache.put(key, kept)
    return kept
