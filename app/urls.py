"""URLs: absolute links built from BASE_URL (never from the request's Host header), and row ids in paths."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from werkzeug.routing import BaseConverter, IntegerConverter, Map

from app.models import MAX_ROW_ID


class IdConverter(IntegerConverter):
    """``<id:name>``: a row id or number, 1 to MAX_ROW_ID, in ASCII digits; anything else matches no route.

    Werkzeug's ``int`` takes any size (and any script's digits): a number beyond the 32-bit
    columns reached the database, which refused it with an error page (a 500) instead of a 404.
    """

    # At most ten digits: a longer number is out of range anyway, and is never converted.
    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_ROW_ID)


def register_converters(app: Flask) -> None:
    """Make ``<id:...>`` available to the routes (before any blueprint is registered)."""
    app.url_map.converters["id"] = IdConverter


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for ``endpoint`` under the configured BASE_URL (works outside requests)."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


class LinkTokenConverter(BaseConverter):
    """``<token:name>``: the secret of a link from an email, taken to the end of the path, slashes and all.

    No real token holds a slash, but a link that was cut or mangled on its way may (``%2F`` arrives
    as ``/``, and a mail program may add a trailing one). Such a path still reaches the view and
    gets the page of any bad token, where Werkzeug would otherwise tidy it and redirect (308)
    to the address of another token.
    """

    regex = ".*"
    part_isolating = False
