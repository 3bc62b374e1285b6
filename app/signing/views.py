"""Sign, check your inbox, confirm, ask for a new link."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from app.db import db, utcnow
from app.letters.views import render_letter
from app.services import letters, signing
from app.services.errors import LetterClosed, TokenProblem
from app.signing.forms import ResendForm, SignForm

bp = Blueprint("signing", __name__)


def _token_ttl() -> timedelta:
    return timedelta(days=current_app.config["CONFIRM_TOKEN_DAYS"])


@bp.post("/letters/<slug>/sign")
def sign(slug: str) -> Response | tuple[str, int]:
    """Take a signature; the answer is the same whether or not the address signed before."""
    letter = letters.get_letter(db.session, slug)
    if letter.is_closed(utcnow()):
        raise LetterClosed()
    form = SignForm()
    if not form.validate():
        return render_letter(letter, form=form), 422
    signing.sign(db.session, letter, form.to_input(str(get_locale())), now=utcnow(), token_ttl=_token_ttl())
    db.session.commit()
    return redirect(url_for(".check_inbox", slug=letter.slug), 303)


@bp.get("/letters/<slug>/signed")
def check_inbox(slug: str) -> str:
    """After signing: the link is in the mail."""
    letter = letters.get_letter(db.session, slug)
    return render_template("signing/check_inbox.html", letter=letter)


@bp.route("/letters/<slug>/resend", methods=["GET", "POST"])
def resend(slug: str) -> Response | str | tuple[str, int]:
    """Ask for a new confirmation link; the answer never says whether the address signed."""
    letter = letters.get_letter(db.session, slug)
    form = ResendForm()
    if form.is_submitted():
        if not form.validate():
            return render_template("signing/resend.html", letter=letter, form=form), 422
        key = signing.email_key(form.normalised_email)
        signing.resend_confirmation(db.session, letter, key, now=utcnow(), token_ttl=_token_ttl())
        db.session.commit()
        return redirect(url_for(".check_inbox", slug=letter.slug), 303)
    return render_template("signing/resend.html", letter=letter, form=form)


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> str:
    """A page with one button: mail scanners open links, only people press buttons."""
    outcome = signing.check_confirmation_token(db.session, token, now=utcnow())
    if outcome.already_confirmed:
        return render_template("signing/confirmed.html", letter=outcome.signature.letter, already=True)
    return render_template("signing/confirm.html", letter=outcome.signature.letter, signature=outcome.signature)


@bp.post("/confirm/<token>")
def confirm(token: str) -> str:
    """Confirm the signature; doing it twice is harmless."""
    outcome = signing.confirm(db.session, token, now=utcnow())
    db.session.commit()
    return render_template("signing/confirmed.html", letter=outcome.signature.letter, already=outcome.already_confirmed)


@bp.errorhandler(TokenProblem)
def token_problem(error: TokenProblem) -> tuple[str, int]:
    """A bad, used or expired link: say so, and offer a new one."""
    letter = letters.find_letter(db.session, error.letter_slug) if error.letter_slug else None
    letter = letter or letters.featured_letter(db.session)
    return render_template("signing/token_problem.html", error=error, letter=letter), error.status_code
