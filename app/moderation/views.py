"""The moderators' pages. Every route but sign-in requires an active, signed-in moderator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from app import removal_reasons
from app.db import db, utcnow
from app.errors import DomainError
from app.models import Letter, Organisation, SignatureStatus
from app.moderation.accounts import (
    admin_required,
    authenticate,
    current_moderator,
    end_sessions,
    login_manager,
    sign_in,
    sign_out,
)
from app.moderation.forms import (
    ACTION_LABELS,
    ActionForm,
    LetterForm,
    LoginForm,
    OrganisationForm,
    OrganisationUploadForm,
    ResponseForm,
    UpdateForm,
)
from app.moderation.wording import FLAG_KINDS, describe_flag
from app.ratelimit import config_limit, limiter, private_key
from app.services import letters, moderation, organisations, updates
from app.services.queries import export, review
from app.services.tokens import TokenLifetimes

bp = Blueprint("moderation", __name__, url_prefix="/moderate")


@bp.context_processor
def moderator_in_templates() -> dict[str, Any]:
    """``current_user`` in the moderators' templates (and only there: public pages read no session)."""
    return {"current_user": current_user}


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
            now = utcnow()
            moderator.last_login_at = now
            db.session.commit()
            sign_in(moderator, now)
            return redirect(url_for(".index"), 303)
        form.password.errors.append(_("The email address or the password is not right."))
        return render_template("moderate/login.html", form=form), 401
    status = 422 if form.is_submitted() else 200
    return render_template("moderate/login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    """Sign out, ending this account's sessions everywhere (a copied cookie too)."""
    end_sessions(current_moderator())
    # Stored before this browser forgets the sign-in: if it fails, the moderator is not told they are out.
    db.session.commit()
    sign_out()
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
        reason_labels=removal_reasons.CHOICES,
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
        ttl=TokenLifetimes.from_config(current_app.config),
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
        yield export.CSV_BOM
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
        actions=[
            *ACTION_LABELS,
            "letter.edit",
            "letter.open",
            "letter.close",
            "letter.feature",
            "letter.update",
            "organisation.add",
            "organisation.edit",
            "organisation.delete",
            "organisation.load",
        ],
    )


@bp.route("/letters/<slug>/edit", methods=["GET", "POST"])
@admin_required
def edit_letter(slug: str) -> Response | str | tuple[str, int]:
    """Admins: edit a letter's title and text, its moderation mode, and feature it."""
    letter = letters.get_letter(db.session, slug)
    form = LetterForm(obj=letter)
    if form.validate_on_submit():
        now = utcnow()
        try:
            version = letters.edit_letter(
                db.session,
                letter,
                title=form.title.data,
                body_markdown=form.body_markdown.data,
                moderation_mode=form.moderation_mode.data,
                now=now,
                material=form.material.data,
                note=form.change_note.data or "",
            )
        except letters.LetterFileError:
            # The only refusal left after the form's checks: a material change of an unchanged text.
            db.session.rollback()
            form.material.errors = [_("The text is the same as before: there is no change to announce.")]
            return _letter_edit_page(letter, form), 422
        if form.featured.data and not letter.featured:
            letters.feature_letter(db.session, letter)
        detail = letter.title if version is None else f"{letter.title} (version {version})"
        moderation.record(db.session, current_moderator(), "letter.edit", now=now, letter=letter, detail=detail)
        db.session.commit()
        if version is None:
            flash(_("The letter is saved."))
        elif form.material.data:
            flash(
                _(
                    "The letter is saved as version %(number)d. The signers who asked for updates will be emailed.",
                    number=version,
                )
            )
        else:
            flash(_("The letter is saved as version %(number)d.", number=version))
        return redirect(url_for(".edit_letter", slug=letter.slug), 303)
    status = 422 if form.is_submitted() else 200
    return _letter_edit_page(letter, form), status


def _letter_edit_page(letter: Letter, form: LetterForm) -> str:
    return render_template("moderate/letter_edit.html", letter=letter, form=form, closed=letter.is_closed(utcnow()))


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


def _organisations_page(
    form: OrganisationForm | None = None, upload: OrganisationUploadForm | None = None, **extra: object
) -> str:
    return render_template(
        "moderate/organisations.html",
        organisations=organisations.all_organisations(db.session),
        form=form or OrganisationForm(formdata=None),
        upload=upload or OrganisationUploadForm(formdata=None),
        **extra,
    )


@bp.route("/organisations", methods=["GET", "POST"])
@admin_required
def organisations_index() -> Response | str | tuple[str, int]:
    """Admins: the organisations and their domains (for badges and affiliation flags); add one."""
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            organisation = organisations.add(
                db.session, current_moderator(), domain=form.domain.data, name=form.name.data, now=utcnow()
            )
        except organisations.BadOrganisation as exc:
            db.session.rollback()
            form.domain.errors = [*form.domain.errors, exc.message]
        else:
            db.session.commit()
            flash(_("%(name)s (%(domain)s) is added.", name=organisation.name, domain=organisation.domain))
            return redirect(url_for(".organisations_index"), 303)
    if form.is_submitted():
        return _organisations_page(form), 422
    return _organisations_page()


def _organisation(organisation_id: int) -> Organisation:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        abort(404)
    return organisation


@bp.route("/organisations/<id:organisation_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_organisation(organisation_id: int) -> Response | str | tuple[str, int]:
    """Admins: change an organisation's domain or name."""
    organisation = _organisation(organisation_id)
    form = OrganisationForm(obj=organisation)
    if form.validate_on_submit():
        try:
            organisations.edit(
                db.session,
                current_moderator(),
                organisation,
                domain=form.domain.data,
                name=form.name.data,
                now=utcnow(),
            )
        except organisations.BadOrganisation as exc:
            db.session.rollback()
            form.domain.errors = [*form.domain.errors, exc.message]
        else:
            db.session.commit()
            flash(_("The organisation is saved."))
            return redirect(url_for(".organisations_index"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("moderate/organisation_edit.html", organisation=organisation, form=form), status


@bp.post("/organisations/<id:organisation_id>/delete")
@admin_required
def delete_organisation(organisation_id: int) -> Response:
    """Admins: remove an organisation."""
    organisation = _organisation(organisation_id)
    name = organisation.name
    organisations.delete(db.session, current_moderator(), organisation, now=utcnow())
    db.session.commit()
    flash(_("%(name)s is removed.", name=name))
    return redirect(url_for(".organisations_index"), 303)


@bp.post("/organisations/upload")
@admin_required
def upload_organisations() -> Response | tuple[str, int]:
    """Admins: add or update organisations from pasted CSV lines (domain,name)."""
    upload = OrganisationUploadForm()
    if not upload.validate():
        return _organisations_page(upload=upload), 422
    text = upload.csv_text.data
    report = organisations.load_csv(
        db.session, text, moderator=current_moderator(), now=utcnow(), skip_bad=upload.skip_bad.data
    )
    if report.errors and not upload.skip_bad.data:
        db.session.rollback()
        return _organisations_page(upload=upload, report=report), 422
    db.session.commit()
    flash(
        _(
            "Loaded: %(added)d added, %(updated)d updated, %(skipped)d bad lines skipped.",
            added=report.added,
            updated=report.updated,
            skipped=len(report.errors),
        )
    )
    return redirect(url_for(".organisations_index"), 303)


@bp.route("/letters/<slug>/updates", methods=["GET", "POST"])
@admin_required
def letter_updates(slug: str) -> Response | str | tuple[str, int]:
    """Admins: publish an update to a letter; it is emailed to the signers who asked for updates."""
    letter = letters.get_letter(db.session, slug)
    form = UpdateForm()
    if form.validate_on_submit():
        now = utcnow()
        update = updates.publish(
            db.session, letter, title=form.title.data, body_markdown=form.body_markdown.data, now=now
        )
        moderation.record(db.session, current_moderator(), "letter.update", now=now, letter=letter, detail=update.title)
        db.session.commit()
        flash(_("The update is published. It is emailed to the signers who asked for updates."))
        return redirect(url_for(".letter_updates", slug=letter.slug), 303)
    status = 422 if form.is_submitted() else 200
    return render_template(
        "moderate/updates.html", letter=letter, form=form, letter_updates=updates.letter_updates(db.session, letter.id)
    ), status


@bp.route("/letters/<slug>/response", methods=["GET", "POST"])
@admin_required
def letter_response(slug: str) -> Response | str | tuple[str, int]:
    """Admins: record the addressee's response; it is shown with the letter and emailed like an update."""
    letter = letters.get_letter(db.session, slug)
    form = ResponseForm()
    if form.validate_on_submit():
        now = utcnow()
        response = updates.record_response(
            db.session,
            letter,
            responder=form.responder.data,
            responded_on=form.responded_on.data,
            source_url=form.source_url.data or "",
            body_markdown=form.body_markdown.data,
            now=now,
        )
        detail = f"{response.title} ({response.responded_on})"
        moderation.record(db.session, current_moderator(), "letter.response", now=now, letter=letter, detail=detail)
        db.session.commit()
        flash(_("The response is published. It is emailed to the signers who asked for updates."))
        return redirect(url_for(".letter_updates", slug=letter.slug), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("moderate/response.html", letter=letter, form=form), status
