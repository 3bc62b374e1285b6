"""Cleaning people's text and rendering organisers' Markdown safely."""

from __future__ import annotations

import re
import unicodedata

import nh3
from markdown_it import MarkdownIt

# What a letter's Markdown may produce: text structure and links, no images (which would
# make every visitor's browser call a third party), no scripts, styles or event handlers.
LETTER_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h2", "h3", "h4", "hr", "i", "li",
    "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
}  # fmt: skip
LETTER_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}, "th": {"scope"}}
LETTER_URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False, "typographer": True}).enable(["table", "strikethrough"])


def render_markdown(source: str) -> str:
    """Render Markdown to HTML that is safe to show as it is."""
    html = _markdown.render(source)
    return nh3.clean(
        html,
        tags=LETTER_TAGS,
        attributes=LETTER_ATTRIBUTES,
        url_schemes=LETTER_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


class UnsafeText(ValueError):
    """Text that cannot be stored as it is (it holds line breaks or control characters)."""


def clean_line(value: str | None) -> str:
    """One line of text: NFC, trimmed; inner control characters (newline, NUL, ...) refused."""
    text = unicodedata.normalize("NFC", value or "").strip()
    if any(_is_control(char) for char in text):
        raise UnsafeText("must be a single line without control characters")
    return text


_BLANK_LINES = re.compile(r"\n{3,}")


def clean_paragraphs(value: str | None) -> str:
    """Free text: NFC, trimmed, line breaks kept (at most one blank line), other controls dropped."""
    text = unicodedata.normalize("NFC", value or "").replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(char for char in text if char == "\n" or not _is_control(char))
    return _BLANK_LINES.sub("\n\n", text).strip()


def name_key(name: str) -> str:
    """A name reduced for comparison: casefolded, accents and punctuation removed, spaces collapsed.

    "Elon  Musk", "elon musk" and "Élon Musk." share a key. (Migration 3b05f134c923 holds a copy.)
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(kept.split())
