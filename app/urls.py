"""Absolute links built from BASE_URL, never from the request's Host header."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import BaseConverter


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
