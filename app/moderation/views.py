"""The moderators' pages. Every route but sign-in requires an active, signed-in moderator."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import date, timedelta

from flask import (
    abort,
    current_app,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from app.db import db, utcnow
from app.errors import DomainError
from app.models import MAX_ROW_ID, Letter, Organisation, RemovalReason, Signature, SignatureStatus
from app.moderation.accounts import (
    admin_required,
    authenticate,
    current_moderator,
    end_sessions,
    sign_in,
    sign_out,
)
from app.moderation.blueprint import bp
from app.moderation.forms import (
    ACTION_LABELS,
    FINE_LABELS,
    ActionForm,
    DecisionForm,
    LoginForm,
    OrganisationForm,
    OrganisationUploadForm,
    ResponseForm,
    UpdateForm,
    fine_action,
)
from app.moderation.wording import (
    ACTION_WORDS,
    FLAG_KINDS,
    REASON_WORDS,
    STATUS_LABELS,
    action_words,
    describe_flag,
    describe_held,
    entry_reason,
    network_sentence,
    previous_sentence,
    status_words,
)
from app.ratelimit import config_limit, limiter, private_key
from app.services import letters, moderation, organisations, updates
from app.services.queries import export, review
from app.services.tokens import TokenLifetimes
from app.web import format_count


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
    all_letters = letters.all_letters(db.session, drafts=True)
    counts = {letter.id: review.queue_counts(db.session, letter.id) for letter in all_letters}
    return render_template("moderate/index.html", letters=all_letters, counts=counts)


def _id_arg(name: str) -> int | None:
    """A signature id from the query string, or None; anything else is a bad search."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ROW_ID):
        raise ValueError(name)
    return int(text)


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
            signature=_id_arg("signature"),
            same_network=_id_arg("same_network"),
            same_name=_id_arg("same_name"),
        )
    except ValueError:
        raise DomainError(_("Please check the search: a status or a date is not valid.")) from None


def _cursor() -> str | None:
    return request.args.get("cursor") or None


def _queue_args(search: review.Search) -> dict[str, str]:
    """The search and the page as query-string arguments: where a decision comes back to."""
    args = search.as_args()
    if _cursor():
        args["cursor"] = str(_cursor())
    return args


def _undo_window() -> timedelta:
    return timedelta(minutes=current_app.config["MODERATION_UNDO_MINUTES"])


def _wants_json() -> bool:
    """A decision made by the queue's script (fetch) rather than by a plain form."""
    return request.accept_mimetypes.best == "application/json"


# What the last action did, for the banner that offers to undo it (kept in the session until shown).
DONE = "moderation_done"


def _remember_done(message: str, outcome: moderation.Outcome) -> None:
    if outcome.undoable and outcome.entry_id is not None:
        session[DONE] = {"message": message, "entry": outcome.entry_id}
    else:
        flash(message)


def _banner() -> dict[str, object] | None:
    """The last action's message and, while it may be undone, its audit entry."""
    done = session.pop(DONE, None)
    if not isinstance(done, dict):
        return None
    entry = done.get("entry")
    open_entries = moderation.undoable_entries(
        db.session, [entry] if isinstance(entry, int) else [], now=utcnow(), window=_undo_window()
    )
    return {"message": str(done.get("message", "")), "entry": entry if entry in open_entries else None}


def _queue_context(letter: Letter, search: review.Search, **extra: object) -> dict[str, object]:
    return {
        "letter": letter,
        "search": search,
        "args": _queue_args(search),
        "statuses": list(SignatureStatus),
        "status_labels": STATUS_LABELS,
        "flag_kinds": FLAG_KINDS,
        "describe_flag": describe_flag,
        "describe_held": describe_held,
        "status_words": status_words,
        "network_sentence": network_sentence,
        "previous_sentence": previous_sentence,
        "fine_action": fine_action,
        "fine_labels": FINE_LABELS,
        "undo_minutes": current_app.config["MODERATION_UNDO_MINUTES"],
        **extra,
    }


def _render_queue(
    letter: Letter,
    search: review.Search,
    *,
    form: ActionForm | None = None,
    selected: Collection[int] = (),
    decision: tuple[int, DecisionForm] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The queue, with a refused form's messages next to its controls and everything chosen kept."""
    page = review.queue_page(db.session, letter.id, search, cursor=_cursor())
    matched = review.count_matching(db.session, letter.id, search, limit=moderation.MAX_BULK)
    if request.args.get("select") == "page":
        selected = [s.id for s in page.signatures]
    context = _queue_context(
        letter,
        search,
        page=page,
        matched=matched,
        max_bulk=moderation.MAX_BULK,
        counts=review.queue_counts(db.session, letter.id),
        form=form or ActionForm(formdata=None),
        selected=set(selected),
        decision=decision,
        banner=_banner(),
    )
    return render_template("moderate/queue.html", ctx=context, **context), status


@bp.get("/letters/<slug>")
def queue(slug: str) -> tuple[str, int]:
    """One letter's queue: waiting for review, flagged, held, or a search over all signatures."""
    letter = letters.get_letter(db.session, slug, drafts=True)
    return _render_queue(letter, _search_from_args())


def _confirm_page(
    letter: Letter,
    search: review.Search,
    form: ActionForm,
    preview: moderation.Preview,
    *,
    phrase_needed: bool,
    changed: bool = False,
    status: int = 200,
) -> tuple[str, int]:
    """What a bulk or final action would do, with the button that does it (and the phrase to type)."""
    return render_template(
        "moderate/confirm.html",
        letter=letter,
        search=search,
        args=_queue_args(search),
        form=form,
        preview=preview,
        action=preview.action,
        words=ACTION_LABELS[preview.action],
        deleting=preview.action == moderation.Action.DELETE,
        reason=form.chosen_reason(),
        reason_words=REASON_WORDS,
        phrase_needed=phrase_needed,
        changed=changed,
        undoable=preview.action in moderation.UNDOABLE,
        undo_minutes=current_app.config["MODERATION_UNDO_MINUTES"],
        new_count=letter.signature_count + preview.count_change,
    ), status


def _outcome_message(action: moderation.Action, reason: RemovalReason | None, outcome: moderation.Outcome) -> str:
    words = str(ACTION_WORDS[str(action)])
    if reason is not None:
        words = _("%(action)s (%(reason)s)", action=words, reason=REASON_WORDS[reason])
    message = _(
        "%(action)s: %(changed)s",
        action=words,
        changed=ngettext("%(num)d signature changed.", "%(num)d signatures changed.", outcome.changed),
    )
    if outcome.skipped:
        message += " " + ngettext(
            "%(num)d skipped: the action does not apply to it.",
            "%(num)d skipped: the action does not apply to them.",
            outcome.skipped,
        )
    return str(message)


@bp.post("/letters/<slug>/actions")
def act(slug: str) -> Response | tuple[str, int]:
    """Apply an action to the chosen signatures, or to all that match the search, in one transaction.

    A refused form comes back as the queue with its messages beside the controls. An action on
    more than one signature, on all that match, or deleting for good first shows what it would
    do; it is carried out only when that page's button is pressed (and, to delete every
    signature of the letter, its short name typed).
    """
    letter = letters.get_letter(db.session, slug, drafts=True)
    form = ActionForm()
    search = _search_from_args()
    if not form.validate():
        return _render_queue(letter, search, form=form, selected=form.signature.data or [], status=422)
    action = form.chosen_action()
    if form.all_matching.data:
        ids = review.matching_ids(db.session, letter.id, search, limit=moderation.MAX_BULK)
        if len(ids) > moderation.MAX_BULK:
            form.all_matching.errors = [_(moderation.TooMany.message)]
        elif not ids:
            form.all_matching.errors = [_("No signature matches this search.")]
        if form.all_matching.errors:
            return _render_queue(letter, search, form=form, selected=form.signature.data, status=422)
    else:
        ids = form.signature.data
    if form.all_matching.data or len(ids) > 1 or action == moderation.Action.DELETE:
        preview = moderation.preview(db.session, letter, action, ids)
        phrase_needed = action == moderation.Action.DELETE and form.all_matching.data and search.unfiltered
        if not form.confirm.data:
            return _confirm_page(letter, search, form, preview, phrase_needed=phrase_needed)
        if form.digest.data != preview.digest:
            # The search matches other signatures now: show them again rather than act on the unseen.
            return _confirm_page(letter, search, form, preview, phrase_needed=phrase_needed, changed=True, status=409)
        if phrase_needed and (form.phrase.data or "").strip() != letter.slug:
            form.phrase.errors = [_("Type %(slug)s exactly, or go back.", slug=letter.slug)]
            return _confirm_page(letter, search, form, preview, phrase_needed=True, status=422)
    outcome = moderation.act(
        db.session,
        current_moderator(),
        letter,
        action,
        ids,
        now=utcnow(),
        reason=form.chosen_reason(),
        note=form.note.data or "",
        ttl=TokenLifetimes.from_config(current_app.config),
    )
    db.session.commit()
    _remember_done(_outcome_message(action, form.chosen_reason(), outcome), outcome)
    return redirect(url_for(".queue", slug=letter.slug, **_queue_args(search)), 303)  # type: ignore[arg-type]


def _signature_of(letter: Letter, signature_id: int) -> Signature:
    signature = db.session.get(Signature, signature_id)
    if signature is None or signature.letter_id != letter.id:
        abort(404)
    return signature


def _rows_html(letter: Letter, search: review.Search, ids: Sequence[int], **row: object) -> dict[str, str]:
    """The rows of these signatures as the queue draws them (for the script to put in place)."""
    page = review.rows_page(db.session, letter.id, ids)
    context = _queue_context(letter, search, page=page, selected=set(), decision=None)
    draw = get_template_attribute("moderate/_row.html", "signature_row")
    return {str(signature.id): str(draw(signature, context, **row)) for signature in page.signatures}


def _script_answer(
    letter: Letter, search: review.Search, message: str, rows: dict[str, str], entry: int | None
) -> Response:
    """What the queue's script puts in place: the rows, the banner (with its undo) and the tabs' numbers."""
    context = _queue_context(letter, search)
    banner = get_template_attribute("moderate/_row.html", "undo_banner")(message, entry, context)
    counts = {view: format_count(number) for view, number in review.queue_counts(db.session, letter.id).items()}
    return jsonify(message=message, rows=rows, banner=str(banner), counts=counts)


@bp.post("/letters/<slug>/signatures/<id:signature_id>/decide")
def decide(slug: str, signature_id: int) -> Response | tuple[str, int] | tuple[Response, int]:
    """One row's decision (looks fine, hide as fake or duplicate, verify), applied at once and undoable.

    From a plain form the queue comes back at the next row, with the search and the page kept;
    from the queue's script (Accept: application/json) the answer is the row as it is now.
    """
    letter = letters.get_letter(db.session, slug, drafts=True)
    search = _search_from_args()
    signature = _signature_of(letter, signature_id)
    form = DecisionForm()
    if not form.validate():
        if _wants_json():
            problems = [e for name, errors in form.errors.items() if name != "csrf_token" for e in errors]
            return jsonify(error="bad_decision", message=str(problems[0]) if problems else ""), 422
        return _render_queue(letter, search, decision=(signature.id, form), status=422)
    resolved = form.resolve(signature, review.has_open_flags(db.session, signature.id))
    if resolved is None:
        message = _("That does not apply to this signature: it is now “%(status)s”.", status=status_words(signature))
        if _wants_json():
            return jsonify(error="not_applicable", message=message), 409
        flash(message)
        return redirect(url_for(".queue", slug=letter.slug, **_queue_args(search)), 303)  # type: ignore[arg-type]
    action, reason = resolved
    outcome = moderation.act(
        db.session,
        current_moderator(),
        letter,
        action,
        [signature.id],
        now=utcnow(),
        reason=reason,
        note=form.note.data or "",
        ttl=TokenLifetimes.from_config(current_app.config),
    )
    db.session.commit()
    words = str(ACTION_WORDS[str(action)])
    if reason is not None:
        words = _("%(action)s (%(reason)s)", action=words, reason=REASON_WORDS[reason])
    message = str(_("%(action)s: %(name)s", action=words, name=signature.name or f"#{signature.id}"))
    if _wants_json():
        entry = outcome.entry_id if outcome.undoable else None
        rows = _rows_html(letter, search, [signature.id], done=message, undo_entry=entry)
        return _script_answer(letter, search, message, rows, entry)
    _remember_done(message, outcome)
    anchor = f"signature-{form.next.data}" if form.next.data else None
    return redirect(url_for(".queue", slug=letter.slug, _anchor=anchor, **_queue_args(search)), 303)  # type: ignore[arg-type]


def _back_to() -> str:
    """Where to go after an undo: a moderation page of this site (never another site)."""
    back = request.form.get("back", "")
    if back.startswith("/moderate/") and not back.startswith("//") and "\\" not in back:
        return back
    return url_for(".audit")


@bp.post("/audit/<id:entry_id>/undo")
def undo(entry_id: int) -> Response | tuple[Response, int]:
    """Undo an action of the audit log while it may be undone; the undo is in the log too."""
    try:
        outcome = moderation.undo(db.session, current_moderator(), entry_id, now=utcnow(), window=_undo_window())
    except moderation.NotUndoable as refused:
        db.session.rollback()
        if _wants_json():
            return jsonify(error=refused.code, message=_(refused.message)), refused.status_code
        flash(_(refused.message))
        return redirect(_back_to(), 303)
    db.session.commit()
    message = ngettext(
        "Undone: %(num)d signature is back as it was.",
        "Undone: %(num)d signatures are back as they were.",
        outcome.restored,
    )
    if outcome.skipped:
        message += " " + ngettext(
            "%(num)d was changed since, so it stays as it is.",
            "%(num)d were changed since, so they stay as they are.",
            outcome.skipped,
        )
    letter = db.session.get(Letter, outcome.entry.letter_id) if outcome.entry.letter_id else None
    if _wants_json() and letter is not None:
        search = _search_from_args()
        rows = _rows_html(letter, search, review.entry_ids(outcome.entry))
        return _script_answer(letter, search, str(message), rows, None)
    flash(str(message))
    return redirect(_back_to(), 303)


def _all_signatures_csv(letter_id: int) -> Iterator[str]:
    # The stream's own session: the request's is closed before a streamed body is sent.
    with db.new_session() as session:
        yield export.CSV_BOM
        yield from export.all_csv(session, letter_id)


@bp.get("/letters/<slug>/export.csv")
def export_csv(slug: str) -> Response:
    """Every signature of the letter with every field (addresses included), streamed as CSV."""
    letter = letters.get_letter(db.session, slug, drafts=True)
    moderation.record(db.session, current_moderator(), "export", now=utcnow(), letter=letter, detail="CSV, all fields")
    db.session.commit()
    response = Response(stream_with_context(_all_signatures_csv(letter.id)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{letter.slug}-all-signatures.csv"'
    return response


def _audit_filter() -> tuple[review.AuditFilter, Letter | None]:
    args = request.args
    slug = args.get("letter", "")
    letter = letters.get_letter(db.session, slug, drafts=True) if slug else None
    try:
        since = date.fromisoformat(args["since"]) if args.get("since") else None
        until = date.fromisoformat(args["until"]) if args.get("until") else None
    except ValueError:
        raise DomainError(_("Please check the search: a status or a date is not valid.")) from None
    criteria = review.AuditFilter(
        letter_id=letter.id if letter else None,
        action=args.get("action", "")[:40],
        moderator=args.get("moderator", "")[:320],
        since=since,
        until=until,
    )
    return criteria, letter


def _audit_args(criteria: review.AuditFilter, letter: Letter | None) -> dict[str, str]:
    values = {
        "letter": letter.slug if letter else "",
        "action": criteria.action,
        "moderator": criteria.moderator,
        "since": criteria.since.isoformat() if criteria.since else "",
        "until": criteria.until.isoformat() if criteria.until else "",
    }
    return {key: value for key, value in values.items() if value}


@bp.get("/audit")
def audit() -> str:
    """The audit log: every action, newest first, in words; filter by letter, action, moderator and date."""
    criteria, letter = _audit_filter()
    entries, next_cursor = review.audit_page(db.session, criteria, cursor=request.args.get("cursor") or None)
    all_letters = letters.all_letters(db.session, drafts=True)
    return render_template(
        "moderate/audit.html",
        rows=review.audit_rows(db.session, entries, now=utcnow(), window=_undo_window()),
        next_cursor=next_cursor,
        criteria=criteria,
        letter=letter,
        args=_audit_args(criteria, letter),
        all_letters=all_letters,
        slugs={item.id: item.slug for item in all_letters},
        moderators=review.audit_moderators(db.session),
        actions=list(ACTION_WORDS),
        action_words=action_words,
        entry_reason=entry_reason,
        undo_minutes=current_app.config["MODERATION_UNDO_MINUTES"],
    )


AUDIT_CSV_FIELDS = (
    "id",
    "at",
    "moderator",
    "action",
    "action_in_words",
    "letter",
    "signature_count",
    "signature_ids",
    "reason",
    "undoes",
)


def _audit_csv(criteria: review.AuditFilter, slugs: dict[int, str]) -> Iterator[str]:
    # The stream's own session: the request's is closed before a streamed body is sent.
    with db.new_session() as reading:
        rows = (
            {
                "id": entry.id,
                "at": entry.at,
                "moderator": entry.moderator_email,
                "action": entry.action,
                "action_in_words": action_words(entry.action),
                "letter": slugs.get(entry.letter_id or 0, ""),
                "signature_count": entry.signature_count,
                "signature_ids": entry.signature_ids,
                "reason": entry.reason,
                "undoes": entry.undoes_id,
            }
            for entry in review.audit_entries(reading, criteria)
        )
        yield export.CSV_BOM
        yield from export.write_csv(rows, AUDIT_CSV_FIELDS)


@bp.get("/audit.csv")
def audit_csv() -> Response:
    """The audit log as CSV with the same filters (signatures by id: names are not copied out)."""
    criteria, _letter = _audit_filter()
    slugs = {item.id: item.slug for item in letters.all_letters(db.session, drafts=True)}
    response = Response(stream_with_context(_audit_csv(criteria, slugs)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response


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
    letter = letters.get_letter(db.session, slug, drafts=True)
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
    letter = letters.get_letter(db.session, slug, drafts=True)
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
