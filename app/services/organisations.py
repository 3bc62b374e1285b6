"""The organisations table (domain -> name), edited by admins and loaded from CSV.

It serves the affiliation-mismatch flag (app.services.flags) and the "Example University
(confirmed)" badge of signers who confirmed with an address at a listed domain.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.models import Moderator, Organisation
from app.services import moderation
from app.services.domains import canonical_domain, is_public_mail
from app.text import clean_line

NAME_MAX = 200
DOMAIN_MAX = 255
# Labels of letters, digits and inner hyphens (IDNs in their xn-- form), at least two of them.
_DOMAIN = re.compile(r"^(?=.{4,255}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


class BadOrganisation(DomainError):
    """An organisation with a missing or malformed name or domain."""

    code = "bad_organisation"


def normalise_domain(value: str) -> str:
    """A domain in its canonical form (xn--… for IDNs, lower case, no "@" or trailing dot), or BadOrganisation."""
    # The form signers' domains are stored in (IDNA 2008 A-labels), so that they compare equal.
    domain = canonical_domain(value.strip().lstrip("@"))
    if domain is None or not _DOMAIN.match(domain):
        raise BadOrganisation(f"“{value.strip()}” is not a domain like example.edu.")
    if is_public_mail(domain):
        raise BadOrganisation(
            f"{domain} is a public webmail or disposable-mail domain: anyone can have an address there."
        )
    return domain


def normalise_name(value: str) -> str:
    """An organisation's name on one line, or BadOrganisation."""
    name = clean_line(value)
    if not name:
        raise BadOrganisation("The organisation needs a name.")
    if len(name) > NAME_MAX:
        raise BadOrganisation(f"The name must be at most {NAME_MAX} characters.")
    return name


def all_organisations(session: Session) -> Sequence[Organisation]:
    """Every organisation, by domain."""
    return list(session.scalars(select(Organisation).order_by(Organisation.domain)))


def _by_domain(session: Session, domain: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.domain == domain))


def add(session: Session, moderator: Moderator, *, domain: str, name: str, now: datetime) -> Organisation:
    """Add an organisation; its domain must not be listed yet."""
    domain, name = normalise_domain(domain), normalise_name(name)
    if _by_domain(session, domain) is not None:
        raise BadOrganisation(f"{domain} is listed already; edit it instead.")
    organisation = Organisation(domain=domain, name=name)
    session.add(organisation)
    session.flush()
    moderation.record(session, moderator, "organisation.add", now=now, letter=None, detail=f"{domain}: {name}")
    return organisation


def edit(
    session: Session, moderator: Moderator, organisation: Organisation, *, domain: str, name: str, now: datetime
) -> None:
    """Change an organisation's domain or name."""
    domain, name = normalise_domain(domain), normalise_name(name)
    other = _by_domain(session, domain)
    if other is not None and other.id != organisation.id:
        raise BadOrganisation(f"{domain} is listed already, as {other.name}.")
    before = f"{organisation.domain}: {organisation.name}"
    organisation.domain, organisation.name = domain, name
    session.flush()
    moderation.record(
        session, moderator, "organisation.edit", now=now, letter=None, detail=f"{before} -> {domain}: {name}"
    )


def delete(session: Session, moderator: Moderator, organisation: Organisation, *, now: datetime) -> None:
    """Remove an organisation (signers at its domain keep their shown domain, without the badge)."""
    detail = f"{organisation.domain}: {organisation.name}"
    session.delete(organisation)
    session.flush()
    moderation.record(session, moderator, "organisation.delete", now=now, letter=None, detail=detail)


@dataclass
class LoadReport:
    """What loading a CSV did, and the lines it refused (line number, reason)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def parse_csv(text: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """The (line, domain, name) rows of a CSV with columns domain,name, and the bad lines with why."""
    rows: list[tuple[int, str, str]] = []
    errors: list[tuple[int, str]] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if not record or all(not cell.strip() for cell in record):
            continue
        if line == 1 and [cell.strip().lower() for cell in record[:2]] == ["domain", "name"]:
            continue
        if len(record) != 2:
            errors.append((line, f"expected 2 columns (domain,name), found {len(record)}"))
            continue
        try:
            domain, name = normalise_domain(record[0]), normalise_name(record[1])
        except BadOrganisation as exc:
            errors.append((line, exc.message))
            continue
        if domain in seen:
            errors.append((line, f"{domain} is also on line {seen[domain]}"))
            continue
        seen[domain] = line
        rows.append((line, domain, name))
    return rows, errors


def load_csv(
    session: Session, text: str, *, moderator: Moderator | None = None, now: datetime, skip_bad: bool = False
) -> LoadReport:
    """Add or update organisations from CSV text (columns domain,name; a header line is optional).

    With bad lines and without ``skip_bad``, nothing is stored and the report lists every bad
    line; with ``skip_bad`` the good lines are stored.
    """
    rows, errors = parse_csv(text)
    report = LoadReport(errors=errors)
    if errors and not skip_bad:
        return report
    existing = {
        o.domain: o for o in session.scalars(select(Organisation).where(Organisation.domain.in_([r[1] for r in rows])))
    }
    for _, domain, name in rows:
        organisation = existing.get(domain)
        if organisation is None:
            session.add(Organisation(domain=domain, name=name))
            report.added += 1
        elif organisation.name != name:
            organisation.name = name
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    if moderator is not None:
        detail = f"CSV: {report.added} added, {report.updated} updated, {len(report.errors)} bad lines skipped"
        moderation.record(session, moderator, "organisation.load", now=now, letter=None, detail=detail)
    return report
