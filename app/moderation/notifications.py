"""Organiser notifications: an admin's choice of emails, and the link in each that turns them off without signing in."""

from __future__ import annotations

from flask import current_app, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response
from wtforms import BooleanField

from app.db import db, utcnow
from app.errors import TokenProblem
from app.extensions import csrf
from app.forms import Form
from app.models import Moderator
from app.moderation.accounts import admin_required, current_moderator
from app.moderation.blueprint import PUBLIC_ENDPOINTS, bp
from app.services import notifications


class NotificationForm(Form):
    """Which organiser emails the account gets."""

    milestones = BooleanField(
        _l("When a letter's count reaches a round number (10, 20, 50, 100, …)"),
    )
    daily_summary = BooleanField(
        _l("A daily summary: each open letter's count, flags waiting, confirmation rate, and mail that failed"),
    )
    closing_reminders = BooleanField(
        _l("A reminder a few days before a letter closes (letters with “Remind before closing”): days left and count"),
    )


@bp.route("/account/notifications", methods=["GET", "POST"])
@admin_required
def notification_settings() -> Response | str:
    """The admin's choice of organiser emails (off until chosen)."""
    moderator = current_moderator()
    chosen = notifications.settings_of(db.session, moderator)
    form = NotificationForm(
        data={
            "milestones": chosen.milestones,
            "daily_summary": chosen.daily_summary,
            "closing_reminders": bool(chosen.closing_reminders),
        }
    )
    if form.validate_on_submit():
        notifications.save_settings(
            db.session,
            moderator,
            milestones=bool(form.milestones.data),
            daily_summary=bool(form.daily_summary.data),
            closing_reminders=bool(form.closing_reminders.data),
            locale=str(get_locale() or "en"),
            now=utcnow(),
        )
        db.session.commit()
        return redirect(url_for(".notification_settings", saved=1), 303)
    return render_template("moderate/notifications.html", form=form, chosen=chosen)


def _account(token: str) -> Moderator:
    moderator = notifications.find_by_token(db.session, current_app.config["SECRET_KEY"], token)
    if moderator is None:
        raise TokenProblem(purpose="unsubscribe")
    return moderator


@bp.get("/notifications/unsubscribe/<token:token>")
def notifications_unsubscribe_page(token: str) -> str:
    """A page with one button: link scanners open links, only people (and mail programs) POST."""
    _account(token)
    return render_template("moderate/notifications_unsubscribe.html", done=False)


# Exempt from CSRF and from signing in on purpose, as the update mails' link: RFC 8058's one-click
# unsubscribe is a POST the mail program makes without a token; the signed token in the URL is the
# proof, and all it can do is stop these emails.
@bp.post("/notifications/unsubscribe/<token:token>")
def notifications_unsubscribe(token: str) -> str:
    """Turn the account's organiser emails off (one-click, RFC 8058); doing it twice is harmless."""
    notifications.unsubscribe(db.session, _account(token), now=utcnow())
    db.session.commit()
    return render_template("moderate/notifications_unsubscribe.html", done=True)


csrf.exempt(notifications_unsubscribe)
PUBLIC_ENDPOINTS.update({"moderation.notifications_unsubscribe_page", "moderation.notifications_unsubscribe"})
