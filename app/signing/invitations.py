"""Signing a private letter through an invitation link, and the founders' private preview.

Every page here is reached only with an invitation's token: it is never stored by a cache,
never indexed, and sends no Referer (the token is in its address). Once the letter is public,
each of its links leads to the public letter.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from app.db import db, utcnow
from app.extensions import csrf
from app.forms.signing import SignForm
from app.models import Invitation, InvitationKind
from app.ratelimit import config_limit, limiter
from app.services import invitations
from app.services.tokens import TokenLifetimes
from app.text import mask_address
from app.web import refuse_other_sites

bp = Blueprint("invitations", __name__, url_prefix="/invitations")

sign_limit = limiter.limit(lambda: config_limit("RATELIMIT_SIGN_PER_NETWORK"), methods=["POST"])


@bp.after_request
def private(response: Response) -> Response:
    """A private letter's pages: not stored, not indexed, and their address (the token) not passed on."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _public_letter(invitation: Invitation) -> Response | None:
    """After the launch an invitation's links lead to the public letter."""
    if invitation.letter.draft:
        return None
    return redirect(url_for("letters.letter", slug=invitation.letter.slug), 303)


def _page(invitation: Invitation, token: str, form: SignForm | None = None) -> str:
    letter = invitation.letter
    locale = str(get_locale())
    signed_out = invitation.uses >= invitation.cap
    if form is None:
        form = SignForm()
        if invitation.kind == InvitationKind.PERSONAL and invitation.email and not form.email.data:
            form.email.data = invitation.email
    return render_template(
        "invitations/letter.html",
        letter=letter,
        text=letter.text_in(locale),
        invitation=invitation,
        token=token,
        form=form,
        used=signed_out,
        founders=len(invitations.founders(db.session, letter)),
    )


@bp.get("/<token:token>")
def invitation(token: str) -> Response | str | tuple[str, int]:
    """The private letter and its signing form, for whoever holds the link."""
    found = invitations.find(db.session, token)
    if (public := _public_letter(found)) is not None:
        return public
    if found.kind == InvitationKind.SHARED:
        # A full shared link is refused at once, with the reason; a used personal one still
        # leads its owner to the founders' preview.
        invitations.check_usable(found)
    return _page(found, token)


@bp.post("/<token:token>")
@sign_limit
def sign(token: str) -> Response | str | tuple[str, int]:
    """Sign the private letter as a founding signatory; the address confirms by email as usual."""
    refuse_other_sites()
    found = invitations.find(db.session, token)
    if (public := _public_letter(found)) is not None:
        return public
    invitations.check_usable(found)
    form = SignForm()
    if not form.validate():
        return _page(found, token, form), 422
    data = form.to_input(str(get_locale()))
    invitations.sign_through(db.session, found, data, now=utcnow(), ttl=TokenLifetimes.from_config(current_app.config))
    db.session.commit()
    return render_template(
        "invitations/signed.html",
        letter=found.letter,
        token=token,
        address=mask_address(data.email),
        days=TokenLifetimes.from_config(current_app.config).confirm.days,
    )


csrf.exempt(sign)  # like the public signing form: refused by where it comes from instead


@bp.get("/preview/<token:token>")
def founders(token: str) -> Response | str:
    """The founders' private preview: who has signed so far (confirmed and shown by their choice)."""
    found = invitations.find(db.session, token)
    if (public := _public_letter(found)) is not None:
        return public
    letter = found.letter
    return render_template(
        "invitations/founders.html",
        letter=letter,
        text=letter.text_in(str(get_locale())),
        token=token,
        founders=invitations.founders(db.session, letter),
    )
