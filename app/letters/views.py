"""The letter page, the front page and the list of signers."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from app.db import db, utcnow
from app.models import Letter
from app.services import letters, listing
from app.signing.bots import current_captcha
from app.signing.forms import SignForm

bp = Blueprint("letters", __name__)

NEWEST_SIGNERS = 10
LIST_PAGE_SIZE = 50


def render_letter(letter: Letter, form: SignForm | None = None) -> str:
    """The letter with its count, its newest public signers and (while open) the form."""
    newest = listing.public_signatures(db.session, letter.id, limit=NEWEST_SIGNERS)
    return render_template(
        "letters/letter.html",
        letter=letter,
        form=form or SignForm(),
        newest=newest.signatures,
        closed=letter.is_closed(utcnow()),
        poll_seconds=current_app.config["LIVE_POLL_SECONDS"],
        captcha=current_captcha(),
    )


@bp.get("/")
def index() -> str:
    """The featured letter, or how to load one."""
    letter = letters.featured_letter(db.session)
    if letter is None:
        return render_template("letters/empty.html")
    return render_letter(letter)


@bp.get("/letters/<slug>")
def letter(slug: str) -> str:
    """One letter's own page."""
    return render_letter(letters.get_letter(db.session, slug))


@bp.get("/letters/<slug>/signatures")
def signatures(slug: str) -> str:
    """All public signers, newest first, a page at a time, searchable by name and affiliation."""
    letter = letters.get_letter(db.session, slug)
    query = request.args.get("q", "").strip()[: listing.MAX_QUERY_LENGTH]
    cursor = request.args.get("cursor") or None
    page = listing.public_signatures(db.session, letter.id, limit=LIST_PAGE_SIZE, cursor=cursor, query=query)
    return render_template("letters/signatures.html", letter=letter, page=page, query=query, cursor=cursor)


@bp.get("/letters")
def index_of_letters() -> str:
    """Every letter on this site."""
    all_letters = letters.all_letters(db.session)
    if not all_letters:
        abort(404)
    return render_template("letters/index.html", letters=all_letters, now=utcnow())


@bp.get("/privacy")
def privacy() -> str:
    """What is stored, what is public, for how long, and how to withdraw."""
    return render_template("privacy.html", featured=letters.featured_letter(db.session))
