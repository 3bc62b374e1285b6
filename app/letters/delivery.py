"""The delivery document drawn: as a print-ready page for the console, and as a PDF made in parts.

The console's page (``app.moderation.delivery``) and the worker's job (``app.jobs``) both draw
the document from here, with the templates in ``templates/delivery/`` and one stylesheet
(``static/delivery.css``) that serves the browser's print and WeasyPrint alike.

WeasyPrint lays a whole document out in memory before writing it, so a list of a hundred
thousand names in one document would take gigabytes. The PDF is made in parts instead: the
letter and its notable signatories, then the list CHUNK signers at a time, then the
verification page, each part laid out on its own and written to a file under DELIVERY_DIR,
one part per step of the job (each in its own transaction, with the progress in the job's
cursor); the last step joins the parts with pypdf. Page numbers run on from part to part, as
each part starts its page counter where the one before ended. The peak memory is that of one
part, plus the join (see docs/benchmarks.md).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from pypdf import PdfWriter

from app.extensions import LANGUAGES
from app.models import Job, Letter, LetterText
from app.services import delivery, versions
from app.urls import external_url

# Signers laid out in one WeasyPrint run: about 9 pages and 130 MB at the peak.
CHUNK = 1000
# Finished PDFs are kept this long (their pages link to them), and the parts of a job that never
# finished (failed, or its letter deleted) a day; each finished PDF clears away older ones.
KEEP_PDFS = timedelta(days=7)
KEEP_PARTS = timedelta(days=1)
STYLESHEET = Path(__file__).resolve().parents[1] / "static" / "delivery.css"


@dataclass(frozen=True)
class Document:
    """What the document says, apart from the long list of names."""

    letter: Letter
    version: int
    text: LetterText
    # The language of the document's own words (headings, the count's sentence).
    locale: str
    count: int
    listed: int
    until: datetime
    head: Mapping[str, Any]
    site_address: str
    log_address: str
    notable: list[delivery.Signer]


def letter_text(session: Any, letter: Letter, version: int, lang: str) -> LetterText:
    """The letter's text of ``version``: the current one in ``lang`` if translated, an older one as published."""
    if version == letter.current_version:
        return letter.text_in(lang)
    old = versions.get_version(session, letter, version)
    return LetterText(old.lang, old.title, old.summary, old.body_html, old.number)


def interface_locale(lang: str) -> str:
    """The site's language closest to ``lang`` (the document's headings), else the default one."""
    primary = lang.split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else str(current_app.config["DEFAULT_LOCALE"])


def document(
    session: Any,
    letter: Letter,
    *,
    version: int,
    lang: str,
    until: datetime,
    count: int,
    others: int,
    head: Mapping[str, Any],
) -> Document:
    """The document of ``letter`` as it stood at ``until``: the text of ``version`` in ``lang``."""
    text = letter_text(session, letter, version, lang)
    notable = delivery.notable(session, letter.id, until=until)
    site_address = external_url(
        "letters.letter", slug=letter.slug, **({"lang": text.lang} if text.lang != letter.lang else {})
    )
    return Document(
        letter=letter,
        version=version,
        text=text,
        locale=interface_locale(text.lang),
        count=count,
        listed=len(notable) + others,
        until=until,
        head=head,
        site_address=site_address,
        log_address=external_url("letters.verify_log", slug=letter.slug),
        notable=notable,
    )


def job_document(session: Any, job: Job) -> Document | None:
    """The document a PDF job makes, from what its payload fixed; None if the letter is gone."""
    payload = job.payload
    letter = session.get(Letter, int(payload["letter_id"]))
    if letter is None:
        return None
    return document(
        session,
        letter,
        version=int(payload["version"]),
        lang=str(payload["lang"]),
        until=datetime.fromisoformat(str(payload["until"])),
        count=int(payload["count"]),
        others=int(payload["total"]),
        head=payload["head"],
    )


# --- The PDF ------------------------------------------------------------------------------------


def _render_part(doc: Document, part: str, *, first_page: int, **context: Any) -> tuple[bytes, int]:
    """One part of the PDF laid out by WeasyPrint: its bytes and its number of pages.

    WeasyPrint is imported here, when a PDF is made, not with the app: it loads Pango and the
    fonts, which every web process would otherwise carry.
    """
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    with force_locale(doc.locale):
        html = render_template("delivery/pdf.html", doc=doc, part=part, first_page=first_page, **context)
    # Nothing is fetched from anywhere: should a letter's text ever name an image, the worker must
    # not request it (every request to another site goes through app.outbound).
    offline = URLFetcher(allowed_protocols={"data"})
    rendered = HTML(string=html, url_fetcher=offline).render(stylesheets=[CSS(filename=str(STYLESHEET))])
    return rendered.write_pdf(), len(rendered.pages)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def pdf_path(directory: Path, job_id: int) -> Path:
    """Where the finished PDF of job ``job_id`` is kept."""
    return directory / f"delivery-{job_id}.pdf"


def _parts_dir(directory: Path, job_id: int) -> Path:
    return directory / f"delivery-{job_id}.parts"


def _join(parts: list[Path], target: Path) -> None:
    """Join the parts into one PDF at ``target`` (written beside it, then renamed)."""
    writer = PdfWriter()
    for part in parts:
        writer.append(str(part))
    temporary = target.with_name(target.name + ".tmp")
    with temporary.open("wb") as out:
        writer.write(out)
    writer.close()
    os.replace(temporary, target)


def pdf_step(session: Any, job: Job, directory: Path) -> tuple[bool, int] | None:
    """Make the next part of the job's PDF: whether the PDF is now whole, and the job's new cursor.

    None if the letter is gone. The job's payload keeps where the list stands (``after``) and the
    pages and parts made so far; its cursor, how many of the listed signers after the notable ones
    the parts made hold.
    """
    doc = job_document(session, job)
    if doc is None:
        return None
    payload = dict(job.payload)
    parts_dir = _parts_dir(directory, job.id)
    parts_dir.mkdir(parents=True, exist_ok=True)
    part_number = int(payload["parts"])
    first_page = int(payload["pages"]) + 1
    total = int(payload["total"])
    cursor = job.cursor
    finished = False
    if part_number == 0:
        data, pages = _render_part(doc, "front", first_page=first_page)
    elif cursor < total:
        signers = delivery.others(
            session, doc.letter.id, until=doc.until, after=delivery.parse_position(payload["after"]), limit=CHUNK
        )
        start = len(doc.notable) + cursor + 1
        data, pages = _render_part(doc, "list", first_page=first_page, signers=signers, start=start)
        if signers:
            payload["after"] = delivery.position(signers[-1])
        # A signer hidden since the job began leaves the list short: it ends where the rows do.
        cursor = cursor + len(signers) if len(signers) == CHUNK else total
    else:
        data, pages = _render_part(doc, "end", first_page=first_page)
        finished = True
    _write_atomically(parts_dir / f"{part_number:05d}.pdf", data)
    if finished:
        _join(sorted(parts_dir.glob("*.pdf")), pdf_path(directory, job.id))
        shutil.rmtree(parts_dir, ignore_errors=True)
        prune(directory)
    payload["parts"] = part_number + 1
    payload["pages"] = first_page - 1 + pages
    job.payload = payload
    return finished, cursor


def prune(directory: Path, *, now: float | None = None) -> None:
    """Delete the PDFs older than KEEP_PDFS and the parts left by jobs that did not finish within KEEP_PARTS."""
    moment = time.time() if now is None else now
    for path in directory.glob("delivery-*"):
        try:
            age = moment - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if path.is_dir() and age > KEEP_PARTS.total_seconds():
            shutil.rmtree(path, ignore_errors=True)
        elif path.suffix == ".pdf" and age > KEEP_PDFS.total_seconds():
            path.unlink(missing_ok=True)


def progress(job: Job) -> dict[str, Any]:
    """How far a PDF job has got, as its page and its JSON say."""
    total = int(job.payload.get("total", 0))
    done = min(job.cursor, total)
    return {
        "status": str(job.status),
        "done": done,
        "total": total,
        "percent": 100 if job.status == "done" else (int(done * 100 / total) if total else 0),
        "pages": int(job.payload.get("pages", 0)),
        "error": job.status == "failed",
    }
