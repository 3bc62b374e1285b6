"""Letters written and edited on the web: what the admins' form holds, stored in one call.

The form sets what a letter file sets (``app.services.letters`` reads and writes those files),
through the same functions, so a letter made on the web and one loaded from a file are alike
and ``letter dump`` writes either back as a file.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from app.models import Letter, LetterTranslation
from app.services import letters, versions
from app.services.letters import LetterFileError, LetterSource
from app.text import clean_line, render_markdown


class SlugTaken(LetterFileError):
    """Another letter (or draft) has this slug already."""


@dataclass(frozen=True)
class Text:
    """A title, a summary (empty: made from the first paragraph) and a Markdown statement."""

    title: str
    summary: str
    body_markdown: str

    @property
    def empty(self) -> bool:
        """Whether nothing was written (a language without a translation)."""
        return not (self.title.strip() or self.summary.strip() or self.body_markdown.strip())


@dataclass(frozen=True)
class LetterValues:
    """Everything the form sets on a letter."""

    text: Text
    goal: int | None
    opens: datetime | None
    closes: datetime | None
    featured: bool
    moderation_mode: str
    # The translations the form held, by language: an empty text removes that language's translation.
    translations: Mapping[str, Text]
    # Privacy after the letter ends (app.services.after_close). noindex_signers None: as "sensitive" says.
    sensitive: bool = False
    noindex_signers: bool | None = False
    hide_names_after_close: bool = False
    personal_data_until: date | None = None
    remind_before_close: bool = False


def normalise_markdown(text: str) -> str:
    """A statement as stored: a browser's CR LF line ends as LF, no blank lines around it, no NUL or other controls."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(char for char in text if char in "\n\t" or unicodedata.category(char) != "Cc").strip()


def preview_html(markdown: str) -> str:
    """The statement as the letter page shows it: rendered and sanitised by the same function."""
    return render_markdown(normalise_markdown(markdown))


def slug_taken(session: Session, slug: str) -> bool:
    """Whether a letter or a draft has this slug."""
    return letters.find_letter(session, slug, drafts=True) is not None


def _source(text: Text, values: LetterValues, *, lang: str, draft: bool | None) -> LetterSource:
    body = normalise_markdown(text.body_markdown)
    title = clean_line(text.title)[:300]
    return LetterSource(
        title=title,
        body_markdown=body,
        summary=clean_line(text.summary) or letters.summary_from(body),
        lang=lang,
        published_at=values.opens,
        closes_at=values.closes,
        goal=values.goal,
        featured=values.featured,
        moderation_mode=values.moderation_mode,
        draft=draft,
        sensitive=values.sensitive,
        noindex_signers=values.noindex_signers,
        hide_names_after_close=values.hide_names_after_close,
        personal_data_until=values.personal_data_until,
        remind_before_close=values.remind_before_close,
    )


def create_letter(session: Session, values: LetterValues, *, slug: str, lang: str, now: datetime) -> Letter:
    """A new letter, as a draft, with its translations; SlugTaken if the slug is someone else's."""
    if slug_taken(session, slug):
        raise SlugTaken(f"slug {slug!r} is taken")
    letter, _created = letters.load_letter(
        session, _source(values.text, values, lang=lang, draft=True), now=now, slug=slug, lang=lang
    )
    save_translations(session, letter, values, now=now)
    return letter


def rename_draft(session: Session, letter: Letter, slug: str, *, now: datetime) -> None:
    """Give a draft another address (a published letter keeps its own: people have its links)."""
    if not letter.draft:
        raise LetterFileError("only a draft can change its address")
    if slug_taken(session, slug):
        raise SlugTaken(f"slug {slug!r} is taken")
    letter.slug = slug
    letter.updated_at = now
    session.flush()


def save_letter(
    session: Session, letter: Letter, values: LetterValues, *, now: datetime, material: bool = False, note: str = ""
) -> int | None:
    """Store the form on an existing letter; the number of the version a changed text made, else None.

    A published letter's changed text is its next version (``material`` mails the signers who
    asked); a draft's is rewritten in place. LetterFileError for a material change of nothing.
    """
    before = letter.current_version
    source = _source(values.text, values, lang=letter.lang, draft=None)
    changed = versions.text_differs(
        letter, title=source.title, summary=source.summary[:500], body_markdown=source.body_markdown
    )
    letters.load_letter(session, source, now=now, slug=letter.slug, lang=letter.lang, material=material, note=note)
    save_translations(session, letter, values, now=now)
    return letter.current_version if changed and letter.current_version != before else None


def save_translations(session: Session, letter: Letter, values: LetterValues, *, now: datetime) -> None:
    """Create, change or remove the letter's translations as the form holds them.

    A translation whose text did not change keeps the version it was made for, so the page goes
    on saying that it lags behind the letter until someone updates it.
    """
    existing = {t.lang: t for t in letter.translations}
    for lang, text in values.translations.items():
        if lang == letter.lang:
            continue
        current = existing.get(lang)
        if text.empty:
            if current is not None:
                _remove(session, letter, current)
            continue
        source = _source(text, values, lang=lang, draft=None)
        if current is not None and (current.title, current.summary, current.body_markdown) == (
            source.title,
            source.summary[:500],
            source.body_markdown,
        ):
            continue
        letters.load_translation(session, letter, source, lang=lang, now=now)


def _remove(session: Session, letter: Letter, translation: LetterTranslation) -> None:
    letter.translations.remove(translation)
    session.flush()
