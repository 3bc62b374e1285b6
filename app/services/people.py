"""The moderators' accounts as admins manage them: invitations, roles, disabling and enabling.

An admin invites an address with a role: an invitation row holds the link's token as its hash
and when it expires, and the invitation mail goes through the outbox in the same transaction.
The invitee opens the link, sets their own password and is signed in (the account is made by
``app.moderation.accounts``, which holds the password rules and the hashing). Each link works
once. An admin changes roles and disables or re-enables accounts; none of it may leave the site
without an active admin. Every change is in the audit log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.errors import N_, DomainError
from app.mail import compose, outbox
from app.models import Moderator, ModeratorInvitation, ModeratorRole
from app.services import moderation
from app.services.tokens import hash_token, new_token

INVITATION_MAIL = "invitation"


class PeopleError(DomainError):
    """A change to an account that cannot be made."""

    status_code = 409
    code = "account_change_refused"


class LastAdmin(PeopleError):
    """The change would leave no active admin."""

    message = N_("This is the last active admin: make another account an admin first.")


class AccountExists(PeopleError):
    """The address invited has an account already."""

    message = N_("There is an account with this address already.")


class InvitationProblem(DomainError):
    """An invitation link that is not valid, was used, or has expired."""

    status_code = 404
    code = "invalid_invitation"
    message = N_("This invitation link is not valid. It may have been copied incompletely.")


class InvitationUsed(InvitationProblem):
    """The link was used already."""

    status_code = 410
    message = N_("This invitation has been used already. Sign in with the password you set.")


class InvitationExpired(InvitationProblem):
    """The link is too old."""

    status_code = 410
    message = N_("This invitation has expired. Please ask an admin to invite you again.")


@dataclass(frozen=True)
class Person:
    """A row of the people page: an account, or an invitation not yet used."""

    email: str
    role: ModeratorRole
    moderator: Moderator | None
    invitation: ModeratorInvitation | None


def people(session: Session, *, now: datetime) -> list[Person]:
    """Every account (active first, then disabled, by address), then the invitations still open."""
    accounts = session.scalars(select(Moderator).order_by(Moderator.disabled_at.is_not(None), Moderator.email)).all()
    open_invitations = session.scalars(
        select(ModeratorInvitation)
        .where(ModeratorInvitation.used_at.is_(None), ModeratorInvitation.expires_at > now)
        .order_by(ModeratorInvitation.created_at.desc())
    ).all()
    return [Person(m.email, m.role, m, None) for m in accounts] + [
        Person(i.email, i.role, None, i) for i in open_invitations
    ]


def _active_admins(session: Session) -> int:
    """How many active admins there are, their rows locked until the transaction ends.

    Locked, so that two admins disabling (or demoting) each other at once cannot both see the
    other still active: on PostgreSQL the second waits for the first and then counts again.
    """
    ids = session.scalars(
        select(Moderator.id)
        .where(Moderator.role == ModeratorRole.ADMIN, Moderator.disabled_at.is_(None))
        .with_for_update()
    ).all()
    return len(ids)


def _keep_an_admin(session: Session, target: Moderator) -> None:
    """Refuse a change that takes away the last active admin."""
    if target.is_admin and target.disabled_at is None and _active_admins(session) <= 1:
        raise LastAdmin()


def invite(
    session: Session,
    admin: Moderator,
    email: str,
    role: ModeratorRole,
    *,
    now: datetime,
    ttl: timedelta,
    locale: str,
) -> ModeratorInvitation:
    """Invite ``email`` as ``role``: the invitation (replacing one not yet used) and its mail, audited."""
    email = email.strip().lower()
    if session.scalar(select(Moderator.id).where(Moderator.email == email)) is not None:
        raise AccountExists()
    session.execute(
        delete(ModeratorInvitation).where(ModeratorInvitation.email == email, ModeratorInvitation.used_at.is_(None))
    )
    raw = new_token()
    invitation = ModeratorInvitation(
        email=email,
        role=role,
        token_hash=hash_token(raw),
        invited_by_id=admin.id,
        invited_by_email=admin.email,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invitation)
    message = compose.invitation(email, role, raw, inviter=admin.email, days=max(1, ttl.days), locale=locale)
    outbox.enqueue(session, email, message, kind=INVITATION_MAIL, now=now)
    moderation.record(session, admin, "account.invite", now=now, letter=None, detail=f"{email} ({role})")
    session.flush()
    return invitation


def open_invitation(session: Session, raw: str, *, now: datetime) -> ModeratorInvitation:
    """The invitation a link names, if it can still be accepted; else an InvitationProblem."""
    invitation = session.scalar(select(ModeratorInvitation).where(ModeratorInvitation.token_hash == hash_token(raw)))
    if invitation is None:
        raise InvitationProblem()
    if invitation.used_at is not None:
        raise InvitationUsed()
    if invitation.expires_at <= now:
        raise InvitationExpired()
    return invitation


def accept(session: Session, invitation: ModeratorInvitation, moderator: Moderator, *, now: datetime) -> None:
    """Mark ``invitation`` used by the account just made for it, and audit it."""
    invitation.used_at = now
    moderator.last_login_at = now
    moderation.record(
        session, moderator, "account.join", now=now, letter=None, detail=f"{moderator.email} ({moderator.role})"
    )


def revoke(session: Session, admin: Moderator, invitation_id: int, *, now: datetime) -> None:
    """Withdraw an invitation not yet used (its link stops working), audited."""
    invitation = session.get(ModeratorInvitation, invitation_id)
    if invitation is None or invitation.used_at is not None:
        raise InvitationProblem()
    moderation.record(session, admin, "account.uninvite", now=now, letter=None, detail=invitation.email)
    session.delete(invitation)


def change_role(session: Session, admin: Moderator, target: Moderator, role: ModeratorRole, *, now: datetime) -> bool:
    """Give ``target`` the role ``role``, audited; whether it changed. Refuses to demote the last admin."""
    if target.role == role:
        return False
    if role != ModeratorRole.ADMIN:
        _keep_an_admin(session, target)
    detail = f"{target.email}: {target.role} -> {role}"
    # Takes effect with the account's next request: the role is read from this row each time.
    target.role = role
    moderation.record(session, admin, "account.role", now=now, letter=None, detail=detail)
    return True


def disable(session: Session, admin: Moderator, target: Moderator, *, now: datetime) -> bool:
    """Refuse ``target`` from now on and end its sessions, audited; whether it changed."""
    if target.disabled_at is not None:
        return False
    _keep_an_admin(session, target)
    target.disabled_at = now
    # As accounts.end_sessions does: a new session token, so every session signed in before ends.
    target.session_token = secrets.token_hex(16)
    moderation.record(session, admin, "account.disable", now=now, letter=None, detail=target.email)
    return True


def enable(session: Session, admin: Moderator, target: Moderator, *, now: datetime) -> bool:
    """Let a disabled account sign in again (with its password), audited; whether it changed."""
    if target.disabled_at is None:
        return False
    target.disabled_at = None
    moderation.record(session, admin, "account.enable", now=now, letter=None, detail=target.email)
    return True
