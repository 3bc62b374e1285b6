"""Letters: loading them from Markdown files, finding them, opening and closing signing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import yaml
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from app import log
from app.errors import LetterNotFound
from app.models import Letter, LetterText, LetterTranslation, LogEvent, Signature, SignatureStatus
from app.services import after_close, versions
from app.text import clean_line, render_markdown

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
# A language tag as letters use it: "en", "ko", "pt-br" (BCP 47 language and optional region).
LANG_PATTERN = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})?$")
DEFAULT_LANG = "en"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


class LetterFileError(ValueError):
    """A letter file that cannot be loaded, with the reason."""


@dataclass(frozen=True)
class LetterSource:
    """What a letter file says: front matter fields and the Markdown body."""

    title: str
    body_markdown: str
    slug: str | None = None
    summary: str = ""
    lang: str | None = None
    published_at: datetime | None = None
    closes_at: datetime | None = None
    goal: int | None = None
    # None: the file does not say, and a letter already stored keeps what it has.
    featured: bool | None = None
    moderation_mode: str | None = None
    draft: bool | None = None
    # Privacy after the letter ends (see app.services.after_close); None: unsaid, the letter keeps its own.
    sensitive: bool | None = None
    noindex_signers: bool | None = None
    hide_names_after_close: bool | None = None
    # The day after which the signers' personal data is erased (None: kept, like the closing date).
    personal_data_until: date | None = None
    # Reminders before closing (app.services.reminders); None: unsaid.
    remind_before_close: bool | None = None


MODERATION_MODES = ("post", "pre")


class LetterHasSigners(LetterFileError):
    """A letter someone has signed cannot go back to being a draft."""


@dataclass(frozen=True)
class LoadResult:
    """What loading a file did: the letter, whether it is new, and the translation's language if it was one."""

    letter: Letter
    created: bool
    translation: str | None = None
    # The version the load made, if it changed the letter's own text (1 for a new letter).
    version: int | None = None


def normalise_lang(value: str) -> str:
    """A language tag in lower case with a dash ("pt_BR" -> "pt-br"), or LetterFileError."""
    lang = value.strip().replace("_", "-").lower()
    if not LANG_PATTERN.match(lang):
        raise LetterFileError(f"language {value!r} must be a tag like 'en', 'ko' or 'pt-br'")
    return lang


def slugify(title: str) -> str:
    """A URL slug from a title (ASCII letters and digits; empty when there are none)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:80].strip("-")


def _as_datetime(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _as_datetime(datetime.fromisoformat(value), field)
        except ValueError:
            pass
    raise LetterFileError(f"'{field}' must be a date like 2026-01-31 or 2026-01-31T12:00:00Z")


def summary_from(markdown: str) -> str:
    """A summary made from the first paragraph of the text, without its markup (at most 300 characters)."""
    for block in re.split(r"\n\s*\n", markdown):
        text = re.sub(r"[#>*_`\[\]]", "", block).strip()
        if text:
            text = " ".join(text.split())
            return text if len(text) <= 300 else text[:297].rsplit(" ", 1)[0] + "…"
    return ""


def parse_letter_file(text: str) -> LetterSource:
    """Read YAML front matter (title required) and the Markdown body of a letter file."""
    match = _FRONT_MATTER.match(text)
    if not match:
        raise LetterFileError("the file must start with YAML front matter between '---' lines, with a title")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise LetterFileError(f"the front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise LetterFileError("the front matter must be a mapping of fields")
    body = text[match.end() :].strip()
    title = clean_line(str(meta.get("title") or ""))
    if not title:
        raise LetterFileError("the front matter needs a 'title'")
    if not body:
        raise LetterFileError("the letter has no text after the front matter")
    goal = meta.get("goal")
    if goal is not None and (not isinstance(goal, int) or isinstance(goal, bool) or goal < 1):
        raise LetterFileError("'goal' must be a positive whole number")
    slug = meta.get("slug")
    for flag in ("featured", "draft", *LETTER_FLAGS):
        if meta.get(flag) is not None and not isinstance(meta[flag], bool):
            raise LetterFileError(f"'{flag}' must be true or false")
    moderation = meta.get("moderation")
    if moderation is not None and moderation not in MODERATION_MODES:
        raise LetterFileError("'moderation' must be 'post' (show signatures at once) or 'pre' (after approval)")
    closes_at = _as_datetime(meta.get("closes"), "closes")
    personal_data_until = _as_date(meta.get("personal_data_until"), "personal_data_until")
    check_retention(personal_data_until, closes_at)
    return LetterSource(
        title=title[:300],
        body_markdown=body,
        slug=str(slug) if slug is not None else None,
        summary=clean_line(str(meta.get("summary") or "")) or summary_from(body),
        lang=normalise_lang(str(meta["lang"])) if meta.get("lang") else None,
        published_at=_as_datetime(meta.get("published"), "published"),
        closes_at=closes_at,
        goal=goal,
        featured=meta.get("featured"),
        moderation_mode=moderation,
        draft=meta.get("draft"),
        sensitive=meta.get("sensitive"),
        noindex_signers=meta.get("noindex_signers"),
        hide_names_after_close=meta.get("hide_names_after_close"),
        personal_data_until=personal_data_until,
        remind_before_close=meta.get("remind_before_close"),
    )


# The front matter's privacy settings (true or false), as the Letter's columns are named.
PRIVACY_FLAGS = ("sensitive", "noindex_signers", "hide_names_after_close")
# Every true-or-false setting of the front matter stored under its own name on the Letter.
LETTER_FLAGS = (*PRIVACY_FLAGS, "remind_before_close")


def _as_date(value: object, field: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise LetterFileError(f"'{field}' must be a day like 2027-06-30")


def check_retention(until: date | None, closes_at: datetime | None) -> None:
    """A retention date cannot come before the closing day: the data of people still signing would go."""
    if until is not None and closes_at is not None and until < closes_at.astimezone(UTC).date():
        raise LetterFileError("'personal_data_until' must be on or after the closing day ('closes')")


def _front_matter_line(key: str, value: object) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        if value.time() == time.min:
            return f"{key}: {value.date().isoformat()}"
        return f"{key}: {value.replace(microsecond=0).isoformat().replace('+00:00', 'Z')}"
    return str(yaml.safe_dump({key: value}, allow_unicode=True, width=1_000_000, sort_keys=False)).strip()


def dump_letter_file(letter: Letter, lang: str | None = None) -> str:
    """The letter (or its translation in ``lang``) as the file ``load_file`` reads back to the same letter.

    The letter's own file carries every field its front matter can set; a translation's carries
    its title, summary and language (dates, goal and the rest are the letter's).
    """
    fields: dict[str, object]
    if lang is None or lang == letter.lang:
        fields = {
            "title": letter.title,
            "slug": letter.slug,
            "summary": letter.summary,
            "lang": letter.lang,
            "published": letter.published_at,
        }
        if letter.closes_at is not None:
            fields["closes"] = letter.closes_at
        if letter.goal is not None:
            fields["goal"] = letter.goal
        fields["featured"] = letter.featured
        fields["moderation"] = letter.moderation_mode
        if letter.draft:
            fields["draft"] = True
        for flag in LETTER_FLAGS:
            if getattr(letter, flag):
                fields[flag] = True
        if letter.personal_data_until is not None:
            fields["personal_data_until"] = letter.personal_data_until.isoformat()
        body = letter.body_markdown
    else:
        translation = next((t for t in letter.translations if t.lang == lang), None)
        if translation is None:
            raise LetterFileError(f"'{letter.slug}' has no '{lang}' translation")
        fields = {"title": translation.title, "slug": letter.slug, "summary": translation.summary, "lang": lang}
        body = translation.body_markdown
    front = "\n".join(_front_matter_line(key, value) for key, value in fields.items())
    return f"---\n{front}\n---\n{body.strip()}\n"


def load_file(
    session: Session,
    source: LetterSource,
    *,
    now: datetime,
    slug: str | None = None,
    lang: str | None = None,
    featured: bool = False,
    material: bool = False,
    note: str = "",
) -> LoadResult:
    """Load a letter file: a new letter, an update of one, or a translation of one.

    A file for an existing slug in a language other than the letter's own becomes (or updates)
    that letter's translation: its title, summary and text only; dates, goal and signatures stay
    the letter's. ``lang`` (the CLI's --lang) wins over the front matter's ``lang:``. A change
    of the letter's own text makes a new version (see app.services.versions), ``material`` and
    described by ``note`` if so asked.
    """
    lang = normalise_lang(lang) if lang else source.lang
    slug = _slug_for(source, slug)
    existing = session.scalar(select(Letter).where(Letter.slug == slug))
    if existing is not None and lang is not None and lang != existing.lang:
        # A translation has no versions of its own: ``material`` is about the letter's own text.
        translation, created = load_translation(session, existing, source, lang=lang, now=now)
        if featured:
            feature_letter(session, existing)
        return LoadResult(existing, created, translation.lang)
    before = existing.current_version if existing is not None else 0
    letter, created = load_letter(
        session, source, now=now, slug=slug, featured=featured, lang=lang, material=material, note=note
    )
    return LoadResult(letter, created, version=letter.current_version if letter.current_version != before else None)


def _slug_for(source: LetterSource, slug: str | None) -> str:
    slug = slug or source.slug or slugify(source.title)
    if not slug:
        raise LetterFileError("the title gives no slug (it has no ASCII letters or digits): set one with --slug")
    if not SLUG_PATTERN.match(slug):
        raise LetterFileError(f"slug {slug!r} must be lowercase letters, digits and dashes (at most 80)")
    return slug


def load_translation(
    session: Session, letter: Letter, source: LetterSource, *, lang: str, now: datetime
) -> tuple[LetterTranslation, bool]:
    """Create or update ``letter``'s text in ``lang``; return it and whether it was created."""
    translation = session.scalar(
        select(LetterTranslation).where(LetterTranslation.letter_id == letter.id, LetterTranslation.lang == lang)
    )
    created = translation is None
    if translation is None:
        translation = LetterTranslation(letter=letter, lang=lang, created_at=now)
        session.add(translation)
    translation.title = source.title
    translation.summary = source.summary[:500]
    translation.body_markdown = source.body_markdown
    translation.body_html = render_markdown(source.body_markdown)
    translation.letter_version = letter.current_version
    translation.updated_at = now
    letter.updated_at = now
    session.flush()
    return translation, created


def load_letter(
    session: Session,
    source: LetterSource,
    *,
    now: datetime,
    slug: str | None = None,
    featured: bool = False,
    lang: str | None = None,
    material: bool = False,
    note: str = "",
) -> tuple[Letter, bool]:
    """Create or update the letter with this slug; return it and whether it was created.

    A new letter gets version 1; an update whose text differs gets the next version.
    """
    slug = _slug_for(source, slug)
    letter = session.scalar(select(Letter).where(Letter.slug == slug))
    created = letter is None
    summary = source.summary[:500]
    changed = letter is None or versions.text_differs(
        letter, title=source.title, summary=summary, body_markdown=source.body_markdown
    )
    if material and not changed:
        raise LetterFileError("the text is the same as the current version's: there is no change to announce")
    if letter is None:
        letter = Letter(slug=slug, created_at=now, signature_count=0, current_version=0)
        session.add(letter)
    letter.title = source.title
    letter.summary = summary
    letter.body_markdown = source.body_markdown
    letter.body_html = render_markdown(source.body_markdown)
    letter.lang = lang or source.lang or letter.lang or DEFAULT_LANG
    letter.published_at = source.published_at or letter.published_at or now
    letter.closes_at = source.closes_at
    letter.goal = source.goal
    if source.moderation_mode is not None:
        letter.moderation_mode = source.moderation_mode
    _set_privacy(letter, source)
    if created:
        letter.draft = bool(source.draft)
    elif source.draft is not None and source.draft != letter.draft:
        if source.draft:
            to_draft(session, letter, now=now)
        else:
            publish_letter(session, letter, now=now)
    letter.updated_at = now
    session.flush()
    if changed and letter.draft and not created:
        if material:
            raise LetterFileError("a draft has no signers to tell: publish it before announcing a material change")
        versions.rewrite_draft_version(session, letter)
    elif changed:
        try:
            versions.record_version(session, letter, now=now, material=material, note=note)
        except versions.MaterialChangeError as exc:
            raise LetterFileError(str(exc)) from None
    # A file that does not say is featured when no letter is; the web form always says.
    unsaid = source.featured is None and session.scalar(select(Letter.id).where(Letter.featured)) is None
    if featured or source.featured or unsaid:
        feature_letter(session, letter)
    elif source.featured is False and letter.featured:
        letter.featured = False
    after_close.sync_names(session, letter, now=now)
    return letter, created


def _set_privacy(letter: Letter, source: LetterSource) -> None:
    """The privacy settings the source says; turning "sensitive" on turns "noindex" on unless it says otherwise."""
    if source.sensitive and not letter.sensitive and source.noindex_signers is None:
        letter.noindex_signers = True
    for flag in LETTER_FLAGS:
        said = getattr(source, flag)
        if said is not None:
            setattr(letter, flag, said)
    letter.personal_data_until = source.personal_data_until


def feature_letter(session: Session, letter: Letter) -> None:
    """Make ``letter`` the one shown at /, and no other."""
    session.execute(update(Letter).where(Letter.id != letter.id, Letter.featured).values(featured=False))
    letter.featured = True
    session.flush()


def find_letter(session: Session, slug: str, *, drafts: bool = False) -> Letter | None:
    """The letter with this slug, if there is one (a draft only if ``drafts``: the public never sees them)."""
    if not SLUG_PATTERN.match(slug):
        return None  # never send arbitrary bytes (a NUL, say) to the database
    letter = session.scalar(_BY_SLUG, {"slug": slug})
    if letter is not None and letter.draft and not drafts:
        return None
    return letter


# The hottest query of the site, built once.
_BY_SLUG = select(Letter).where(Letter.slug == bindparam("slug"))


def get_letter(session: Session, slug: str, *, drafts: bool = False) -> Letter:
    """The letter with this slug, or LetterNotFound (for a draft too, unless ``drafts``)."""
    letter = find_letter(session, slug, drafts=drafts)
    if letter is None:
        raise LetterNotFound()
    return letter


def featured_letter(session: Session) -> Letter | None:
    """The featured published letter, else the newest one, else None."""
    return session.scalar(
        select(Letter)
        .where(Letter.draft.is_(False))
        .order_by(Letter.featured.desc(), Letter.published_at.desc())
        .limit(1)
    )


def all_letters(session: Session, *, drafts: bool = False) -> list[Letter]:
    """Every published letter (and the drafts if ``drafts``), newest first."""
    query = select(Letter).order_by(Letter.published_at.desc(), Letter.id.desc())
    if not drafts:
        query = query.where(Letter.draft.is_(False))
    return list(session.scalars(query))


def close_letter(session: Session, letter: Letter, *, now: datetime) -> None:
    """Stop taking signatures now; the count and list become final."""
    letter.closed_at = now
    letter.updated_at = now
    session.flush()
    after_close.sync_names(session, letter, now=now)


def reopen_letter(session: Session, letter: Letter, *, now: datetime) -> None:
    """Take signatures again (clears a manual close and a past closing date)."""
    letter.closed_at = None
    if letter.closes_at is not None and letter.closes_at <= now:
        letter.closes_at = None
    letter.updated_at = now
    session.flush()
    after_close.sync_names(session, letter, now=now)


def has_signatures(session: Session, letter: Letter) -> bool:
    """Whether anyone has signed the letter (in any state: confirmed, waiting, even withdrawn)."""
    return session.scalar(select(Signature.id).where(Signature.letter_id == letter.id).limit(1)) is not None


def publish_letter(session: Session, letter: Letter, *, now: datetime) -> None:
    """Make a draft public; an opening date already past becomes now (the day it really opened).

    A private letter's signatures (its founders, see app.services.invitations) enter the public
    log now, in this transaction: the events written while it was a draft were never sequenced,
    and are replaced by an ``add`` for each counted signature, dated now.
    """
    letter.draft = False
    letter.opens_at = None
    if letter.published_at <= now:
        letter.published_at = now
        versions.redate_first_version(session, letter)
    letter.updated_at = now
    session.flush()
    if log.enabled(session):
        session.execute(
            delete(LogEvent)
            .where(LogEvent.letter_id == letter.id, LogEvent.leaf_index.is_(None))
            .execution_options(synchronize_session=False)
        )
        counted = session.scalars(
            select(Signature)
            .where(Signature.letter_id == letter.id, Signature.status == SignatureStatus.CONFIRMED)
            .order_by(Signature.confirmed_at, Signature.id)
        )
        for signature in counted:
            log.record(session, signature, "add", now=now)


def to_draft(session: Session, letter: Letter, *, now: datetime) -> None:
    """Take a letter nobody has signed back to a draft, seen by moderators only."""
    if has_signatures(session, letter):
        raise LetterHasSigners("someone has signed this letter: it cannot go back to being a draft")
    letter.draft = True
    letter.updated_at = now
    session.flush()


def letter_languages(letter: Letter) -> list[str]:
    """The languages the letter can be read in: its own first, then its translations."""
    return [letter.lang, *(t.lang for t in letter.translations if t.lang != letter.lang)]


def letter_text(letter: Letter, lang: str) -> LetterText:
    """The letter in ``lang`` if it has that translation (or one in the same language), else its own text."""
    return letter.text_in(lang)


def edit_letter(
    session: Session,
    letter: Letter,
    *,
    title: str,
    body_markdown: str,
    moderation_mode: str,
    now: datetime,
    material: bool = False,
    note: str = "",
) -> int | None:
    """Change a letter's title, text and moderation mode (from the moderators' pages).

    A change of the text makes a new version, ``material`` and described by ``note`` if so
    marked; returns its number, or None when the text stayed the same.
    """
    if moderation_mode not in ("post", "pre"):
        raise LetterFileError("moderation mode must be 'post' or 'pre'")
    title = clean_line(title)
    # A browser sends a textarea's lines ending in CR LF: the same text must not look changed.
    body_markdown = body_markdown.replace("\r\n", "\n").replace("\r", "\n").strip()
    # The summary follows the text; one from the letter's file stays while the text does.
    summary = letter.summary if body_markdown == letter.body_markdown else summary_from(body_markdown)
    changed = versions.text_differs(letter, title=title, summary=summary, body_markdown=body_markdown)
    if material and not changed:
        raise LetterFileError("the text is the same as the current version's: there is no change to announce")
    letter.title = title
    letter.body_markdown = body_markdown
    letter.body_html = render_markdown(body_markdown)
    letter.summary = summary
    letter.moderation_mode = moderation_mode
    letter.updated_at = now
    session.flush()
    if not changed:
        return None
    try:
        return versions.record_version(session, letter, now=now, material=material, note=note).number
    except versions.MaterialChangeError as exc:
        raise LetterFileError(str(exc)) from None
