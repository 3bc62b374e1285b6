"""Cleaning what people type, and rendering organisers' Markdown safely."""

from __future__ import annotations

import re

import pytest

from app.text import UnsafeText, clean_line, clean_paragraphs, render_markdown


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
