"""Admins invite founding signatories to a private letter, watch the invitations' use, and launch it.

A private letter is a draft with invitations (see app.services.invitations). Every action here
is a POST with CSRF and an audit entry; a new link is shown once, on the page that made it
(only its hash is stored): it travels to that page in the admin's session, taken out as it is
shown, so that reloading the page neither shows it again nor sends the form twice.
"""

from __future__ import annotations

from datetime import UTC

from email_validator import EmailNotValidError, validate_email
from flask import abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import BooleanField, DateTimeLocalField, Field, IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from app.db import db, utcnow
from app.extensions import LANGUAGES
from app.forms import Form
from app.models import Invitation, Letter
from app.moderation.accounts import admin_required, current_moderator
from app.moderation.blueprint import bp
from app.moderation.editor import TIME_FORMAT, language_name
from app.services import invitations, letters, moderation
from app.urls import external_url


class PeopleForm(Form):
    """Personal invitations: one address a line, each mailed a link that signs once."""

    emails = TextAreaField(
        _l("Addresses"),
        description=_l("One email address a line. Each gets its own link, which signs once."),
        validators=[DataRequired(_l("Please give at least one address."))],
        render_kw={"rows": 5, "autocomplete": "off", "spellcheck": "false"},
    )
    lang = SelectField(_l("Language of the invitation email"))

    addresses: list[str]

    def validate_emails(self, field: Field) -> None:
        """Every line an address (normalised as the signing form does), at most MAX_PEOPLE of them."""
        lines = [line.strip() for line in (field.data or "").splitlines() if line.strip()]
        bad = []
        self.addresses = []
        for line in lines:
            try:
                self.addresses.append(validate_email(line, check_deliverability=False).normalized)
            except EmailNotValidError:
                bad.append(line)
        if bad:
            raise ValidationError(_("These are not email addresses: %(lines)s", lines=", ".join(bad[:5])))
        if len(self.addresses) > invitations.MAX_PEOPLE:
            raise ValidationError(_("At most %(max)d addresses at a time.", max=invitations.MAX_PEOPLE))


class SharedForm(Form):
    """A link to share, signing up to a cap."""

    cap = IntegerField(
        _l("How many may sign through it"),
        validators=[
            DataRequired(_l("Please say how many may sign through the link.")),
            NumberRange(min=1, max=invitations.MAX_CAP, message=_l("Between 1 and %(max)d.", max=invitations.MAX_CAP)),
        ],
        render_kw={"inputmode": "numeric", "min": 1},
    )


class ScheduleForm(Form):
    """When the letter launches by itself."""

    opens_at = DateTimeLocalField(
        _l("Launch by itself at (UTC)"),
        description=_l("Empty: only when you press “Launch now”."),
        format=TIME_FORMAT,
        validators=[Optional()],
    )
    mail_founders = BooleanField(_l("Email the founding signatories when it launches"))


class LaunchForm(Form):
    """Launch now."""

    mail_founders = BooleanField(_l("Email the founding signatories that the letter is public"), default=True)


# The session's key for the links just made, on their way to the page that shows them once.
NEW_LINKS = "new_invitation_links"


def _private_letter(slug: str) -> Letter:
    return letters.get_letter(db.session, slug, drafts=True)


def _page(
    letter: Letter,
    *,
    people: PeopleForm | None = None,
    shared: SharedForm | None = None,
    schedule: ScheduleForm | None = None,
    launch: LaunchForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    if people is None:
        people = PeopleForm(prefix="people")
        # The letter's own language, which its founders most likely read.
        people.lang.data = letter.lang if letter.lang in LANGUAGES else people.lang.data
    people.lang.choices = [(code, language_name(code)) for code in LANGUAGES]
    if schedule is None:
        schedule = ScheduleForm(prefix="schedule")
        schedule.opens_at.data = letter.opens_at.astimezone(UTC).replace(tzinfo=None) if letter.opens_at else None
        schedule.mail_founders.data = letter.opens_at is not None and invitations.scheduled_mail(db.session, letter)
    return render_template(
        "moderate/invitations.html",
        letter=letter,
        people=people,
        shared=shared or SharedForm(prefix="shared"),
        schedule=schedule,
        launch=launch or LaunchForm(prefix="launch"),
        invitations=invitations.letter_invitations(db.session, letter),
        founders=invitations.founders(db.session, letter),
        new_links=(session.pop(NEW_LINKS, None) or []) if status == 200 else [],
    ), status


@bp.get("/letters/<slug>/invitations")
@admin_required
def letter_invitations(slug: str) -> tuple[str, int]:
    """Admins: a private letter's invitations, their use, the opening time and the launch."""
    return _page(_private_letter(slug))


def _show_once(made: list[invitations.Made]) -> Response:
    """Keep the new links for the console's next page (only it shows them), and go there."""
    session[NEW_LINKS] = [
        [item.invitation.email or "", item.invitation.cap, external_url("invitations.invitation", token=item.token)]
        for item in made
    ]
    return redirect(url_for(".letter_invitations", slug=made[0].invitation.letter.slug), 303)


@bp.post("/letters/<slug>/invitations/people")
@admin_required
def invite_people(slug: str) -> Response | tuple[str, int]:
    """Admins: invite people by address; each is mailed a single-use link."""
    letter = _private_letter(slug)
    form = PeopleForm(prefix="people")
    form.lang.choices = [(code, language_name(code)) for code in LANGUAGES]
    if not form.validate():
        return _page(letter, people=form, status=422)
    now = utcnow()
    made = invitations.invite_people(db.session, letter, form.addresses, now=now, locale=form.lang.data)
    moderation.record(
        db.session, current_moderator(), "letter.invite", now=now, letter=letter, detail=f"{len(made)} personal"
    )
    db.session.commit()
    flash(_("%(num)d invitations are on their way by email.", num=len(made)))
    return _show_once(made)


@bp.post("/letters/<slug>/invitations/shared")
@admin_required
def invite_shared(slug: str) -> Response | tuple[str, int]:
    """Admins: make a link to share, signing up to a cap."""
    letter = _private_letter(slug)
    form = SharedForm(prefix="shared")
    if not form.validate():
        return _page(letter, shared=form, status=422)
    now = utcnow()
    made = invitations.invite_shared(db.session, letter, cap=form.cap.data, now=now)
    moderation.record(
        db.session, current_moderator(), "letter.invite", now=now, letter=letter, detail=f"shared, cap {form.cap.data}"
    )
    db.session.commit()
    return _show_once([made])


@bp.post("/letters/<slug>/invitations/<id:invitation_id>/revoke")
@admin_required
def revoke_invitation(slug: str, invitation_id: int) -> Response:
    """Admins: stop an invitation link working (what it signed stays signed)."""
    letter = _private_letter(slug)
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.letter_id != letter.id:
        abort(404)
    now = utcnow()
    invitations.revoke(db.session, invitation, now=now)
    who = invitation.email or f"shared, cap {invitation.cap}"
    moderation.record(db.session, current_moderator(), "letter.revoke_invitation", now=now, letter=letter, detail=who)
    db.session.commit()
    flash(_("The invitation no longer works."))
    return redirect(url_for(".letter_invitations", slug=letter.slug), 303)


@bp.post("/letters/<slug>/invitations/schedule")
@admin_required
def schedule_launch(slug: str) -> Response | tuple[str, int]:
    """Admins: set or clear the time the private letter launches by itself."""
    letter = _private_letter(slug)
    form = ScheduleForm(prefix="schedule")
    if not form.validate():
        return _page(letter, schedule=form, status=422)
    now = utcnow()
    opens_at = form.opens_at.data.replace(tzinfo=UTC) if form.opens_at.data else None
    if opens_at is not None and opens_at <= now:
        form.opens_at.errors = [_("Choose a time in the future, or press “Launch now”.")]
        return _page(letter, schedule=form, status=422)
    invitations.schedule(db.session, letter, opens_at, now=now, mail_founders=form.mail_founders.data)
    detail = f"opens {opens_at:%Y-%m-%d %H:%M} UTC" if opens_at else "no opening time"
    moderation.record(db.session, current_moderator(), "letter.schedule", now=now, letter=letter, detail=detail)
    db.session.commit()
    flash(_("The opening time is saved.") if opens_at else _("The letter launches only when you press “Launch now”."))
    return redirect(url_for(".letter_invitations", slug=letter.slug), 303)


@bp.post("/letters/<slug>/launch")
@admin_required
def launch_letter(slug: str) -> Response:
    """Admins: launch the private letter now, with its founding signatories."""
    letter = _private_letter(slug)
    form = LaunchForm(prefix="launch")
    if not form.validate():
        abort(400)
    done = invitations.launch(
        db.session,
        letter,
        now=utcnow(),
        moderator=current_moderator(),
        mail_founders=form.mail_founders.data,
        how="by the launch button",
    )
    db.session.commit()
    flash(_("The letter is public, with %(count)d signatures.", count=done.counted))
    return redirect(url_for(".letter_invitations", slug=letter.slug), 303)
