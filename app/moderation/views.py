"""The moderators' pages. Every route but sign-in requires an active, signed-in moderator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, session, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from app.db import db, utcnow
from app.models import SignatureStatus
from app.moderation.accounts import SignedInModerator, admin_required, authenticate, current_moderator, login_manager
from app.moderation.forms import ACTION_LABELS, REASON_LABELS, ActionForm, LetterForm, LoginForm
from app.moderation.wording import FLAG_KINDS, describe_flag
from app.ratelimit import config_limit, limiter, private_key
from app.services import export, letters, moderation, review
from app.services.errors import DomainError

bp = Blueprint("moderation", __name__, url_prefix="/moderate")


@bp.before_request
def refuse_anonymous() -> Response | None:
    """Every moderation page needs a signed-in, active moderator (sign-in and its limits aside)."""
    if request.endpoint in {"moderation.login"}:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    return None


@bp.after_request
def private(response: Response) -> Response:
    """Moderation pages hold personal data: never stored by a browser or a cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_account_key() -> str:
    return "login:" + private_key(request.form.get("email", "").strip().lower()[:320])


login_per_network = limiter.limit(lambda: config_limit("RATELIMIT_LOGIN_PER_NETWORK"), methods=["POST"])
# Counted only for failed attempts, so a moderator who signs in is not locked out by others' guesses.
login_per_account = limiter.limit(
    lambda: config_limit("RATELIMIT_LOGIN_PER_ACCOUNT"),
    key_func=_login_account_key,
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 303,
)


@bp.route("/login", methods=["GET", "POST"])
@login_per_network
@login_per_account
def login() -> Response | str | tuple[str, int]:
    """Sign in; a wrong address and a wrong password get the same answer."""
    form = LoginForm()
    if form.validate_on_submit():
        moderator = authenticate(db.session, form.email.data, form.password.data)
        if moderator is not None:
            moderator.last_login_at = utcnow()
            db.session.commit()
            login_user(SignedInModerator(moderator))
            session.permanent = True
            session["moderator_seen"] = int(utcnow().timestamp())
            return redirect(url_for(".index"), 303)
        form.password.errors.append(_("The email address or the password is not right."))
        return render_template("moderate/login.html", form=form), 401
    status = 422 if form.is_submitted() else 200
    return render_template("moderate/login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    """Sign out."""
    logout_user()
    return redirect(url_for(".login"), 303)


@bp.get("")
def index() -> Response | str:
    """The letters, with what waits in each one's queue."""
    all_letters = letters.all_letters(db.session)
    counts = {letter.id: review.queue_counts(db.session, letter.id) for letter in all_letters}
    return render_template("moderate/index.html", letters=all_letters, counts=counts)


def _search_from_args() -> review.Search:
    args = request.args
    view = args.get("view", "review")
    if view not in review.VIEWS:
        abort(400)
    status = args.get("status") or None
    try:
        return review.Search(
            view=view,
            text=args.get("q", "").strip()[:100],
            email=args.get("email", "").strip()[:320],
            domain=args.get("domain", "").strip()[:255],
            status=SignatureStatus(status) if status else None,
            since=date.fromisoformat(args["since"]) if args.get("since") else None,
            until=date.fromisoformat(args["until"]) if args.get("until") else None,
        )
    except ValueError:
        raise DomainError(_("Please check the search: a status or a date is not valid.")) from None


@bp.get("/letters/<slug>")
def queue(slug: str) -> str:
    """One letter's queue: waiting for review, flagged, held, or a search over all signatures."""
    letter = letters.get_letter(db.session, slug)
    search = _search_from_args()
    page = review.queue_page(db.session, letter.id, search, cursor=request.args.get("cursor") or None)
    return render_template(
        "moderate/queue.html",
        letter=letter,
        search=search,
        page=page,
        counts=review.queue_counts(db.session, letter.id),
        form=ActionForm(),
        statuses=list(SignatureStatus),
        action_labels=ACTION_LABELS,
        reason_labels=REASON_LABELS,
        flag_kinds=FLAG_KINDS,
        describe_flag=describe_flag,
    )


@bp.post("/letters/<slug>/actions")
def act(slug: str) -> Response:
    """Apply an action to the chosen signatures, or to all that match the search, in one transaction."""
    letter = letters.get_letter(db.session, slug)
    form = ActionForm()
    search = _search_from_args()
    if not form.validate():
        raise DomainError(_("Please check the form: choose an action and try again."))
    if form.all_matching.data:
        ids = review.matching_ids(db.session, letter.id, search, limit=moderation.MAX_BULK)
    else:
        try:
            ids = [int(value) for value in request.form.getlist("signature")]
        except ValueError:
            abort(400)
    outcome = moderation.act(
        db.session,
        current_moderator(),
        letter,
        moderation.Action(form.action.data),
        ids,
        now=utcnow(),
        reason=form.chosen_reason(),
        note=form.note.data or "",
    )
    db.session.commit()
    message = ngettext("%(num)d signature changed.", "%(num)d signatures changed.", outcome.changed)
    if outcome.skipped:
        message += " " + ngettext(
            "%(num)d skipped: the action does not apply to it.",
            "%(num)d skipped: the action does not apply to them.",
            outcome.skipped,
        )
    flash(message)
    return redirect(url_for(".queue", slug=letter.slug, **search.as_args()), 303)  # type: ignore[arg-type]


def _all_signatures_csv(letter_id: int) -> Iterator[str]:
    # The stream's own session: the request's is closed before a streamed body is sent.
    with db.new_session() as session:
        yield from export.all_csv(session, letter_id)


@bp.get("/letters/<slug>/export.csv")
def export_csv(slug: str) -> Response:
    """Every signature of the letter with every field (addresses included), streamed as CSV."""
    letter = letters.get_letter(db.session, slug)
    moderation.record(db.session, current_moderator(), "export", now=utcnow(), letter=letter, detail="CSV, all fields")
    db.session.commit()
    response = Response(stream_with_context(_all_signatures_csv(letter.id)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{letter.slug}-all-signatures.csv"'
    return response


@bp.get("/audit")
def audit() -> str:
    """The audit log: every action, newest first; filter by letter, action and moderator."""
    slug = request.args.get("letter", "")
    letter = letters.get_letter(db.session, slug) if slug else None
    criteria = review.AuditFilter(
        letter_id=letter.id if letter else None,
        action=request.args.get("action", "")[:40],
        moderator=request.args.get("moderator", "")[:320],
    )
    entries, next_cursor = review.audit_page(db.session, criteria, cursor=request.args.get("cursor") or None)
    slugs = {item.id: item.slug for item in letters.all_letters(db.session)}
    return render_template(
        "moderate/audit.html",
        entries=entries,
        next_cursor=next_cursor,
        criteria=criteria,
        letter=letter,
        slugs=slugs,
        actions=[*ACTION_LABELS, "letter.edit", "letter.open", "letter.close", "letter.feature"],
    )


@bp.route("/letters/<slug>/edit", methods=["GET", "POST"])
@admin_required
def edit_letter(slug: str) -> Response | str | tuple[str, int]:
    """Admins: edit a letter's title and text, its moderation mode, and feature it."""
    letter = letters.get_letter(db.session, slug)
    form = LetterForm(obj=letter)
    if form.validate_on_submit():
        now = utcnow()
        letters.edit_letter(
            db.session,
            letter,
            title=form.title.data,
            body_markdown=form.body_markdown.data,
            moderation_mode=form.moderation_mode.data,
            now=now,
        )
        if form.featured.data and not letter.featured:
            letters.feature_letter(db.session, letter)
        moderation.record(db.session, current_moderator(), "letter.edit", now=now, letter=letter, detail=letter.title)
        db.session.commit()
        flash(_("The letter is saved."))
        return redirect(url_for(".edit_letter", slug=letter.slug), 303)
    status = 422 if form.is_submitted() else 200
    return render_template(
        "moderate/letter_edit.html", letter=letter, form=form, closed=letter.is_closed(utcnow())
    ), status


@bp.post("/letters/<slug>/signing")
@admin_required
def open_or_close(slug: str) -> Response:
    """Admins: open or close signing."""
    letter = letters.get_letter(db.session, slug)
    now = utcnow()
    if request.form.get("signing") == "close":
        letters.close_letter(db.session, letter, now=now)
        action = "letter.close"
    elif request.form.get("signing") == "open":
        letters.reopen_letter(db.session, letter, now=now)
        action = "letter.open"
    else:
        abort(400)
    moderation.record(db.session, current_moderator(), action, now=now, letter=letter, detail="")
    db.session.commit()
    return redirect(url_for(".edit_letter", slug=letter.slug), 303)
