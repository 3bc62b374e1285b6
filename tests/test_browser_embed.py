"""The embed at the size the README gives other sites (360×260), in both languages: nothing overflows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext

from app.models import Letter
from tests.conftest import LETTER_TEXT
from tests.factories import add_confirmed

pytestmark = pytest.mark.browser

LONG_TITLE = "An open letter for testing how the embed copes with a title that goes on for three lines or more"
# The iframe the README's snippet makes.
WIDTH, HEIGHT = 360, 260


@pytest.mark.parametrize(("lang", "sign"), [("en", "Sign this letter"), ("ko", "이 서한에 서명하기")])
def test_the_embed_fits_its_documented_size_with_the_sign_button_in_view(
    app: Flask, create_letter: Callable[..., Letter], new_context: Callable[..., BrowserContext], lang: str, sign: str
) -> None:
    # A title long enough for three lines, and a goal reached (one more line under the count).
    letter = create_letter(LETTER_TEXT.replace("An open letter for testing", LONG_TITLE))
    add_confirmed(app, letter.id, 1234)
    page = new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
    page.goto(f"/letters/{letter.slug}/embed?lang={lang}")
    size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert size[0] <= WIDTH and size[1] <= HEIGHT, f"the embed needs {size[0]}×{size[1]}"
    button = page.get_by_role("link", name=sign)
    box = button.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH
