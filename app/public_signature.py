"""The public fields of a signature: the one list the API, its schema, the downloads and the log share.

Each field says how it is read from a signature (an ORM object, or a row selected with the
columns it names), its JSON schema, and where it goes:

* the API's ``Signature`` (``api.views.signature_json``) and its OpenAPI schema: every field;
* the public log's commitments and open-data snapshots (``COMMITTED``): all but the
  organisation's name, which comes from the site's table of domains, not from the signature;
* the public CSV and JSON downloads (``DOWNLOADED``): the fields they have always had.

The order is the order a spreadsheet reads best (the snapshots' and downloads' columns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.timestamps import iso

_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}


@dataclass(frozen=True)
class PublicField:
    """One public field of a signature."""

    name: str
    schema: dict[str, Any]
    # The value from a Signature, or from a row that has the ``columns`` (None: not the signature's own).
    read: Callable[[Any], Any] | None
    columns: tuple[str, ...] = ()
    committed: bool = True
    downloaded: bool = True


def _column(name: str) -> Callable[[Any], Any]:
    return lambda row: getattr(row, name)


def _plain(name: str, schema: dict[str, Any], **where: bool) -> PublicField:
    """A field that is a column of the same name."""
    return PublicField(name, schema, _column(name), (name,), **where)


FIELDS: tuple[PublicField, ...] = (
    _plain("id", {"type": "integer", "description": "For the report link"}, downloaded=False),
    _plain("name", {"type": "string"}),
    _plain("affiliation", _NULLABLE_STRING),
    _plain("country", {"type": ["string", "null"], "description": "ISO 3166-1 alpha-2"}),
    _plain("city", _NULLABLE_STRING),
    _plain("comment", _NULLABLE_STRING),
    PublicField(
        "verified",
        {"type": "boolean", "description": "A moderator checked that this signatory is who the name says"},
        lambda row: row.verified_at is not None,
        ("verified_at",),
    ),
    PublicField(
        "signed_at", {"type": "string", "format": "date-time"}, lambda row: iso(row.confirmed_at), ("confirmed_at",)
    ),
    _plain(
        "founding", {"type": "boolean", "description": "One of the letter's founding signatories"}, downloaded=False
    ),
    PublicField(
        "version",
        {
            "type": "integer",
            "minimum": 1,
            "description": "The version of the letter's text this signature was signed under",
        },
        _column("letter_version"),
        ("letter_version",),
        downloaded=False,
    ),
    # The domain is the signature's own; its organisation's name is the site's current table of
    # domains, so the log vouches for the domain and leaves the name to that table.
    _plain(
        "confirmed_domain",
        {
            "type": ["string", "null"],
            "description": "The domain of the address the signer confirmed with, if they chose to "
            "show it (never for webmail or disposable domains; never the address)",
        },
    ),
    PublicField(
        "confirmed_organisation",
        {
            "type": ["string", "null"],
            "description": "The listed organisation that confirmed_domain belongs to, if any",
        },
        None,
        committed=False,
    ),
)

NAMES = tuple(field.name for field in FIELDS)
# The fields the public log commits to, and its snapshots' columns (before leaf_index and salt).
COMMITTED = tuple(field.name for field in FIELDS if field.committed)
# The columns of the public CSV and JSON downloads.
DOWNLOADED = tuple(field.name for field in FIELDS if field.downloaded)

_READ = {field.name: field.read for field in FIELDS if field.read is not None}


def read(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields ``names`` of a Signature (or of a row with their columns), in that order."""
    return {name: _READ[name](row) for name in names if name in _READ}


def columns(names: tuple[str, ...]) -> tuple[str, ...]:
    """The Signature columns that ``read`` needs for the fields ``names``."""
    return tuple(column for field in FIELDS if field.name in names for column in field.columns)


def committed(values: Mapping[str, Any]) -> dict[str, Any]:
    """The committed fields from plain values by field name (a row not loaded as a Signature)."""
    return {name: values[name] for name in COMMITTED}


def schema() -> dict[str, Any]:
    """The OpenAPI schema of a signature in the API."""
    return {
        "type": "object",
        "required": list(NAMES),
        "properties": {field.name: field.schema for field in FIELDS},
    }
