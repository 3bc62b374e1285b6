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


# Invisible characters that can make one name look like another. Bidi controls (embeddings,
# overrides, isolates) can also reorder what follows them on the page: they always go.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Zero-width space, non-joiner, joiner, word joiner and BOM have real uses (ZWJ in emoji sequences,
# ZWNJ in Persian and Indic words), so these go only where they join nothing: next to Latin or
# ASCII characters or spaces, or at either end.
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def _joins_nothing(char: str | None) -> bool:
    if char is None or char.isascii() or char.isspace():
        return True
    return unicodedata.name(char, "").startswith("LATIN ")


def _is_mark(char: str) -> bool:
    return unicodedata.category(char) in {"Mn", "Mc", "Me"}


def strip_invisible(text: str) -> str:
    """``text`` without bidi controls, and without zero-width characters where they join nothing."""
    chars = [char for char in text if char not in _BIDI_CONTROLS]
    visible = [i for i, char in enumerate(chars) if char not in _ZERO_WIDTH]
    kept: list[str] = []
    for i, char in enumerate(chars):
        if char in _ZERO_WIDTH:
            before = next((chars[j] for j in reversed(visible) if j < i and not _is_mark(chars[j])), None)
            after = next((chars[j] for j in visible if j > i), None)
            if _joins_nothing(before) or _joins_nothing(after):
                continue
        kept.append(char)
    return "".join(kept)


def clean_name(value: str | None) -> str | None:
    """A name as typed, NFC and trimmed, without invisible characters that could fake a duplicate."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip()
    return strip_invisible(text).strip()


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_HOST = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?P<tld>[a-z]{2,63})(?::[0-9]{1,5})?"
_WEB_ADDRESS = re.compile(rf"(?P<www>www\.)?{_HOST}(?P<path>/\S*)?", re.IGNORECASE)
# Top-level domains common enough that "name.tld" alone is a web address rather than a name.
_COMMON_TLDS = {
    "com", "org", "net", "edu", "gov", "info", "biz", "io", "co", "app", "dev", "xyz", "me", "ai", "tv",
    "ly", "uk", "de", "fr", "es", "it", "nl", "eu", "us", "ca", "au", "ch", "se", "no", "dk", "fi", "pl",
    "ru", "cn", "jp", "kr", "in", "br", "mx", "ar", "za", "nz", "be", "at", "pt", "ie",
}  # fmt: skip


def looks_like_url(text: str) -> bool:
    """Whether ``text`` holds a web address ("http://…", "www.example.com", "example.com/path")."""
    if _SCHEME.search(text):
        return True
    for word in text.split():
        match = _WEB_ADDRESS.fullmatch(word.strip("()[]<>{}\"'“”‘’«»,;!?."))
        if not match:
            continue
        # "example.org" is an address; "Mr.De" or "J.Smith" is someone writing their name without a space.
        tld = match["tld"]
        if match["www"] or match["path"] or ((tld.islower() or tld.isupper()) and tld.lower() in _COMMON_TLDS):
            return True
    return False


# What spreadsheets read as the start of a formula (ASCII, and the full-width forms some also accept).
# The exports' SQL writes the same guard from this tuple (see services.queries.export).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Every start is one character: a set lookup of the first one is all the check needs.
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
assert all(len(start) == 1 for start in FORMULA_STARTS)


def formula_safe(value: str | None) -> str:
    """A text cell for a spreadsheet: empty for None, a leading apostrophe when it would run as a formula."""
    if not value:
        return ""
    return "'" + value if value[0] in _FORMULA_FIRST else value


def name_key(name: str) -> str:
    """A name reduced for comparison: casefolded, accents and punctuation removed, spaces collapsed.

    "Elon  Musk", "elon musk" and "Élon Musk." share a key. (Migration 3b05f134c923 holds a copy.)
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(kept.split())


def mask_address(address: str) -> str:
    """An address with most of its local part hidden (``ki***@example.org``), to show its owner what they typed.

    Enough to spot a typo in the domain or the start of the name, too little to read the address
    back from a shoulder or a screenshot.
    """
    local, _, domain = address.rpartition("@")
    shown = 1 if len(local) <= 3 else 2
    return f"{local[:shown]}***@{domain}"
