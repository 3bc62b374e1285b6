"""“That's not me”: the person a listed entry names says they never signed it.

They give their address on the entry's dispute form, and the single-use link mailed to it
confirms the dispute. Confirmed from an address that shows a link to the name on the entry, the
entry leaves the public list at once, still counted, until a moderator reviews it: the public
log records an ``update`` that names no one, exactly as for a signature held by a flag. Confirmed
from any other address, the dispute goes to the moderators' queue and hides nothing, so that
nobody can take a real signer's name down by claiming to be them. Either way the queue shows the
dispute (the address's domain, whether it spells the name, the person's own words) beside the
signature's record, and the audit log says what happened.

An address shows a link to the name when its part before the ``@`` spells the entry's name: the
first and last names in either order, or the first initial and the last name, with or without
dots, dashes or underscores between them and digits after ("jane.doe", "doe_jane", "jdoe",
"j.doe2" for "Jane Doe"), at a domain that is not a disposable-address service. A name that an
address cannot spell (one written in hangul, say) never matches: those disputes go to the queue.
"""

from __future__ import annotations

import enum
import hmac
import re
from datetime import datetime, timedelta

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.models import AuditEntry, Dispute, Flag, FlagKind, Letter
from app.services import counting, reports
from app.services.domains import canonical_domain
from app.services.flags import Raised, flag_params
from app.services.tokens import hash_token, new_token
from app.text import name_key

# The audit log's action for a confirmed dispute, and its reasons (shown in words to moderators).
AUDIT_ACTION = "dispute"
HIDDEN = "hidden until reviewed"
QUEUED = "sent to the queue"


class Outcome(enum.StrEnum):
    """What confirming a dispute did."""

    # Off the public list until a moderator reviews it (the address spells the name).
    HIDDEN = "hidden"
    # In the moderators' queue; still listed.
    QUEUED = "queued"
    # Confirmed before: nothing more happens.
    ALREADY = "already"
    # The entry left the list meanwhile (hidden, withdrawn): nothing to dispute any more.
    GONE = "gone"


class DisputeLinkInvalid(DomainError):
    """No dispute waits for this link: mistyped, expired, or its entry is gone."""

    status_code = 404
    code = "dispute_link_invalid"
    message = "This link does not work: it has expired or was mistyped. You can send the form again."


def start(
    session: Session,
    letter: Letter,
    signature_id: int,
    *,
    email: str,
    statement: str,
    locale: str,
    now: datetime,
    lifetime: timedelta,
) -> tuple[Dispute, str]:
    """Record a dispute of a listed entry, to be confirmed from ``email``; it and the raw token for its link.

    Nothing is hidden or queued yet: an unconfirmed dispute is only a mail waiting to be answered.
    """
    signature = reports.reportable_signature(session, letter, signature_id)
    raw = new_token()
    dispute = Dispute(
        letter_id=letter.id,
        signature_id=signature.id,
        email=email,
        statement=statement.strip(),
        locale=locale,
        token_hash=hash_token(raw),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(dispute)
    session.flush()
    return dispute, raw


def find(session: Session, raw: str, *, now: datetime) -> Dispute:
    """The dispute this link confirms (confirmed already or not), or DisputeLinkInvalid."""
    dispute = None
    if raw and len(raw) <= 128:
        digest = hash_token(raw)
        dispute = session.scalar(select(Dispute).where(Dispute.token_hash == digest))
        # The lookup is by a hash no one can steer; the comparison is constant-time anyway.
        if dispute is not None and not hmac.compare_digest(dispute.token_hash, digest):
            dispute = None
    if dispute is None or (dispute.confirmed_at is None and dispute.expires_at <= now):
        raise DisputeLinkInvalid()
    return dispute


def confirm(session: Session, dispute: Dispute, *, now: datetime) -> Outcome:
    """The disputer opened the link: hide the entry until reviewed, or queue it (see the module's rule)."""
    if dispute.confirmed_at is not None:
        return Outcome.ALREADY
    dispute.confirmed_at = now
    signature = dispute.signature
    if not signature.listed:
        session.flush()
        return Outcome.GONE
    domain = canonical_domain(dispute.email.rpartition("@")[2]) or ""
    spells = spells_name(dispute.email, signature.name)
    flag = Flag(
        letter_id=dispute.letter_id,
        signature_id=signature.id,
        kind=FlagKind.DISPUTE,
        detail=Raised(
            FlagKind.DISPUTE,
            {"domain": domain, "spells_name": "yes" if spells else "no", "statement": dispute.statement},
        ).detail,
        contact=dispute.email,
        created_at=now,
    )
    session.add(flag)
    if spells:
        counting.start_review(session, signature, now=now)
    session.add(
        AuditEntry(
            at=now,
            moderator_id=None,
            moderator_email="",
            action=AUDIT_ACTION,
            letter_id=dispute.letter_id,
            signature_ids=str(signature.id),
            signature_count=1,
            reason=HIDDEN if spells else QUEUED,
        )
    )
    session.flush()
    dispute.flag_id = flag.id
    return Outcome.HIDDEN if spells else Outcome.QUEUED


def open_flags(session: Session, signature_id: int) -> list[Flag]:
    """The disputes of this signature that wait for the moderators (their flags), oldest first."""
    return list(
        session.scalars(
            select(Flag)
            .where(Flag.signature_id == signature_id, Flag.kind == FlagKind.DISPUTE, Flag.resolved_at.is_(None))
            .order_by(Flag.id)
        )
    )


def answer(session: Session, signature_id: int, text: str) -> int:
    """The signer's side, for the moderators beside each open dispute of their signature; how many it answers."""
    flags = open_flags(session, signature_id)
    for flag in flags:
        params = flag_params(flag.detail) or {}
        flag.detail = Raised(FlagKind.DISPUTE, {**params, "answer": text.strip()}).detail
    session.flush()
    return len(flags)


def spells_name(address: str, name: str) -> bool:
    """Whether ``address``'s part before the ``@`` spells ``name`` (see the module's rule) at a lasting domain."""
    local, _at, domain = address.rpartition("@")
    domain = canonical_domain(domain) or ""
    if not local or not domain or domain in DISPOSABLE_DOMAINS:
        return False
    words = [w for w in name_key(name).split() if w.isascii() and w.isalpha()]
    if len(words) < 2 or len(words[-1]) < 2:
        return False
    first, last = words[0], words[-1]
    # Sub-addresses ("+news") and the characters people put between names do not count.
    spelled = re.sub(r"[._-]", "", local.partition("+")[0].casefold()).rstrip("0123456789")
    return spelled in {first + last, last + first, first[0] + last, "".join(words)}


def open_disputes(session: Session, signature_ids: list[int]) -> dict[int, list[Dispute]]:
    """The confirmed disputes of these signatures whose flag is still open, by signature (for the queue)."""
    if not signature_ids:
        return {}
    found = session.scalars(
        select(Dispute)
        .join(Flag, Flag.id == Dispute.flag_id)
        .where(Dispute.signature_id.in_(signature_ids), Flag.resolved_at.is_(None))
        .order_by(Dispute.confirmed_at)
    )
    by_signature: dict[int, list[Dispute]] = {}
    for dispute in found:
        by_signature.setdefault(dispute.signature_id, []).append(dispute)
    return by_signature
