"""Compressed answers: Brotli or gzip for text (HTML, JSON, CSS, JavaScript, SVG, CSV, feeds), as the client accepts.

WSGI middleware, outside everything else, so the page caches in ``app.caching`` keep and fill
plain answers and each client gets the encoding it asked for. Streamed answers (downloads,
snapshots) are compressed as they stream, chunk by chunk, never gathered whole. A compressed
answer's ETag becomes weak (``W/"..."``): the bytes differ from the plain answer's, but the
content is the same, so an If-None-Match with it still gets 304 (the views compare weakly, as
RFC 9110 says for If-None-Match). Not compressed: anything but a 200 (a byte range, a 304),
HEAD, an answer that already has a Content-Encoding or says ``no-transform``, and one smaller
than ``MIN_SIZE``, which compression would not make smaller.

COMPRESS_RESPONSES=false turns it off where a reverse proxy in front compresses instead.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import brotli  # type: ignore[import-untyped]
from werkzeug.datastructures import Headers
from werkzeug.http import parse_accept_header

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/csv",
        "text/plain",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/atom+xml",
        "application/xml",
        "image/svg+xml",
    }
)
MIN_SIZE = 256
# Fast settings: answers are made per request (static files too, but they are few and small).
GZIP_LEVEL = 6
BROTLI_QUALITY = 5


class _Encoder:
    """One answer's compressor: ``compress`` each chunk, then ``finish``."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        if encoding == "br":
            brotli_compressor = brotli.Compressor(quality=BROTLI_QUALITY)
            self.compress: Callable[[bytes], bytes] = brotli_compressor.process
            self.finish: Callable[[], bytes] = brotli_compressor.finish
        else:
            gzip_compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            self.compress = gzip_compressor.compress
            self.finish = gzip_compressor.flush


def chosen_encoding(accept_encoding: str | None) -> str | None:
    """The encoding to answer in: Brotli, else gzip, when the client accepts it; None for neither."""
    if not accept_encoding:
        return None
    accepted = parse_accept_header(accept_encoding)
    for encoding in ("br", "gzip"):
        if accepted[encoding] > 0:  # the exact name's quality: "*" alone is not asked for here
            return encoding
    return None


class CompressResponses:
    """WSGI middleware that compresses text answers for clients that accept it."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The app's answer, compressed when it and the client allow it."""
        wanted = (
            None if environ.get("REQUEST_METHOD") == "HEAD" else chosen_encoding(environ.get("HTTP_ACCEPT_ENCODING"))
        )
        chosen: list[_Encoder] = []
        started: list[bool] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer = Headers(headers)
            kind = answer.get("Content-Type", "").partition(";")[0].strip().lower()
            if kind in COMPRESSIBLE:
                # Caches must keep the plain and each compressed answer apart.
                vary = [v.strip() for v in answer.get("Vary", "").split(",") if v.strip()]
                if "accept-encoding" not in {v.lower() for v in vary}:
                    answer["Vary"] = ", ".join([*vary, "Accept-Encoding"])
                if wanted and _worth_it(status, answer):
                    chosen[:] = [_Encoder(wanted)]
                    answer["Content-Encoding"] = wanted
                    answer.remove("Content-Length")
                    answer.remove("Accept-Ranges")
                    etag = answer.get("ETag")
                    if etag and not etag.startswith("W/"):
                        answer["ETag"] = "W/" + etag
            started.append(True)
            return start_response(status, answer.to_wsgi_list(), exc_info)

        result = self.app(environ, start)
        if chosen:
            return _compressed(result, chosen)
        if started:
            return result  # as it is (a file wrapper stays one)
        # An app may start its answer with its first chunk: decide then.
        return _compressed(result, chosen)


def _worth_it(status: str, answer: Headers) -> bool:
    """Whether an answer of this status and these headers is to be compressed."""
    length = answer.get("Content-Length")
    return (
        status.startswith("200 ")
        and "Content-Encoding" not in answer
        and "Content-Range" not in answer
        and "no-transform" not in answer.get("Cache-Control", "")
        and (length is None or int(length) >= MIN_SIZE)
    )


def _compressed(result: Iterable[bytes], chosen: list[_Encoder]) -> Iterator[bytes]:
    """The chunks of ``result``, compressed as they come if an encoder was ``chosen``; ``result`` closed after.

    The choice is made when the answer starts, at the latest before its first chunk.
    """
    try:
        for chunk in result:
            if not chosen:
                yield chunk
                continue
            data = chosen[0].compress(chunk)
            if data:
                yield data
        if chosen:
            yield chosen[0].finish()
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
