"""Private launches: a letter signed by invitation before it is public, then launched in one transaction.

A *private letter* is a draft with invitations. Nobody else sees it: every public page, the
API, the feeds, badges, embeds and snapshots answer for a draft as if it did not exist. People
sign it through invitation links only:

* a **personal** invitation is mailed to one address and signs once;
* a **shared** link signs up to ``cap`` times (each form sent through it uses one place).

Whoever signs through an invitation is a founding signatory, and confirms by email like anyone
else: an invitation forwarded to someone else cannot put a name on the list that its address has
not confirmed. Founders see each other on a private preview reached from their own link.

The **launch** (an admin's button, ``flask letter launch``, or the worker at ``opens_at``)
publishes the letter with ``letters.publish_letter``, which writes the public log's ``add``
entries for every counted signature in the same transaction, so the log, the count and the list
appear together, dated from the launch (the events written while the letter was private were
never sequenced, see ``app.log.sequencing``, and are replaced). Optionally each founder is mailed
that the letter is public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import N_, DomainError
from app.mail import compose, outbox
from app.models import (
    AuditEntry,
    Invitation,
    InvitationKind,
    Job,
    JobStatus,
    Letter,
    Moderator,
    Signature,
    SignatureStatus,
)
from app.services import founding, jobs, letters, moderation, signing
from app.services.tokens import TokenLifetimes, hash_token, new_token

# The job that launches a private letter at its opening time.
LAUNCH_JOB = "letter_launch"
MAX_CAP = 10_000
MAX_PEOPLE = 500
LAUNCH_MAIL = "launch"
INVITATION_MAIL = "founder_invitation"


class InvitationProblem(DomainError):
    """An invitation link that cannot be used (unknown, or revoked)."""

    status_code = 404
    code = "invalid_invitation"
    message = N_("This invitation link is not valid. It may have been copied incompletely, or withdrawn.")


class InvitationUsed(InvitationProblem):
    """A personal invitation that has signed already."""

    status_code = 410
    code = "invitation_used"
    message = N_("This invitation has already been used to sign. Each personal invitation signs once.")


class InvitationFull(InvitationProblem):
    """A shared link that has signed as many times as its cap allows."""

    status_code = 409
    code = "invitation_full"
    message = N_(
        "This invitation link has been used by as many people as it allows. Ask the organisers for a link of your own."
    )


class NotPrivate(DomainError):
    """The letter is public already: there is nothing to invite to, or to launch."""

    status_code = 409
    code = "already_public"
    message = N_("This letter is already public.")


@dataclass(frozen=True)
class Made:
    """A new invitation and its raw token (shown or mailed once; only its hash is stored)."""

    invitation: Invitation
    token: str


def _require_private(letter: Letter) -> None:
    if not letter.draft:
        raise NotPrivate()


def _new(session: Session, letter: Letter, kind: InvitationKind, *, email: str | None, cap: int, now: datetime) -> Made:
    raw = new_token()
    invitation = Invitation(
        letter=letter, kind=kind, email=email, token_hash=hash_token(raw), cap=cap, uses=0, created_at=now
    )
    session.add(invitation)
    session.flush()
    return Made(invitation, raw)


def invite_people(
    session: Session, letter: Letter, emails: Sequence[str], *, now: datetime, locale: str, mail: bool = True
) -> list[Made]:
    """A single-use invitation for each (normalised) address, each mailed to it through the outbox.

    An address with an unused invitation gets a new one and the older stops working, so the
    latest mail is the one that signs.
    """
    _require_private(letter)
    if not emails:
        raise ValueError("give at least one address")
    if len(emails) > MAX_PEOPLE:
        raise ValueError(f"at most {MAX_PEOPLE} addresses at a time")
    made = []
    for email in dict.fromkeys(emails):
        session.execute(
            update(Invitation)
            .where(
                Invitation.letter_id == letter.id,
                Invitation.email == email,
                Invitation.uses == 0,
                Invitation.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        item = _new(session, letter, InvitationKind.PERSONAL, email=email, cap=1, now=now)
        if mail:
            outbox.enqueue(
                session,
                email,
                compose.founder_invitation(letter, item.token, locale=locale),
                kind=INVITATION_MAIL,
                now=now,
            )
        made.append(item)
    return made


def invite_shared(session: Session, letter: Letter, *, cap: int, now: datetime) -> Made:
    """A link anyone who has it may sign through, up to ``cap`` times."""
    _require_private(letter)
    if not 1 <= cap <= MAX_CAP:
        raise ValueError(f"the cap must be between 1 and {MAX_CAP}")
    return _new(session, letter, InvitationKind.SHARED, email=None, cap=cap, now=now)


def find(session: Session, raw: str) -> Invitation:
    """The invitation behind ``raw`` (revoked ones refused), or InvitationProblem."""
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(raw)))
    if invitation is None or invitation.revoked_at is not None:
        raise InvitationProblem()
    return invitation


def check_usable(invitation: Invitation) -> None:
    """Refuse an invitation that has no place left: used (personal) or full (shared)."""
    if invitation.uses >= invitation.cap:
        raise InvitationUsed() if invitation.kind == InvitationKind.PERSONAL else InvitationFull()


def sign_through(
    session: Session,
    invitation: Invitation,
    data: signing.SignatureInput,
    *,
    now: datetime,
    ttl: TokenLifetimes,
) -> None:
    """Use one place of ``invitation`` to sign its letter as a founding signatory (confirmed by email).

    The place is taken by a conditional UPDATE, so two people using the last place of a shared
    link at once cannot both sign.
    """
    letter = invitation.letter
    _require_private(letter)
    check_usable(invitation)
    taken = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.uses < Invitation.cap, Invitation.revoked_at.is_(None))
        .values(uses=Invitation.uses + 1, used_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(invitation)
        check_usable(invitation)
        raise InvitationProblem()
    session.expire(invitation, ["uses", "used_at"])
    founding.sign_founding(session, letter, [data], now=now, ttl=ttl)


def revoke(session: Session, invitation: Invitation, *, now: datetime) -> None:
    """Stop a link working (what it signed stays signed)."""
    if invitation.revoked_at is None:
        invitation.revoked_at = now
        session.flush()


def letter_invitations(session: Session, letter: Letter) -> list[Invitation]:
    """The letter's invitations, newest first."""
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.letter_id == letter.id)
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


def founders(session: Session, letter: Letter) -> list[Signature]:
    """The founding signatories on the list so far (confirmed, shown by their choice), in order of signing."""
    return list(
        session.scalars(
            select(Signature)
            .where(Signature.letter_id == letter.id, Signature.founding.is_(True), Signature.listed)
            .order_by(Signature.confirmed_at, Signature.id)
        )
    )


def schedule(
    session: Session, letter: Letter, opens_at: datetime | None, *, now: datetime, mail_founders: bool = False
) -> None:
    """Set (or clear, with None) the time the worker launches the private letter by itself."""
    _require_private(letter)
    letter.opens_at = opens_at
    letter.updated_at = now
    if opens_at is not None:
        jobs.add(
            session,
            LAUNCH_JOB,
            {"letter_id": letter.id, "mail_founders": mail_founders},
            now=now,
            run_after=max(opens_at, now),
        )
    session.flush()


def scheduled_mail(session: Session, letter: Letter) -> bool:
    """Whether the launch at the letter's opening time mails the founders (as its newest job says)."""
    waiting = session.scalars(
        select(Job).where(Job.kind == LAUNCH_JOB, Job.status == JobStatus.PENDING).order_by(Job.id.desc())
    )
    for job in waiting:
        if job.payload.get("letter_id") == letter.id:
            return bool(job.payload.get("mail_founders"))
    return False


@dataclass(frozen=True)
class Launched:
    """What a launch did: how many signatures the log now lists, and how many founders were mailed."""

    counted: int
    mailed: int


def launch(
    session: Session,
    letter: Letter,
    *,
    now: datetime,
    moderator: Moderator | None,
    mail_founders: bool,
    how: str,
) -> Launched:
    """Make the private letter public with its founders, in the caller's transaction; audited as ``letter.launch``.

    The letter's page, list, count, feeds and API appear at once; the public log gets an ``add``
    for each counted signature, dated now. ``how`` says in the audit entry what launched it.
    """
    _require_private(letter)
    # Takes the letter's row lock and checks it is still private in one statement: of two launches
    # at once (the button and the worker), the second finds it public and writes nothing.
    still_private = session.execute(
        update(Letter)
        .where(Letter.id == letter.id, Letter.draft.is_(True))
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if still_private.rowcount != 1:  # type: ignore[attr-defined]
        raise NotPrivate()
    # The day it really opened, whatever opening date the editor had.
    letter.published_at = now
    letters.publish_letter(session, letter, now=now)
    counted = list(
        session.scalars(
            select(Signature)
            .where(Signature.letter_id == letter.id, Signature.status == SignatureStatus.CONFIRMED)
            .order_by(Signature.confirmed_at, Signature.id)
        )
    )
    mailed = 0
    if mail_founders:
        for signature in counted:
            if signature.founding and signature.email:
                outbox.enqueue(
                    session,
                    signature.email,
                    compose.launched(signature),
                    kind=LAUNCH_MAIL,
                    now=now,
                    signature=signature,
                )
                mailed += 1
    detail = f"{how}; {len(counted)} counted; {mailed} founders mailed"
    if moderator is not None:
        moderation.record(session, moderator, "letter.launch", now=now, letter=letter, detail=detail)
    else:
        session.add(
            AuditEntry(
                at=now,
                moderator_id=None,
                moderator_email="",
                action="letter.launch",
                letter_id=letter.id,
                reason=detail,
            )
        )
    session.flush()
    return Launched(len(counted), mailed)


def launch_if_due(session: Session, letter_id: int, *, now: datetime, mail_founders: bool) -> bool:
    """The worker's launch at ``opens_at``: launch the letter if it is still private and its time has come."""
    letter = session.get(Letter, letter_id, with_for_update=True)
    if letter is None or not letter.draft or letter.opens_at is None or letter.opens_at > now:
        # Launched by hand meanwhile, or its opening time moved (a newer job stands for it).
        return False
    launch(session, letter, now=now, moderator=None, mail_founders=mail_founders, how="at its opening time")
    return True
