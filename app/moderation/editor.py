"""Admins write letters on the web: a new letter, the full edit form, a live preview, and the letter's state.

The form sets everything a letter file sets (``flask --app app letter load``), through the same
service functions, so ``letter dump`` writes a letter made here back as a file. A new letter is
a draft, seen by moderators only, until an admin publishes it; then signing closes and reopens.
Each of these is a POST with CSRF and an audit entry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    Field,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.db import db, utcnow
from app.extensions import LANGUAGES
from app.forms import Form
from app.forms.signing import SingleLine, normalise_line
from app.models import Letter
from app.moderation.accounts import admin_required, current_moderator
from app.moderation.blueprint import bp
from app.services import editing, letters, moderation
from app.services.letters import SLUG_PATTERN

# What the browser's date-and-time control sends; times are UTC, as the form says.
TIME_FORMAT = "%Y-%m-%dT%H:%M"
LANGUAGE_NAMES = {"en": "English", "ko": "한국어"}


def language_name(lang: str) -> str:
    """A language's name in itself (as the language links in the header show it)."""
    return LANGUAGE_NAMES.get(lang, lang)


def _body(lang: str | None = None) -> TextAreaField:
    label = _l("Statement (Markdown)")
    return TextAreaField(
        label,
        description=_l("Markdown: **bold**, *italic*, [a link](https://…), # a heading, - a list. No pictures."),
        validators=[Length(max=100_000)]
        if lang
        else [DataRequired(_l("Please write the statement.")), Length(max=100_000)],
        render_kw={"rows": 16, "class": "markdown-source", "spellcheck": "true"},
    )


def _one_line(value: Any) -> Any:
    """A summary typed in a box of several lines is one line: its line breaks become spaces."""
    return re.sub(r"[\r\n]+", " ", value).strip() if isinstance(value, str) else value


def _summary() -> TextAreaField:
    return TextAreaField(
        _l("Summary"),
        description=_l("One sentence for link previews and lists. Leave it empty to use the first paragraph."),
        filters=[_one_line, normalise_line],
        validators=[Length(max=500), SingleLine()],
        render_kw={"rows": 2},
    )


class LetterEditorForm(Form):
    """A letter: its text, dates, goal, moderation, and its translations (fields ``*_<lang>``)."""

    title = StringField(
        _l("Title"),
        filters=[normalise_line],
        validators=[DataRequired(_l("Please give the letter a title.")), Length(max=300), SingleLine()],
    )
    slug = StringField(
        _l("Address"),
        description=_l("Lowercase letters, digits and dashes: the letter will be at /letters/ followed by this."),
        validators=[Optional(), Length(max=80)],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"},
    )
    lang = SelectField(
        _l("Language of the letter"), choices=[SelectChoice(code, language_name(code)) for code in LANGUAGES]
    )
    summary = _summary()
    body_markdown = _body()
    goal = IntegerField(
        _l("Goal"),
        description=_l("How many signatures to aim for; once reached, the page sets the next round number."),
        validators=[
            Optional(),
            NumberRange(min=1, max=1_000_000_000, message=_l("The goal must be a whole number above 0.")),
        ],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    opens = DateTimeLocalField(
        _l("Opening date (UTC)"),
        description=_l("Shown as the day the letter was published. Empty: when it is published."),
        format=TIME_FORMAT,
        validators=[Optional()],
    )
    closes = DateTimeLocalField(
        _l("Closing date (UTC)"),
        description=_l("Signing stops then. Empty: it stays open until you close it."),
        format=TIME_FORMAT,
        validators=[Optional()],
    )
    featured = BooleanField(_l("Featured on the front page"))
    remind_before_close = BooleanField(_l("Remind before closing"))
    moderation_mode = SelectField(
        _l("Moderation"),
        choices=[
            SelectChoice("post", _l("Show signatures at once; moderators hide later")),
            SelectChoice("pre", _l("Show signatures only after a moderator approves them")),
        ],
    )
    # Privacy after the letter ends (app.services.after_close); each checkbox's hint is in the template.
    sensitive = BooleanField(
        _l("This letter is sensitive"),
        description=_l(
            "For letters whose signers could be harmed if they were known (by an employer, a government). "
            "The full-list downloads (CSV, JSON and the daily snapshots) then give only the count and the "
            "verified and organisation numbers, never names. Ticking it also ticks the next box."
        ),
    )
    noindex_signers = BooleanField(
        _l("Ask search engines not to index the list of signers"),
        description=_l(
            "The list of signers and each signer's page ask search engines not to index them, so that a "
            "search for someone's name does not lead here. The letter's own page can still be found."
        ),
    )
    hide_names_after_close = BooleanField(
        _l("Hide the names once signing closes"),
        description=_l(
            "When signing closes (by the button or on the closing date), the names leave the letter's page, "
            "the list and its search, the API, the downloads and the snapshots. The count, the removed "
            "numbers and the verified and organisation numbers stay, and the public log still verifies: "
            "its entries keep their hashes but no longer open to names. Opening signing again brings the "
            "names back."
        ),
    )
    personal_data_until = DateField(
        _l("Erase the signers' personal data after"),
        description=_l(
            "A day on or after the closing day. After it, the names, addresses, comments, affiliations and "
            "cities of every signer are erased for good; the count, the tiers and the signed log remain."
        ),
        validators=[Optional()],
    )
    # Its hint is in the template: a checkbox's label follows the box, the hint after both.
    material = BooleanField(_l("This is a material change: email the signers who asked for updates"))
    change_note = StringField(
        _l("What changed"),
        description=_l("One sentence, shown in the letter's history and in the email. Required for a material change."),
        validators=[Length(max=500)],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A translation's fields say their language: the error summary lists them out of their tab.
        for lang in LANGUAGES:
            for name, field in self.translation(lang).items():
                label = {"title": _("Title"), "summary": _("Summary"), "body": _("Statement (Markdown)")}[name]
                field.label.text = f"{label} ({language_name(lang)})"

    def validate_slug(self, field: StringField) -> None:
        """A slug the letter's address can carry."""
        if field.data and not SLUG_PATTERN.match(field.data):
            raise ValidationError(
                _l("Use lowercase letters (a–z), digits and dashes, at most 80, not starting or ending with a dash.")
            )

    def validate_closes(self, field: DateTimeLocalField) -> None:
        """Signing cannot stop before the letter opens."""
        if field.data and self.opens.data and field.data <= self.opens.data:
            raise ValidationError(_l("The closing date must be after the opening date."))

    def validate_personal_data_until(self, field: DateField) -> None:
        """The data of people still signing is never erased: the day is on or after the closing day."""
        if field.data and self.closes.data and field.data < self.closes.data.date():
            raise ValidationError(_l("The day must be on or after the closing day."))

    def validate_change_note(self, field: StringField) -> None:
        """A material change must say what changed: the signers read it."""
        if self.material.data and not (field.data or "").strip():
            raise ValidationError(_l("Please say what changed: the signers will read it."))

    def translation(self, lang: str) -> dict[str, Field]:
        """The fields of the translation in ``lang``."""
        return {"title": self[f"title_{lang}"], "summary": self[f"summary_{lang}"], "body": self[f"body_{lang}"]}

    def translation_given(self, lang: str) -> bool:
        """Whether the form sent that language's fields at all (a form that did not leaves it alone)."""
        return any(field.raw_data for field in self.translation(lang).values())


for _lang in LANGUAGES:
    setattr(
        LetterEditorForm,
        f"title_{_lang}",
        StringField(_l("Title"), filters=[normalise_line], validators=[Length(max=300), SingleLine()]),
    )
    setattr(LetterEditorForm, f"summary_{_lang}", _summary())
    setattr(LetterEditorForm, f"body_{_lang}", _body(_lang))


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


def _local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment is not None else None


def _kept(submitted: datetime | None, stored: datetime | None) -> datetime | None:
    """The stored time when the form sent it back unchanged (the control has no seconds)."""
    if submitted is not None and stored is not None and submitted == stored.replace(second=0, microsecond=0):
        return stored
    return submitted


def _other_languages(original: str) -> list[str]:
    return [lang for lang in LANGUAGES if lang != original]


def _check_translations(form: LetterEditorForm, original: str) -> bool:
    """Each translation is all or nothing: a title and a statement, or neither. False if any is half done."""
    fine = True
    for lang in LANGUAGES:
        fields = form.translation(lang)
        title, body = (fields["title"].data or "").strip(), (fields["body"].data or "").strip()
        summary = (fields["summary"].data or "").strip()
        if lang == original:
            if title or body or summary:
                fields["title"].errors = [
                    _("The letter itself is in this language: write it in the letter's own fields.")
                ]
                fine = False
            continue
        if (title or summary) and not body:
            fields["body"].errors = [
                _("Please write the statement in this language too, or leave every field of it empty.")
            ]
            fine = False
        if body and not title:
            fields["title"].errors = [_("Please give the translation a title too.")]
            fine = False
    return fine


def _values(form: LetterEditorForm, original: str, letter: Letter | None) -> editing.LetterValues:
    translations = {
        lang: editing.Text(
            form.translation(lang)["title"].data or "",
            form.translation(lang)["summary"].data or "",
            form.translation(lang)["body"].data or "",
        )
        for lang in _other_languages(original)
        if letter is None or form.translation_given(lang)
    }
    return editing.LetterValues(
        text=editing.Text(form.title.data or "", form.summary.data or "", form.body_markdown.data or ""),
        goal=form.goal.data,
        opens=_kept(_utc(form.opens.data), letter.published_at if letter else None),
        closes=_kept(_utc(form.closes.data), letter.closes_at if letter else None),
        featured=bool(form.featured.data),
        moderation_mode=form.moderation_mode.data or "post",
        translations=translations,
        sensitive=bool(form.sensitive.data),
        noindex_signers=_noindex(form, letter),
        hide_names_after_close=bool(form.hide_names_after_close.data),
        personal_data_until=form.personal_data_until.data,
        remind_before_close=bool(form.remind_before_close.data),
    )


def _noindex(form: LetterEditorForm, letter: Letter | None) -> bool | None:
    """The "noindex" box; None (turn it on) when the letter becomes sensitive with the box left empty."""
    if form.sensitive.data and not form.noindex_signers.data and (letter is None or not letter.sensitive):
        return None
    return bool(form.noindex_signers.data)


def _fill(form: LetterEditorForm, letter: Letter) -> None:
    """Put the stored letter in an unsent form."""
    form.title.data, form.summary.data, form.body_markdown.data = letter.title, letter.summary, letter.body_markdown
    form.slug.data, form.lang.data = letter.slug, letter.lang
    form.goal.data = letter.goal
    # A draft opening in the past opens when it is published: its field says so by being empty.
    opens = None if letter.draft and letter.published_at <= utcnow() else letter.published_at
    form.opens.data, form.closes.data = _local(opens), _local(letter.closes_at)
    form.featured.data, form.moderation_mode.data = letter.featured, letter.moderation_mode
    form.sensitive.data, form.noindex_signers.data = letter.sensitive, letter.noindex_signers
    form.hide_names_after_close.data = letter.hide_names_after_close
    form.personal_data_until.data = letter.personal_data_until
    form.remind_before_close.data = letter.remind_before_close
    for translation in letter.translations:
        if translation.lang in LANGUAGES and translation.lang != letter.lang:
            fields = form.translation(translation.lang)
            fields["title"].data = translation.title
            fields["summary"].data = translation.summary
            fields["body"].data = translation.body_markdown


def _previews(form: LetterEditorForm, original: str) -> dict[str, str]:
    """Each text of the form rendered as the letter page would show it (for the Preview button)."""
    shown = {"original": editing.preview_html(form.body_markdown.data or "")}
    for lang in LANGUAGES:
        shown[lang] = editing.preview_html(form.translation(lang)["body"].data or "")
    return shown


def _page(
    form: LetterEditorForm, letter: Letter | None, *, original: str, previews: dict[str, str] | None = None
) -> str:
    lagging = {
        t.lang: t.letter_version
        for t in (letter.translations if letter else [])
        if t.letter_version < letter.current_version  # type: ignore[union-attr]
    }
    return render_template(
        "moderate/letter_editor.html",
        form=form,
        letter=letter,
        original=original,
        others=_other_languages(original),
        languages=LANGUAGES,
        language_name=language_name,
        previews=previews or _previews(form, original),
        lagging=lagging,
        signed=letters.has_signatures(db.session, letter) if letter else False,
        closed=letter.is_closed(utcnow()) if letter else False,
        ui_lang=str(get_locale()),
        reminder_days=current_app.config["REMINDER_DAYS_BEFORE_CLOSE"],
    )


def _refused(form: LetterEditorForm, letter: Letter | None, original: str, status: int = 422) -> tuple[str, int]:
    db.session.rollback()
    return _page(form, letter, original=original), status


@bp.route("/letters/new", methods=["GET", "POST"])
@admin_required
def new_letter() -> Response | str | tuple[str, int]:
    """Admins: write a new letter (a draft until published), with its translations."""
    form = LetterEditorForm()
    if not form.is_submitted():
        form.lang.data = form.lang.data or LANGUAGES[0]
        return _page(form, None, original=form.lang.data)
    original = form.lang.data if form.lang.data in LANGUAGES else LANGUAGES[0]
    if "preview" in request.form:
        form.validate()  # the messages beside the fields, nothing stored
        return _page(form, None, original=original, previews=_previews(form, original))
    valid = form.validate_on_submit()
    valid = _check_translations(form, original) and valid
    slug = form.slug.data or letters.slugify(form.title.data or "")
    if valid and not form.slug.data and not slug:
        form.slug.errors = [_("The title gives no address (it has no letters a–z or digits): please write one.")]
        valid = False
    if valid and not SLUG_PATTERN.match(slug):
        form.slug.errors = [
            _("Use lowercase letters (a–z), digits and dashes, at most 80, not starting or ending with a dash.")
        ]
        valid = False
    if valid and editing.slug_taken(db.session, slug):
        form.slug.errors = [_("Another letter has this address already: please choose another.")]
        valid = False
    if not valid:
        form.slug.data = form.slug.data or slug
        return _refused(form, None, original)
    now = utcnow()
    try:
        letter = editing.create_letter(db.session, _values(form, original, None), slug=slug, lang=original, now=now)
        moderation.record(db.session, current_moderator(), "letter.create", now=now, letter=letter, detail=letter.title)
        db.session.commit()
    except (editing.SlugTaken, IntegrityError):
        # Another admin took the address between the check and the insert.
        form.slug.errors = [_("Another letter has this address already: please choose another.")]
        return _refused(form, None, original)
    flash(_("The letter is saved as a draft: only moderators can see it until you publish it."))
    return redirect(url_for(".edit_letter", slug=letter.slug), 303)


@bp.route("/letters/<slug>/edit", methods=["GET", "POST"])
@admin_required
def edit_letter(slug: str) -> Response | str | tuple[str, int]:
    """Admins: edit everything about a letter; a changed text of a published letter is its next version."""
    letter = letters.get_letter(db.session, slug, drafts=True)
    form = LetterEditorForm()
    original = letter.lang
    if not form.is_submitted():
        _fill(form, letter)
        return _page(form, letter, original=original)
    # The language never changes once the letter exists; the address only while it is a draft
    # (once published, people have its links).
    form.lang.data = letter.lang
    if not letter.draft or not form.slug.data:
        form.slug.data = letter.slug
    if "preview" in request.form:
        form.validate()
        return _page(form, letter, original=original, previews=_previews(form, original))
    valid = form.validate_on_submit()
    valid = _check_translations(form, original) and valid
    if valid and form.slug.data != letter.slug and editing.slug_taken(db.session, form.slug.data):
        form.slug.errors = [_("Another letter has this address already: please choose another.")]
        valid = False
    if not valid:
        return _refused(form, letter, original)
    now = utcnow()
    if form.slug.data != letter.slug:
        try:
            editing.rename_draft(db.session, letter, form.slug.data, now=now)
        except (editing.SlugTaken, IntegrityError):
            form.slug.errors = [_("Another letter has this address already: please choose another.")]
            return _refused(form, letter, original)
    material = bool(form.material.data) and not letter.draft
    try:
        version = editing.save_letter(
            db.session,
            letter,
            _values(form, original, letter),
            now=now,
            material=material,
            note=form.change_note.data or "",
        )
    except letters.LetterFileError:
        # The only refusal left after the form's checks: a material change of an unchanged text.
        form.material.errors = [_("The text is the same as before: there is no change to announce.")]
        return _refused(form, letter, original)
    detail = letter.title if version is None else f"{letter.title} (version {version})"
    moderation.record(db.session, current_moderator(), "letter.edit", now=now, letter=letter, detail=detail)
    db.session.commit()
    if version is None:
        flash(_("The letter is saved."))
    elif material:
        flash(
            _(
                "The letter is saved as version %(number)d. The signers who asked for updates will be emailed.",
                number=version,
            )
        )
    else:
        flash(_("The letter is saved as version %(number)d.", number=version))
    return redirect(url_for(".edit_letter", slug=letter.slug), 303)


@bp.post("/letters/preview")
@admin_required
def preview_letter() -> Response:
    """The Markdown sent, rendered and sanitised as the letter page shows it (for the editor's live preview)."""
    form = Form()
    if not form.validate_on_submit():
        abort(400)
    markdown = request.form.get("markdown", "")
    if len(markdown) > 100_000:
        abort(413)
    return jsonify(html=editing.preview_html(markdown))


# The state buttons: what each does, the audit code, and the message after it.
_STATES: dict[str, tuple[str, Any]] = {
    "publish": ("letter.publish", _l("The letter is published: everyone can read and sign it.")),
    "draft": ("letter.draft", _l("The letter is a draft again: only moderators can see it.")),
    "close": ("letter.close", _l("Signing is closed: the count and the list are final.")),
    "open": ("letter.open", _l("Signing is open again.")),
}


@bp.post("/letters/<slug>/signing")
@admin_required
def open_or_close(slug: str) -> Response | tuple[str, int]:
    """Admins: publish a draft, close or reopen signing, or take a letter nobody signed back to draft."""
    letter = letters.get_letter(db.session, slug, drafts=True)
    form = Form()
    if not form.validate_on_submit():
        abort(400)
    wanted = request.form.get("signing", "")
    if wanted not in _STATES:
        abort(400)
    now = utcnow()
    if wanted == "publish" and letter.draft:
        letters.publish_letter(db.session, letter, now=now)
    elif wanted == "draft" and not letter.draft:
        try:
            letters.to_draft(db.session, letter, now=now)
        except letters.LetterHasSigners:
            db.session.rollback()
            flash(_("Someone has signed this letter: it cannot go back to being a draft."))
            return redirect(url_for(".edit_letter", slug=letter.slug), 303)
    elif wanted == "close" and not letter.draft:
        letters.close_letter(db.session, letter, now=now)
    elif wanted == "open" and not letter.draft:
        letters.reopen_letter(db.session, letter, now=now)
    else:
        flash(_("The letter is not in a state where that applies; nothing changed."))
        return redirect(url_for(".edit_letter", slug=letter.slug), 303)
    action, message = _STATES[wanted]
    moderation.record(db.session, current_moderator(), action, now=now, letter=letter, detail=letter.title)
    db.session.commit()
    flash(str(message))
    return redirect(url_for(".edit_letter", slug=letter.slug), 303)
