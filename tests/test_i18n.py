"""Two languages: complete catalogues, the visitor's choice, locale formats, letter translations, mail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.extensions import LANGUAGES
from app.models import Letter
from tests.factories import add_confirmed
from tests.support import SMTPSink, link_in, path_of, sign, smtp_settings

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "app" / "translations"
# The same keywords as scripts/translations extract.
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "_l": None,
    "lazy_gettext": None,
}
SLUG = "test-letter"
KOREAN = {"Accept-Language": "ko-KR,ko;q=0.9"}

ENGLISH_FILE = """---
title: Pay the artists
slug: pay-the-artists
lang: en
goal: 10
---
We ask that **every** artist be paid.
"""
KOREAN_FILE = """---
title: 예술가에게 대가를
summary: 모든 예술가에게 정당한 대가를 요구합니다.
---
우리는 **모든** 예술가가 대가를 받기를 요구합니다.
"""


def fresh_extraction() -> dict[str, Any]:
    """Every message the code and templates use now, as scripts/translations extract finds them."""
    method_map = [
        ("**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
        ("templates/**.svg", "jinja2"),
    ]
    options = {pattern: {"extensions": "jinja2.ext.do"} for pattern, method in method_map if method == "jinja2"}
    found: dict[str, Any] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "app"), method_map, options, keywords=KEYWORDS
    ):
        key = message[0] if isinstance(message, tuple) else message
        if key:
            found[key] = filename
    return found


def korean_catalogue() -> Catalog:
    with (TRANSLATIONS / "ko" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def test_every_interface_language_but_english_has_a_catalogue() -> None:
    assert LANGUAGES[0] == "en"  # the msgids are the English text
    for code in LANGUAGES[1:]:
        assert (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").is_file(), code


def test_the_korean_catalogue_is_complete_and_nothing_in_it_is_fuzzy() -> None:
    catalogue = korean_catalogue()
    messages = [message for message in catalogue if message.id]
    assert len(messages) > 150
    fuzzy = [message.id for message in messages if message.fuzzy]
    untranslated = [
        message.id
        for message in messages
        if not (all(message.string) if isinstance(message.string, tuple) else message.string)
    ]
    assert fuzzy == [], f"fuzzy Korean translations: {fuzzy}"
    assert untranslated == [], f"missing Korean translations: {untranslated}"
    # Placeholders (%(title)s, %(num)d...) the same as in the English text.
    problems = [(message.id, [str(error) for error in errors]) for message, errors in catalogue.check()]
    assert problems == []


def test_a_fresh_extraction_finds_no_message_missing_from_the_korean_catalogue() -> None:
    found = fresh_extraction()
    assert "Sign this letter" in found and "Please enter your name." in found  # templates and Python both read
    known = {message.id[0] if isinstance(message.id, tuple) else message.id for message in korean_catalogue()}
    missing = {key: where for key, where in found.items() if key not in known}
    assert missing == {}, "run scripts/translations update and translate: " + repr(missing)


def test_the_compiled_korean_catalogue_matches_its_source() -> None:
    compiled = TRANSLATIONS / "ko" / "LC_MESSAGES" / "messages.mo"
    assert compiled.is_file(), "scripts/_venv.sh compiles the catalogues at set-up"
    with compiled.open("rb") as handle:
        mo = read_mo(handle)
    source = korean_catalogue()
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in mo if m.id} == {
        m.id if isinstance(m.id, str) else m.id[0] for m in source if m.id
    }, "the .mo is older than the .po: run scripts/translations compile"


def html_lang(client: FlaskClient, path: str, **kwargs: Any) -> str:
    match = re.search(r'<html lang="([^"]+)"', client.get(path, **kwargs).get_data(as_text=True))
    assert match
    return match.group(1)


def test_the_language_comes_from_the_choice_then_accept_language_then_the_default(
    client: FlaskClient, letter: Letter
) -> None:
    assert html_lang(client, "/") == "en"  # no header, no choice: the site default
    assert html_lang(client, "/", headers=KOREAN) == "ko"
    page = client.get("/", headers=KOREAN).get_data(as_text=True)
    assert "이 서한에 서명하기" in page and "Sign this letter" not in page
    # A choice from the switcher beats the browser's header, and the page's links carry it on;
    # no cookie remembers it (each language of a page is its own entry in any cache).
    assert html_lang(client, "/?lang=en", headers=KOREAN) == "en"
    chosen = client.get("/?lang=en", headers=KOREAN).get_data(as_text=True)
    assert f'href="/letters/{SLUG}/signatures?lang=en"' in chosen
    assert html_lang(client, f"/letters/{SLUG}/signatures?lang=en", headers=KOREAN) == "en"
    assert html_lang(client, "/privacy?lang=ko") == "ko"
    assert html_lang(client, "/privacy") == "en"
    assert client.get_cookie("session") is None
    # A language the site does not speak is ignored.
    assert html_lang(client, "/?lang=xx", headers=KOREAN) == "ko"


@pytest.mark.settings(DEFAULT_LOCALE="ko")
def test_the_site_default_applies_when_the_browser_asks_for_nothing_we_speak(
    client: FlaskClient, letter: Letter
) -> None:
    assert html_lang(client, "/", headers={"Accept-Language": "fr"}) == "ko"


def test_the_switcher_links_to_this_page_in_each_language(client: FlaskClient, letter: Letter) -> None:
    page = client.get(f"/letters/{SLUG}/signatures?q=Ada").get_data(as_text=True)
    nav = page.split('<nav class="languages"')[1].split("</nav>")[0]
    assert f'href="/letters/{SLUG}/signatures?q=Ada&amp;lang=ko" lang="ko" hreflang="ko">한국어</a>' in nav
    assert 'lang="en" hreflang="en" aria-current="true">English</a>' in nav


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_counts_and_dates_are_formatted_for_the_locale(app: Flask, client: FlaskClient, letter: Letter) -> None:
    add_confirmed(app, letter.id, 2)
    with app.app_context():
        from app.db import db
        from app.models import Letter as LetterModel

        stored = db.session.get(LetterModel, letter.id)
        assert stored is not None
        stored.folded_count = 1232  # as if 1,232 more had signed: the page reads the counter
        db.session.commit()
    english = visible_text(client.get(f"/letters/{SLUG}").get_data(as_text=True))
    assert "1,234 signatures" in english
    korean = visible_text(client.get(f"/letters/{SLUG}", headers=KOREAN).get_data(as_text=True))
    assert "1,234명" in korean
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일 게시", korean), korean[:2000]
    assert "1,234명" in visible_text(client.get("/letters", headers=KOREAN).get_data(as_text=True))


def load(runner: FlaskCliRunner, tmp_path: Path, text: str, name: str, *args: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["letter", "load", str(path), *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_a_translation_is_loaded_with_lang_and_shown_in_the_visitors_language(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert "Created letter 'pay-the-artists'" in load(runner, tmp_path, ENGLISH_FILE, "letter.md")
    output = load(runner, tmp_path, KOREAN_FILE, "letter.ko.md", "--slug", "pay-the-artists", "--lang", "ko")
    assert "Created the 'ko' translation of 'pay-the-artists'" in output
    changed = KOREAN_FILE.replace("요구합니다", "요청합니다")
    output = load(runner, tmp_path, changed, "again.ko.md", "--slug", "pay-the-artists", "--lang", "ko")
    assert "Updated the 'ko' translation" in output

    english = client.get("/letters/pay-the-artists").get_data(as_text=True)
    assert "<h1>Pay the artists</h1>" in english
    assert '<article class="letter" lang="en">' in english
    assert 'hreflang="ko" lang="ko">한국어</a>' in english.split('class="letter-languages"')[1]
    assert '<link rel="alternate" hreflang="ko" href="http://localhost/letters/pay-the-artists?lang=ko">' in english

    korean = client.get("/letters/pay-the-artists", headers=KOREAN).get_data(as_text=True)
    assert "<h1>예술가에게 대가를</h1>" in korean
    assert '<article class="letter" lang="ko">' in korean
    assert "<strong>모든</strong>" in korean and "요청합니다" in korean
    assert '<meta property="og:title" content="예술가에게 대가를">' in korean
    assert '<link rel="canonical" href="http://localhost/letters/pay-the-artists?lang=ko">' in korean
    assert 'hreflang="en" lang="en">English</a>' in korean.split('class="letter-languages"')[1]

    # One letter, one count and one list, whichever language it was signed in.
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = KOREAN["Accept-Language"]
    assert sign(client, "pay-the-artists").status_code == 303
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert sign(client, "pay-the-artists", email="grace@example.org").status_code == 303
    with app.app_context():
        from app.db import db
        from app.models import Signature

        rows = db.session.scalars(sa.select(Signature).order_by(Signature.id)).all()
        assert [(row.letter.slug, row.locale) for row in rows] == [("pay-the-artists", "ko"), ("pay-the-artists", "en")]
    assert runner.invoke(args=["letter", "list"]).output.count("pay-the-artists") == 1


def test_front_matter_lang_makes_a_file_a_translation(
    client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    load(runner, tmp_path, ENGLISH_FILE, "letter.md")
    korean = KOREAN_FILE.replace("---\ntitle:", "---\nslug: pay-the-artists\nlang: ko\ntitle:")
    assert "Created the 'ko' translation" in load(runner, tmp_path, korean, "letter.ko.md")
    page = client.get("/letters/pay-the-artists?lang=ko").get_data(as_text=True)
    assert "<h1>예술가에게 대가를</h1>" in page


def test_a_letter_and_its_translations_load_in_one_command(
    client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    english, korean = tmp_path / "letter.md", tmp_path / "letter.ko.md"
    english.write_text(ENGLISH_FILE, encoding="utf-8")
    korean.write_text(KOREAN_FILE.replace("---\ntitle:", "---\nlang: ko\ntitle:"), encoding="utf-8")
    result = runner.invoke(args=["letter", "load", str(english), str(korean), "--featured", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "Created the 'ko' translation of 'pay-the-artists'" in result.output
    again = runner.invoke(args=["letter", "load", str(english), str(korean), "--if-empty"])
    assert "nothing loaded" in again.output
    assert "<h1>예술가에게 대가를</h1>" in client.get("/", headers=KOREAN).get_data(as_text=True)


def test_the_bundled_demo_letter_loads_in_english_and_korean(client: FlaskClient, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["letter", "load", str(ROOT / "demo/letter.md"), str(ROOT / "demo/letter.ko.md"), "--featured"]
    )
    assert result.exit_code == 0, result.output
    assert "Created the 'ko' translation of 'not-your-test-lab'" in result.output
    assert "<h1>We are not your unpaid test lab</h1>" in client.get("/").get_data(as_text=True)
    assert "<h1>우리는 당신들의 무급 실험실이 아닙니다</h1>" in client.get("/?lang=ko").get_data(as_text=True)


def test_a_bad_language_tag_is_refused(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "letter.md"
    path.write_text(ENGLISH_FILE, encoding="utf-8")
    result = runner.invoke(args=["letter", "load", str(path), "--lang", "Korean!"])
    assert result.exit_code != 0
    assert "must be a tag like" in result.output


@pytest.mark.parametrize("headers", [KOREAN, {"Accept-Language": "en-GB"}], ids=["ko", "en"])
def test_the_confirmation_email_is_in_the_language_the_signer_used(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    smtp_sink: SMTPSink,
    tmp_path: Path,
    headers: dict[str, str],
) -> None:
    app.config.update(smtp_settings(smtp_sink))
    load(runner, tmp_path, ENGLISH_FILE, "letter.md")
    load(runner, tmp_path, KOREAN_FILE, "letter.ko.md", "--slug", "pay-the-artists", "--lang", "ko")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = headers["Accept-Language"]  # the browser's, on every request
    assert sign(client, "pay-the-artists", name="김하늘", email="sky@example.org").status_code == 303
    assert runner.invoke(args=["mail", "send"]).exit_code == 0
    [message] = smtp_sink.messages_to("sky@example.org")
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    link = link_in(message)
    if headers is KOREAN:
        assert message["Subject"] == "서명을 확인해 주세요: 예술가에게 대가를"
        assert "김하늘 님, 안녕하세요." in text and "링크는 7일 동안 유효합니다." in text
        assert '<html lang="ko">' in html
        assert link.endswith("?lang=ko")
        # The page behind the link speaks Korean, whatever the browser that opens it asks for.
        page = client.get(path_of(link), headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert "<h1>서명을 확인해 주세요</h1>" in page
    else:
        assert message["Subject"] == "Confirm your signature: Pay the artists"
        assert "Hello 김하늘," in text
        assert '<html lang="en">' in html
