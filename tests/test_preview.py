"""Each letter's link preview picture: drawn once per title and count band, in the letter's own script."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageChops, ImageFont

from app.db import db, utcnow
from app.letters import preview
from app.models import Letter
from app.services import letters as letter_service
from tests.factories import add_confirmed
from tests.support import require

SLUG = "test-letter"
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
KOREAN_TITLE = "예술가에게 정당한 대가를"
KOREAN_FILE = f"""---
title: {KOREAN_TITLE}
summary: 모든 예술가에게 정당한 대가를 요구합니다.
---
우리는 모든 예술가가 대가를 받기를 요구합니다.
"""


def add_korean(app: Flask, letter: Letter) -> None:
    with app.app_context(), db.transaction() as session:
        source = letter_service.parse_letter_file(KOREAN_FILE)
        letter_service.load_file(session, source, now=utcnow(), slug=letter.slug, lang="ko")


def image_address(page: str) -> str:
    found = re.search(r'<meta property="og:image" content="http://localhost(/letters/[^"]+)">', page)
    assert found, "an og:image of the letter's own"
    return found.group(1).replace("&amp;", "&")


def picture(client: FlaskClient, path: str) -> Image.Image:
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "image/png"
    return Image.open(io.BytesIO(response.get_data()))


def counting_draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    drawn: list[str] = []
    real = preview.draw

    def draw(shown: preview.Preview, font: str) -> bytes:
        drawn.append(shown.title)
        return real(shown, font)

    monkeypatch.setattr(preview, "draw", draw)
    return drawn


def test_the_count_band_is_a_round_number() -> None:
    bands = {count: preview.count_band(count) for count in (0, 9, 10, 19, 20, 49, 50, 99, 100, 1999, 2000, 123_456)}
    assert bands == {
        0: 0,
        9: 0,
        10: 10,
        19: 10,
        20: 20,
        49: 20,
        50: 50,
        99: 50,
        100: 100,
        1999: 1000,
        2000: 2000,
        123_456: 100_000,
    }


def test_the_letter_page_points_at_its_own_picture_of_1200_by_630_with_words_for_it(
    client: FlaskClient, letter: Letter
) -> None:
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    address = image_address(page)
    assert address.startswith(f"/letters/{SLUG}/preview.png?v=")
    assert picture(client, address).size == (1200, 630)
    alt = re.search(r'<meta property="og:image:alt" content="([^"]+)">', page)
    assert alt and "An open letter for testing" in alt.group(1) and "Be among the first to sign" in alt.group(1)
    assert '<meta property="og:image:width" content="1200">' in page


def test_the_picture_is_drawn_once_and_answers_with_an_etag_and_cache_control(
    client: FlaskClient, letter: Letter, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = counting_draws(monkeypatch)
    address = image_address(client.get(f"/letters/{SLUG}").get_data(as_text=True))
    first = client.get(address)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=86400"
    second = client.get(address)
    assert second.get_data() == first.get_data()
    assert drawn == ["An open letter for testing"], "drawn once, then read from its file"
    again = client.get(address, headers={"If-None-Match": etag})
    assert again.status_code == 304
    # An address naming an older picture: the current one, kept only briefly.
    assert client.get(f"/letters/{SLUG}/preview.png?v=old").headers["Cache-Control"] == "public, max-age=300"


def test_a_new_title_or_count_band_draws_a_new_picture_and_a_few_signatures_do_not(
    app: Flask, client: FlaskClient, letter: Letter, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = counting_draws(monkeypatch)
    first_address = image_address(client.get(f"/letters/{SLUG}").get_data(as_text=True))
    first = client.get(first_address).get_data()
    add_confirmed(app, letter.id, 3)
    assert image_address(client.get(f"/letters/{SLUG}").get_data(as_text=True)) == first_address
    add_confirmed(app, letter.id, 8)  # 11: the band of ten
    banded = image_address(client.get(f"/letters/{SLUG}").get_data(as_text=True))
    banded_picture = client.get(banded).get_data()
    assert banded != first_address and banded_picture != first
    with app.app_context(), db.transaction() as session:
        found = letter_service.get_letter(session, SLUG)
        letter_service.edit_letter(
            session, found, title="A new title", body_markdown=found.body_markdown, moderation_mode="post", now=utcnow()
        )
    retitled = image_address(client.get(f"/letters/{SLUG}").get_data(as_text=True))
    assert retitled != banded
    assert client.get(retitled).get_data() not in (first, banded_picture)
    assert drawn == ["An open letter for testing", "An open letter for testing", "A new title"]
    # Only the current picture is kept.
    assert len(list(Path(app.config["PREVIEW_DIR"]).glob("*.png"))) == 1


def test_a_translation_has_its_own_picture_in_its_own_script(app: Flask, client: FlaskClient, letter: Letter) -> None:
    add_korean(app, letter)
    korean_page = client.get(f"/letters/{SLUG}?lang=ko").get_data(as_text=True)
    address = image_address(korean_page)
    assert "lang=ko" in address
    assert '<meta property="og:locale" content="ko_KR">' in korean_page
    assert '<meta property="og:locale:alternate" content="en_US">' in korean_page
    alt = re.search(r'<meta property="og:image:alt" content="([^"]+)">', korean_page)
    assert alt and KOREAN_TITLE in alt.group(1)
    english = picture(client, image_address(client.get(f"/letters/{SLUG}?lang=en").get_data(as_text=True)))
    assert ImageChops.difference(picture(client, address).convert("RGB"), english.convert("RGB")).getbbox()


def glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    mask = font.getmask(char)
    return bytes(mask) + repr(mask.size).encode()


def test_korean_is_drawn_with_the_cjk_font_not_as_missing_glyph_boxes(app: Flask) -> None:
    require(Path(CJK_FONT).is_file(), "fonts-noto-cjk is not installed (apt-get install fonts-noto-cjk)")
    missing = "\U000f0000"  # a private-use character: no font draws it, each shows its box
    cjk = preview.load_font(CJK_FONT, "ko", 60)
    assert "CJK KR" in cjk.getname()[0]
    assert {glyph(cjk, char) for char in "예술가"}.isdisjoint({glyph(cjk, missing)})
    # The test can tell: the fallback font draws every Hangul syllable as the same box.
    fallback = preview.load_font("/nonexistent.ttf", "ko", 60)
    assert {glyph(fallback, char) for char in "예술가"} == {glyph(fallback, missing)}
    with app.test_request_context():
        shown = preview.Preview.of(KOREAN_TITLE, "ko", 0, "Undersigned")
        assert "서명" in shown.count_line or "첫" in shown.count_line
        with_cjk = Image.open(io.BytesIO(preview.draw(shown, CJK_FONT)))
        boxes = Image.open(io.BytesIO(preview.draw(shown, "/nonexistent.ttf")))
    assert with_cjk.size == (1200, 630)
    assert ImageChops.difference(with_cjk.convert("RGB"), boxes.convert("RGB")).getbbox()


def test_without_the_font_the_app_says_so_and_still_draws(
    app: Flask, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["PREVIEW_FONT"] = str(tmp_path / "none.ttc")
    with caplog.at_level("WARNING"):
        preview.init_app(app)
    assert "PREVIEW_FONT" in caplog.text and "fonts-noto-cjk" in caplog.text
    with app.test_request_context():
        data = preview.draw(preview.Preview.of("Plain title", "en", 5, "Site"), str(tmp_path / "none.ttc"))
    assert Image.open(io.BytesIO(data)).size == (1200, 630)


def test_the_list_signer_and_log_pages_have_a_description_and_a_preview(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    add_confirmed(app, letter.id, 1)
    with app.app_context():
        from sqlalchemy import select

        from app.models import Signature

        signer = db.session.scalar(select(Signature.id).where(Signature.letter_id == letter.id))
    for path in (f"/letters/{SLUG}/signatures", f"/letters/{SLUG}/signatures/{signer}", f"/letters/{SLUG}/log"):
        page = client.get(path).get_data(as_text=True)
        assert re.search(r'<meta name="description" content="[^"]*An open letter for testing[^"]*">', page), path
        assert image_address(page).startswith(f"/letters/{SLUG}/preview.png"), path
        assert '<meta property="og:image:alt" content="' in page and "og:locale" in page, path
