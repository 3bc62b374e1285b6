"""Handing the letter in: the document organisers deliver, as a print-ready page and as a PDF.

Admins only, like the letter's text and settings: the document speaks for the organisers (they
choose the version it carries), and a PDF of a long list keeps a worker busy for minutes.

The page is drawn as it is read (the list streamed from a session of its own), so a list of a
hundred thousand names starts at once. The PDF is a background job (``app.jobs``, kind
``delivery_pdf``) made in parts; its page shows the progress, reloading itself (a script
reads the small JSON of the progress, or, without scripts, the page refreshes), and the link
to the file once it is ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import abort, current_app, redirect, request, stream_template, url_for
from flask import render_template as render
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.utils import send_file
from werkzeug.wrappers import Response
from wtforms import SelectField

from app import log
from app.db import db, utcnow
from app.errors import DomainError
from app.forms import Form
from app.letters import delivery as document
from app.models import Job, JobStatus, Letter
from app.moderation.accounts import admin_required, current_moderator
from app.moderation.blueprint import bp
from app.services import delivery, letters, versions
from app.web import language_name


class DeliveryForm(Form):
    """Which text the document carries: a version of the letter, and a language it is written in."""

    version = SelectField(_l("Version of the text"), coerce=int)
    lang = SelectField(_l("Language"))

    def set_choices(self, letter: Letter) -> None:
        """The letter's versions (newest first) and languages."""
        self.version.choices = [
            (
                number.number,
                str(_l("Version %(number)d (current)", number=number.number))
                if number.number == letter.current_version
                else str(_l("Version %(number)d", number=number.number)),
            )
            for number in reversed(versions.versions(db.session, letter))
        ] or [(letter.current_version, str(_l("Version %(number)d (current)", number=letter.current_version)))]
        self.lang.choices = [(code, language_name(code)) for code in letters.letter_languages(letter)]


def _log_head(letter: Letter) -> dict[str, Any]:
    """The letter's current signed tree head, as the API shows it."""
    key = log.SigningKey.from_text(current_app.config["LOG_SIGNING_KEY"])
    return log.head_json(letter.slug, log.current_head(db.session, letter, key), key)


def _choice(letter: Letter, version_text: str | None, lang_text: str | None) -> tuple[int, str]:
    """The version and the language asked for (the current version, the interface's language by default)."""
    version = letter.current_version
    if version_text:
        if not (version_text.isascii() and version_text.isdigit() and 1 <= int(version_text) <= letter.current_version):
            raise DomainError(_("There is no such version of this letter."))
        version = int(version_text)
    languages = letters.letter_languages(letter)
    lang = lang_text if lang_text in languages else str(get_locale() or letter.lang)
    return version, document.letter_text(db.session, letter, version, lang).lang


def _signers(letter_id: int, until: datetime, start: int) -> Iterator[tuple[int, delivery.Signer]]:
    """The list after the notable signers, numbered, read in a session of the stream's own.

    The request's session is closed when the view returns, before the body is sent.
    """
    with db.new_session() as session:
        yield from enumerate(delivery.all_others(session, letter_id, until=until), start=start)


@bp.get("/letters/<slug>/delivery")
@admin_required
def delivery_page(slug: str) -> Response:
    """The delivery document as a print-ready page, with the version and language to deliver."""
    letter = letters.get_letter(db.session, slug)
    version, lang = _choice(letter, request.args.get("version"), request.args.get("lang"))
    now = utcnow()
    others = delivery.others_count(db.session, letter.id, until=now)
    doc = document.document(
        db.session,
        letter,
        version=version,
        lang=lang,
        until=now,
        count=letter.signature_count,
        others=others,
        head=_log_head(letter),
    )
    form = DeliveryForm(data={"version": version, "lang": lang})
    form.set_choices(letter)
    return Response(
        stream_template(
            "moderate/delivery.html",
            doc=doc,
            letter=letter,
            form=form,
            others=others,
            signers=_signers(letter.id, now, len(doc.notable) + 1),
        ),
        mimetype="text/html",
    )


@bp.post("/letters/<slug>/delivery/pdf")
@admin_required
def delivery_pdf(slug: str) -> Response | tuple[str, int]:
    """Queue the PDF of the document, as it stands now, and go to its page."""
    letter = letters.get_letter(db.session, slug)
    form = DeliveryForm()
    form.set_choices(letter)
    if not form.validate_on_submit():
        raise DomainError(_("Please choose a version and a language of the letter."))
    version, lang = _choice(letter, str(form.version.data), form.lang.data)
    job = delivery.request_pdf(
        db.session, current_moderator(), letter, version=version, lang=lang, head=_log_head(letter), now=utcnow()
    )
    db.session.commit()
    return redirect(url_for(".delivery_job", slug=letter.slug, job_id=job.id), 303)


def _job(slug: str, job_id: int) -> tuple[Letter, Job]:
    letter = letters.get_letter(db.session, slug)
    job = delivery.delivery_job(db.session, letter, job_id)
    if job is None:
        abort(404)
    return letter, job


def _pdf_file(job: Job) -> Path | None:
    path = document.pdf_path(Path(current_app.config["DELIVERY_DIR"]), job.id)
    return path if job.status == JobStatus.DONE and path.is_file() else None


@bp.get("/letters/<slug>/delivery/pdf/<id:job_id>")
@admin_required
def delivery_job(slug: str, job_id: int) -> str:
    """How far the PDF has got; the link to it once it is ready."""
    letter, job = _job(slug, job_id)
    pdf = _pdf_file(job)
    return render(
        "moderate/delivery_pdf.html",
        letter=letter,
        job=job,
        progress=document.progress(job),
        size=pdf.stat().st_size if pdf else None,
        missing=job.status == JobStatus.DONE and pdf is None,
    )


@bp.get("/letters/<slug>/delivery/pdf/<id:job_id>/progress")
@admin_required
def delivery_progress(slug: str, job_id: int) -> dict[str, Any]:
    """The PDF's progress as JSON, for its page's script."""
    letter, job = _job(slug, job_id)
    ready = _pdf_file(job) is not None
    return document.progress(job) | {
        "ready": ready,
        "download_url": url_for(".delivery_download", slug=letter.slug, job_id=job.id) if ready else None,
    }


@bp.get("/letters/<slug>/delivery/pdf/<id:job_id>/download")
@admin_required
def delivery_download(slug: str, job_id: int) -> Response:
    """The finished PDF."""
    letter, job = _job(slug, job_id)
    pdf = _pdf_file(job)
    if pdf is None:
        abort(404)
    day = datetime.fromisoformat(str(job.payload["until"])).date().isoformat()
    return send_file(
        str(pdf),
        request.environ,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{letter.slug}-{day}.pdf",
    )
