"""People on the web: admins invite moderators by email, change roles, disable and re-enable accounts.

The invitation link (``/moderate/invitation/<token>``) is the one page of the console besides
sign-in that needs no account: whoever holds the link sets the account's password and is signed
in. The command line (``flask moderator ...``) still does all of it too.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField, SelectField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.db import db, utcnow
from app.extensions import LANGUAGES
from app.forms import Form
from app.models import Moderator, ModeratorRole
from app.moderation import accounts
from app.moderation.accounts import admin_required, current_moderator, sign_in
from app.moderation.blueprint import PUBLIC_ENDPOINTS, bp
from app.services import people
from app.web import language_name

# Whoever holds an invitation's link opens it without an account.
PUBLIC_ENDPOINTS.add("moderation.invitation")

ROLE_LABELS = {ModeratorRole.MODERATOR: _l("Moderator"), ModeratorRole.ADMIN: _l("Admin")}


def _role_choices() -> list[tuple[str, str]]:
    return [(str(role), str(label)) for role, label in ROLE_LABELS.items()]


class InviteForm(Form):
    """Whom to invite, with which role, and the language of the invitation mail."""

    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320)])
    role = SelectField(_l("Role"), choices=_role_choices)
    lang = SelectField(_l("Language of the email"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.lang.choices = [(code, language_name(code)) for code in LANGUAGES]
        if not self.is_submitted():
            self.lang.data = str(get_locale() or "en")

    def validate_email(self, field: EmailField) -> None:
        """An address a mail can reach: one @, something each side, no spaces."""
        local, at, domain = (field.data or "").strip().rpartition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in field.data.strip()):
            raise ValidationError(_("Please enter an email address, like name@example.org."))


class RoleForm(Form):
    """An account's new role."""

    role = SelectField(_l("Role"), choices=_role_choices)


class ButtonForm(Form):
    """A button that changes an account (the CSRF token only)."""


class PasswordForm(Form):
    """The invitee's own password, typed twice."""

    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(
                min=accounts.MIN_PASSWORD_LENGTH,
                max=1000,
                message=_l("The password must have at least %(num)d characters.", num=accounts.MIN_PASSWORD_LENGTH),
            ),
        ],
    )
    password_again = PasswordField(
        _l("The password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords are not the same."))],
    )


def _people_page(
    invite_form: InviteForm | None = None, *, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    now = utcnow()
    listed = people.people(db.session, now=now)
    return (
        render_template(
            "moderate/people.html",
            people=listed,
            active_admins=sum(
                1 for p in listed if p.moderator and p.moderator.is_admin and not p.moderator.disabled_at
            ),
            form=invite_form or InviteForm(),
            role_form=RoleForm,
            button=ButtonForm(),
            role_labels=ROLE_LABELS,
            me=current_moderator().id,
            error=error,
        ),
        status,
    )


@bp.get("/people")
@admin_required
def people_index() -> tuple[str, int]:
    """The accounts with their role, status and last sign-in; the invitations still open; the invite form."""
    return _people_page()


def _invitation_ttl() -> timedelta:
    return timedelta(days=current_app.config["MODERATOR_INVITATION_DAYS"])


@bp.post("/people/invite")
@admin_required
def people_invite() -> Response | tuple[str, int]:
    """Invite an address: the invitation mail goes out through the outbox."""
    form = InviteForm()
    if not form.validate_on_submit():
        return _people_page(form, status=422)
    try:
        invitation = people.invite(
            db.session,
            current_moderator(),
            form.email.data,
            ModeratorRole(form.role.data),
            now=utcnow(),
            ttl=_invitation_ttl(),
            locale=form.lang.data,
        )
    except people.PeopleError as exc:
        db.session.rollback()
        form.email.errors = [*form.email.errors, _(exc.message)]
        return _people_page(form, status=exc.status_code)
    db.session.commit()
    flash(_("Invitation sent to %(email)s.", email=invitation.email))
    return redirect(url_for(".people_index"), 303)


def _account(moderator_id: int) -> Moderator:
    moderator = db.session.get(Moderator, moderator_id)
    if moderator is None:
        abort(404)
    return moderator


def _change(done: bool, message: str) -> Response:
    db.session.commit()
    if done:
        flash(message)
    return redirect(url_for(".people_index"), 303)


def _refused(exc: people.PeopleError) -> tuple[str, int]:
    db.session.rollback()
    return _people_page(error=_(exc.message), status=exc.status_code)


@bp.post("/people/<id:moderator_id>/role")
@admin_required
def people_role(moderator_id: int) -> Response | tuple[str, int]:
    """Give an account another role (never taking the last active admin's away)."""
    target = _account(moderator_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _people_page(error=_("Please choose a role."), status=422)
    role = ModeratorRole(form.role.data)
    try:
        done = people.change_role(db.session, current_moderator(), target, role, now=utcnow())
    except people.PeopleError as exc:
        return _refused(exc)
    return _change(done, _("%(email)s is now: %(role)s.", email=target.email, role=ROLE_LABELS[role]))


@bp.post("/people/<id:moderator_id>/disable")
@admin_required
def people_disable(moderator_id: int) -> Response | tuple[str, int]:
    """Disable an account: it can no longer sign in, and its sessions end at once."""
    target = _account(moderator_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        done = people.disable(db.session, current_moderator(), target, now=utcnow())
    except people.PeopleError as exc:
        return _refused(exc)
    return _change(done, _("%(email)s is disabled and signed out everywhere.", email=target.email))


@bp.post("/people/<id:moderator_id>/enable")
@admin_required
def people_enable(moderator_id: int) -> Response:
    """Let a disabled account sign in again, with its password."""
    target = _account(moderator_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    done = people.enable(db.session, current_moderator(), target, now=utcnow())
    return _change(done, _("%(email)s can sign in again.", email=target.email))


@bp.post("/people/invitations/<id:invitation_id>/revoke")
@admin_required
def people_revoke(invitation_id: int) -> Response:
    """Withdraw an invitation not yet used: its link stops working."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    people.revoke(db.session, current_moderator(), invitation_id, now=utcnow())
    return _change(True, _("The invitation is withdrawn."))


@bp.route("/invitation/<token:token>", methods=["GET", "POST"])
def invitation(token: str) -> Response | tuple[str, int]:
    """The invitation's link: the invitee sets their password, the account is made and signed in."""
    now = utcnow()
    invited = people.open_invitation(db.session, token, now=now)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            moderator = accounts.create_moderator(db.session, invited.email, form.password.data, invited.role)
        except accounts.AccountError:
            # The address has an account since the invitation was sent (made on the command line).
            db.session.rollback()
            raise people.AccountExists() from None
        people.accept(db.session, invited, moderator, now=now)
        db.session.commit()
        sign_in(moderator, now)
        flash(_("Welcome. Your account is ready and you are signed in."))
        return redirect(url_for(".index"), 303)
    status = 422 if form.is_submitted() else 200
    page = render_template(
        "moderate/invitation.html",
        form=form,
        invitation=invited,
        role_labels=ROLE_LABELS,
        min_length=accounts.MIN_PASSWORD_LENGTH,
    )
    return page, status
