"""Letters: loading them from Markdown files, finding them, opening and closing signing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Letter
from app.services.errors import LetterNotFound
from app.text import clean_line, render_markdown

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
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
    lang: str = "en"
    published_at: datetime | None = None
    closes_at: datetime | None = None
    goal: int | None = None


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


def _summary_from(markdown: str) -> str:
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
    return LetterSource(
        title=title[:300],
        body_markdown=body,
        slug=str(slug) if slug is not None else None,
        summary=clean_line(str(meta.get("summary") or "")) or _summary_from(body),
        lang=str(meta.get("lang") or "en"),
        published_at=_as_datetime(meta.get("published"), "published"),
        closes_at=_as_datetime(meta.get("closes"), "closes"),
        goal=goal,
    )


def load_letter(
    session: Session, source: LetterSource, *, now: datetime, slug: str | None = None, featured: bool = False
) -> tuple[Letter, bool]:
    """Create or update the letter with this slug; return it and whether it was created."""
    slug = slug or source.slug or slugify(source.title)
    if not SLUG_PATTERN.match(slug):
        raise LetterFileError(f"slug {slug!r} must be lowercase letters, digits and dashes (at most 80)")
    letter = session.scalar(select(Letter).where(Letter.slug == slug))
    created = letter is None
    if letter is None:
        letter = Letter(slug=slug, created_at=now, signature_count=0)
        session.add(letter)
    letter.title = source.title
    letter.summary = source.summary[:500]
    letter.body_markdown = source.body_markdown
    letter.body_html = render_markdown(source.body_markdown)
    letter.lang = source.lang
    letter.published_at = source.published_at or letter.published_at or now
    letter.closes_at = source.closes_at
    letter.goal = source.goal
    letter.updated_at = now
    session.flush()
    if featured or session.scalar(select(Letter.id).where(Letter.featured)) is None:
        feature_letter(session, letter)
    return letter, created


def feature_letter(session: Session, letter: Letter) -> None:
    """Make ``letter`` the one shown at /, and no other."""
    session.execute(update(Letter).where(Letter.id != letter.id, Letter.featured).values(featured=False))
    letter.featured = True
    session.flush()


def find_letter(session: Session, slug: str) -> Letter | None:
    """The letter with this slug, if there is one."""
    if not SLUG_PATTERN.match(slug):
        return None  # never send arbitrary bytes (a NUL, say) to the database
    return session.scalar(select(Letter).where(Letter.slug == slug))


def get_letter(session: Session, slug: str) -> Letter:
    """The letter with this slug, or LetterNotFound."""
    letter = find_letter(session, slug)
    if letter is None:
        raise LetterNotFound()
    return letter


def featured_letter(session: Session) -> Letter | None:
    """The featured letter, else the newest one, else None."""
    return session.scalar(select(Letter).order_by(Letter.featured.desc(), Letter.published_at.desc()).limit(1))


def all_letters(session: Session) -> list[Letter]:
    """Every letter, newest first."""
    return list(session.scalars(select(Letter).order_by(Letter.published_at.desc(), Letter.id.desc())))


def close_letter(session: Session, letter: Letter, *, now: datetime) -> None:
    """Stop taking signatures now; the count and list become final."""
    letter.closed_at = now
    letter.updated_at = now
    session.flush()


def reopen_letter(session: Session, letter: Letter, *, now: datetime) -> None:
    """Take signatures again (clears a manual close and a past closing date)."""
    letter.closed_at = None
    if letter.closes_at is not None and letter.closes_at <= now:
        letter.closes_at = None
    letter.updated_at = now
    session.flush()


def edit_letter(
    session: Session, letter: Letter, *, title: str, body_markdown: str, moderation_mode: str, now: datetime
) -> None:
    """Change a letter's title, text and moderation mode (from the moderators' pages)."""
    if moderation_mode not in ("post", "pre"):
        raise LetterFileError("moderation mode must be 'post' or 'pre'")
    letter.title = clean_line(title)
    letter.body_markdown = body_markdown
    letter.body_html = render_markdown(body_markdown)
    letter.summary = _summary_from(body_markdown)
    letter.moderation_mode = moderation_mode
    letter.updated_at = now
    session.flush()
