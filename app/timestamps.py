"""How the site writes a moment for machines: ISO 8601 in UTC, with a "Z".

The one formatter behind the API, the public log's leaves and commitments, the exports and the
feeds. The log commits to times exactly as the API lists them, so the two must never differ: a
second formatter would change the bytes a signer's commitment covers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, overload


@overload
def iso(value: datetime, *, timespec: Literal["auto", "seconds"] = "auto") -> str: ...
@overload
def iso(value: None, *, timespec: Literal["auto", "seconds"] = "auto") -> None: ...
@overload
def iso(value: datetime | None, *, timespec: Literal["auto", "seconds"] = "auto") -> str | None: ...


def iso(value: datetime | None, *, timespec: Literal["auto", "seconds"] = "auto") -> str | None:
    """``value`` in UTC as ISO 8601 ending in "Z" (microseconds only when not zero); None stays None.

    ``timespec="seconds"`` drops the fraction (a datetime attribute, a feed's dates).
    """
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
