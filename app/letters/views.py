"""The letter page, the front page and the list of signers."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context

from app.db import db, utcnow
from app.models import Letter
from app.services import export, ledger, letters, listing
from app.signing.bots import current_captcha
from app.signing.forms import SignForm

bp = Blueprint("letters", __name__)

NEWEST_SIGNERS = 10
NOTABLE_SIGNERS = 6
FOUNDING_SIGNERS = 100
LIST_PAGE_SIZE = 50


def render_letter(letter: Letter, form: SignForm | None = None) -> str:
    """The letter with its count and ledger, its signers (notable, founding, newest) and the form."""
    session = db.session
    notable = listing.public_signatures(session, letter.id, limit=NOTABLE_SIGNERS, verified=True)
    founding = listing.public_signatures(session, letter.id, limit=FOUNDING_SIGNERS, founding=True)
    # Later signers: the founding ones have their own section.
    newest = listing.public_signatures(session, letter.id, limit=NEWEST_SIGNERS, founding=False)
    return render_template(
        "letters/letter.html",
        letter=letter,
        form=form or SignForm(),
        notable=notable,
        founding=founding,
        newest=newest.signatures,
        ledger=ledger.ledger(session, letter),
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
    verified = listing.parse_flag("verified", request.args.get("verified"))
    founding = listing.parse_flag("founding", request.args.get("founding"))
    page = listing.public_signatures(
        db.session,
        letter.id,
        limit=LIST_PAGE_SIZE,
        cursor=cursor,
        query=query,
        verified=verified,
        founding=founding,
    )
    # The filters as query parameters, kept by the search form and the pager.
    filters = {"verified": _flag(verified), "founding": _flag(founding)}
    return render_template(
        "letters/signatures.html", letter=letter, page=page, query=query, cursor=cursor, filters=filters
    )


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("1" if value else "0")


def _public_export(letter: Letter, file_format: str) -> Iterator[str]:
    """The public list in ``file_format``, read in a session of the stream's own.

    The request's session is closed when the view returns, before the body is sent; a stream
    that went on with it would leave a transaction open behind the closed request.
    """
    with db.new_session() as session:
        rows = export.public_rows(session, letter.id)
        if file_format == "csv":
            yield from export.write_csv(rows, export.PUBLIC_FIELDS)
        else:
            yield from export.write_json(rows, export.PUBLIC_FIELDS, letter=letter.slug, exported_at=utcnow())


def _download(letter: Letter, file_format: str, mimetype: str) -> Response:
    response = Response(stream_with_context(_public_export(letter, file_format)), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{letter.slug}-signatures.{file_format}"'
    return response


@bp.get("/letters/<slug>/signatures.csv")
def signatures_csv(slug: str) -> Response:
    """The public list as CSV (streamed): names and public details, never an address."""
    return _download(letters.get_letter(db.session, slug), "csv", "text/csv")


@bp.get("/letters/<slug>/signatures.json")
def signatures_json(slug: str) -> Response:
    """The public list as JSON (streamed): names and public details, never an address."""
    return _download(letters.get_letter(db.session, slug), "json", "application/json")


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
