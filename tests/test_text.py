"""Cleaning what people type, and rendering organisers' Markdown safely."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.text import (
    UnsafeText,
    clean_line,
    clean_name,
    clean_paragraphs,
    formula_safe,
    looks_like_url,
    render_markdown,
    strip_invisible,
)


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "[x](JaVaScRiPt:alert(1))",
        '<div onclick="alert(1)">x</div>',
        "<iframe src='https://evil.example'></iframe>",
        "![img](https://tracker.example/pixel.png)",
    ],
)
def test_markdown_cannot_carry_scripts_handlers_or_script_links(markdown: str) -> None:
    html = render_markdown(markdown).lower()
    # Raw HTML may survive only as escaped text; no live tag, handler or script link.
    assert not re.search(r"<(script|img|iframe)\b", html)
    assert not re.search(r"<[^>]*\son\w+\s*=", html)
    assert not re.search(r"<a\s[^>]*href=\"javascript", html)


def test_markdown_keeps_structure_and_safe_links() -> None:
    html = render_markdown("# Title\n\nWe **ask**:\n\n1. one\n2. two\n\n[site](https://example.org)")
    assert "<strong>ask</strong>" in html
    assert "<ol>" in html and "<li>one</li>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">site</a>' in html


def test_clean_line_normalises_and_trims() -> None:
    decomposed = "Cafe\u0301"  # e + combining acute
    assert clean_line(f"  {decomposed}  ") == "Café"
    assert clean_line("  김민지 ") == "김민지"


@pytest.mark.parametrize("value", ["Ada\nBcc: x@example.org", "Ada\x00", "Ada\rX", "A\x1bB"])
def test_clean_line_refuses_control_characters(value: str) -> None:
    with pytest.raises(UnsafeText):
        clean_line(value)


def test_clean_paragraphs_keeps_line_breaks_and_drops_other_controls() -> None:
    assert clean_paragraphs(" one\r\n\r\n\r\n\r\ntwo\x00\x07 ") == "one\n\ntwo"


ZWSP, ZWNJ, ZWJ, WORD_JOINER, BOM = "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize(
    "name",
    [
        "محمد عبد الله",  # Arabic, right to left
        "דוד בן־גוריון",  # Hebrew with a maqaf
        "김민지",  # Korean
        "山田 太郎",
        "Đặng Thị Hồng",  # Vietnamese: stacked diacritics
        "Zoë O’Brien-Łukasiewicz",
        "Ada 👩\u200d🔬 Lovelace",  # ZWJ inside an emoji sequence (woman scientist)
        "🏳️\u200d🌈 Kim",  # ZWJ after a variation selector (rainbow flag)
        "👍🏽 Sam",  # skin tone modifier
        "می\u200cخواهم",  # Persian: ZWNJ between letters
        "क्\u200dष",  # Devanagari: ZWJ after a virama
        "ශ්\u200dරී",  # Sinhala: ZWJ conjunct
        "n\u0308o\u0323",  # combining marks with no precomposed form
    ],
)
def test_names_survive_exactly_as_typed(name: str) -> None:
    expected = unicodedata.normalize("NFC", name)
    assert clean_name(f"  {name} ") == expected
    assert strip_invisible(expected) == expected


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        (f"Ad{ZWSP}a Lovelace", "Ada Lovelace"),
        (f"Ada{ZWNJ}{ZWJ} Love{WORD_JOINER}lace", "Ada Lovelace"),
        (f"{BOM}Ada{ZWSP}", "Ada"),  # at either end there is nothing to join
        (f"{ZWSP} Ada Lovelace {ZWJ}", "Ada Lovelace"),
        (f"Ada{ZWJ}👩", "Ada👩"),  # next to a Latin letter it joins nothing
        (f"Łu{ZWSP}kasz", "Łukasz"),
        ("Ada \u202eecalevoL\u202c", "Ada ecalevoL"),  # a right-to-left override
        ("\u2067محمد\u2069 Ali", "محمد Ali"),  # an isolate, even around right-to-left text
        (f"Ada{BIDI_CONTROLS}", "Ada"),
    ],
)
def test_invisible_characters_that_fake_a_duplicate_are_removed(typed: str, shown: str) -> None:
    assert clean_name(typed) == shown


def test_clean_name_passes_a_missing_value_through() -> None:
    assert clean_name(None) is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_strip_invisible_never_leaves_bidi_controls_and_is_stable(text: str) -> None:
    once = strip_invisible(text)
    assert not set(once) & set(BIDI_CONTROLS)
    assert strip_invisible(once) == once
    assert set(once) <= set(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_characters=BIDI_CONTROLS + ZWSP + ZWNJ + ZWJ + WORD_JOINER + BOM)))
def test_text_without_invisible_characters_is_only_normalised_and_trimmed(text: str) -> None:
    assert clean_name(text) == unicodedata.normalize("NFC", text).strip()


@pytest.mark.parametrize(
    "name",
    [
        "http://spam.example",
        "HTTPS://SPAM.EXAMPLE/buy",
        "Visit https://spam.example now",
        "ftp://files.example",
        "www.example.com",
        "WWW.EXAMPLE.COM",
        "example.com/path",
        "example.org",
        "spam.example.co.uk",
        "example.de:8080/x",
        "Ada (ada.dev)",
        "Ada Lovelace example.com/ada",
    ],
)
def test_web_addresses_are_recognised(name: str) -> None:
    assert looks_like_url(name)


@pytest.mark.parametrize(
    "name",
    [
        "Dr. J. Smith",
        "St. John",
        "A.I. Lab",
        "J.R.R. Tolkien",
        "e.e. cummings",
        "J.Smith",
        "Mr.De Vries",
        "Ada Lovelace, Ph.D.",
        "Dr.rer.nat. Jana Nowak",
        "O'Brien: the 3rd",
        "محمد.علي",
    ],
)
def test_names_with_dots_are_not_web_addresses(name: str) -> None:
    assert not looks_like_url(name)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ("＝1+1", "'＝1+1"),  # a full-width equals sign
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
    ],
)
def test_formula_safe_defuses_formulas(value: str, cell: str) -> None:
    assert formula_safe(value) == cell


@pytest.mark.parametrize("value", ["Ada Lovelace", "", "a=b", "1+1", "'quoted", " =1", "김민지", "محمد"])
def test_formula_safe_leaves_other_text_alone(value: str) -> None:
    assert formula_safe(value) == value


def test_formula_safe_writes_a_missing_value_as_an_empty_cell() -> None:
    assert formula_safe(None) == ""
