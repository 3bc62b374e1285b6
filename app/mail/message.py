"""A composed message, the one thing the outbox stores and the transports send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Email:
    """A composed message, not yet addressed; ``headers`` are added to it as they are."""

    subject: str
    text: str
    html: str
    headers: Mapping[str, str] = field(default_factory=dict)
