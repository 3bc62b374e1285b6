"""Automatic flags: reasons to look at a signature, raised as it is signed.

A flag never hides a signature or takes it off the count. Two kinds (``HOLDING``: a name on the
watch list, an address at a disposable-mail domain) keep a confirmed signature off the public
list until a moderator has reviewed it, unless LIST_FLAGGED is set; the others (a burst from one
network, the same name again, an affiliation at another domain, and every public report) only
put it in the moderators' queue, so that a report can never hide a real signer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from sqlalchemy import Row, bindparam, func, or_, select
from sqlalchemy.orm import Session

from app.models import FlagKind, Letter, Organisation, WatchName
from app.services.domains import canonical_domain, parent_domains
from app.text import name_key

# The flags that keep a signature off the public list until a moderator approves it (or dismisses
# them): impersonations of public figures and throwaway addresses, the two a journalist would
# find first. Counted all the same.
HOLDING = frozenset({FlagKind.WATCHLIST, FlagKind.DISPOSABLE})


def holds(raised: Iterable[Raised], *, list_flagged: bool) -> bool:
    """Whether these flags keep the signature off the public list until reviewed (never with ``list_flagged``)."""
    return not list_flagged and any(r.kind in HOLDING for r in raised)


@dataclass(frozen=True)
class Raised:
    """One flag to raise, with the facts behind it (a moderator reads them in their own language)."""

    kind: FlagKind
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        """The facts as stored in ``Flag.detail``: a JSON object, turned into a sentence when shown."""
        return json.dumps(dict(self.params), ensure_ascii=False, sort_keys=True)


def flag_params(detail: str) -> dict[str, str] | None:
    """The facts stored by ``Raised.detail``, or None for a detail written as plain text."""
    if not detail.startswith("{"):
        return None
    try:
        params = json.loads(detail)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else None


def _domain_matches(domain: str, organisation_domain: str) -> bool:
    return domain == organisation_domain or domain.endswith("." + organisation_domain)


def _organisations_statement(dialect: str) -> Any:
    """Organisations at given domains, or named inside a given affiliation (built once per database)."""
    statement = _ORGANISATIONS.get(dialect)
    if statement is None:
        contains = func.strpos if dialect == "postgresql" else func.instr
        statement = select(Organisation.id, Organisation.name, Organisation.domain).where(
            or_(
                Organisation.domain.in_(bindparam("domains", expanding=True)),
                contains(bindparam("claimed"), func.lower(Organisation.name)) > 0,
            )
        )
        _ORGANISATIONS[dialect] = statement
    return statement


_ORGANISATIONS: dict[str, Any] = {}
_WATCHED = select(WatchName.name).where(WatchName.key == bindparam("key"))


def _claimed_elsewhere(session: Session, affiliation: str, email_domain: str) -> Row[Any] | None:
    """An organisation (id, name, domain) the affiliation names whose domain is not the address's, if any.

    One query: the organisations at the address's domain or a parent of it, and those whose
    name appears in the affiliation (compared in the database, so the table is never loaded).
    """
    claimed = affiliation.casefold()
    # Organisations' domains are stored canonical (xn--…): the address's is compared in that form.
    domain = canonical_domain(email_domain) or email_domain
    statement = _organisations_statement(session.get_bind().dialect.name)
    rows = session.execute(statement, {"domains": parent_domains(domain), "claimed": claimed}).all()
    named = [o for o in rows if o.name.casefold() in claimed]
    if any(_domain_matches(domain, o.domain) for o in named):
        return None
    return min(named, key=lambda o: o.id, default=None)


def assess(
    session: Session,
    letter: Letter,
    *,
    name: str,
    email_domain: str,
    affiliation: str | None,
    over_limit: Callable[[str, str], bool],
) -> list[Raised]:
    """The flags a new signature earns.

    ``over_limit(setting, key)`` counts one hit in a shared rate-limit window and says
    whether the window is full; it spots bursts from one network and repeats of one name
    without a query over the signatures.
    """
    raised: list[Raised] = []
    key = name_key(name)
    watched = session.scalar(_WATCHED, {"key": key})
    if watched:
        raised.append(Raised(FlagKind.WATCHLIST, {"name": watched}))
    if (canonical_domain(email_domain) or email_domain) in DISPOSABLE_DOMAINS:  # the list has xn-- forms
        raised.append(Raised(FlagKind.DISPOSABLE, {"domain": email_domain}))
    if over_limit("FLAG_SIMILAR_NAMES", f"{letter.id}:{key}"):
        raised.append(Raised(FlagKind.SIMILAR_NAMES))
    if affiliation:
        mismatch = _claimed_elsewhere(session, affiliation, email_domain)
        if mismatch is not None:
            raised.append(
                Raised(
                    FlagKind.AFFILIATION,
                    {"organisation": mismatch.name, "organisation_domain": mismatch.domain, "domain": email_domain},
                )
            )
    return raised


def network_burst(over_limit: Callable[[str, str], bool], letter: Letter, network: str) -> Raised | None:
    """A flag when many signatures come from one network in a short window."""
    if over_limit("FLAG_NETWORK_BURST", f"{letter.id}:{network}"):
        return Raised(FlagKind.NETWORK_BURST)
    return None
