"""Letters written on the web: a new letter with every field and its translation, refusals that store
nothing, the live preview, the letter's states in the audit log, drafts the public never sees, and the
round trip between a letter file, the web form and ``letter dump``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import db
from app.models import AuditEntry, Letter, LetterTranslation, LetterVersion, Moderator, ModeratorRole
from tests.factories import log_in, sign_and_confirm
from tests.support import count, csrf_token, one, rows

pytestmark = pytest.mark.engines

NEW = "/moderate/letters/new"

FULL = {
    "lang": "en",
    "title": "Fund the public library",
    "slug": "fund-the-library",
    "summary": "Keep the doors open on Sundays.",
    "body_markdown": "We ask the council to **fund** the library.\r\n\r\n- Sundays\r\n- Evenings",
    "goal": "500",
    "opens": "2026-12-01T09:00",
    "closes": "2027-01-31T18:30",
    "moderation_mode": "pre",
    "featured": "y",
    "title_ko": "공공 도서관에 예산을",
    "summary_ko": "일요일에도 문을 열어 주세요.",
    "body_ko": "시의회에 도서관 **예산**을 요청합니다.",
}


@pytest.fixture
def admin(app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator]) -> FlaskClient:
    """The test client, signed in as an admin."""
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    assert log_in(client, "admin@example.org").status_code == 303
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
    """POST the form at ``path`` with a fresh CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client, path)} | data, **kwargs)


def audit_actions(app: Flask) -> list[str]:
    """The audit log's actions, oldest first."""
    return [entry.action for entry in rows(app, AuditEntry, order_by=AuditEntry.id)]


def letter_of(app: Flask, slug: str) -> Letter:
    with app.app_context():
        letter = db.session.scalar(sa.select(Letter).where(Letter.slug == slug))
        assert letter is not None
        letter.translations  # noqa: B018 - loaded before the session closes
        db.session.expunge_all()
        return letter


# --- a letter from nothing ----------------------------------------------------------------------


def test_an_admin_creates_a_bilingual_letter_with_every_field(app: Flask, admin: FlaskClient) -> None:
    page = admin.get(NEW)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="title_ko"' in html and 'name="slug"' in html and "Preview" in html

    response = post(admin, NEW, FULL)
    assert response.status_code == 303
    assert response.headers["Location"] == "/moderate/letters/fund-the-library/edit"

    letter = letter_of(app, "fund-the-library")
    assert letter.draft and letter.title == "Fund the public library"
    assert letter.summary == "Keep the doors open on Sundays."
    assert letter.body_markdown == "We ask the council to **fund** the library.\n\n- Sundays\n- Evenings"
    assert "<strong>fund</strong>" in letter.body_html
    assert letter.goal == 500 and letter.moderation_mode == "pre" and letter.featured and letter.lang == "en"
    assert letter.published_at.isoformat().startswith("2026-12-01T09:00")
    assert letter.closes_at is not None and letter.closes_at.isoformat().startswith("2027-01-31T18:30")
    assert letter.current_version == 1
    (korean,) = letter.translations
    assert (korean.lang, korean.title, korean.summary) == ("ko", "공공 도서관에 예산을", "일요일에도 문을 열어 주세요.")
    assert "<strong>예산</strong>" in korean.body_html and korean.letter_version == 1
    assert audit_actions(app) == ["letter.create"]

    # The edit page shows it all back, and the state says draft.
    edit = admin.get("/moderate/letters/fund-the-library/edit").get_data(as_text=True)
    assert "공공 도서관에 예산을" in edit and 'value="2027-01-31T18:30"' in edit and "Draft" in edit
    assert 'value="publish"' in edit


def test_a_draft_without_an_opening_date_opens_when_published(app: Flask, admin: FlaskClient) -> None:
    assert post(admin, NEW, FULL | {"opens": "", "closes": ""}).status_code == 303
    path = "/moderate/letters/fund-the-library/edit"
    assert 'name="opens" type="datetime-local" value=""' in admin.get(path).get_data(as_text=True)
    before = letter_of(app, "fund-the-library").published_at
    assert post(admin, path, FULL | {"opens": ""}).status_code == 303
    assert letter_of(app, "fund-the-library").published_at == before
    state(admin, "fund-the-library", "publish")
    published = letter_of(app, "fund-the-library").published_at
    assert published > before
    assert one(app, LetterVersion.published_at, number=1) == published


def test_the_address_is_made_from_the_title_when_left_empty(app: Flask, admin: FlaskClient) -> None:
    data = {
        "lang": "en",
        "title": "Clean Air, Now!",
        "slug": "",
        "body_markdown": "Breathe.",
        "moderation_mode": "post",
    }
    assert post(admin, NEW, data).status_code == 303
    letter = letter_of(app, "clean-air-now")
    assert letter.summary == "Breathe." and letter.goal is None and letter.closes_at is None
    assert letter.translations == [] and not letter.featured  # as the unticked box said


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"slug": "test-letter"}, "slug", "Another letter has this address already"),
        ({"slug": "Not A Slug!"}, "slug", "Use lowercase letters"),
        ({"slug": "-dash-first"}, "slug", "Use lowercase letters"),
        ({"closes": "2026-11-30T09:00"}, "closes", "The closing date must be after the opening date."),
        ({"body_markdown": "  \r\n "}, "body_markdown", "Please write the statement."),
        ({"title": ""}, "title", "Please give the letter a title."),
        ({"goal": "0"}, "goal", "The goal must be a whole number above 0."),
        ({"goal": "many"}, "goal", "Not a valid integer value."),
        ({"opens": "yesterday"}, "opens", "Not a valid datetime value."),
        ({"body_ko": ""}, "body_ko", "Please write the statement in this language too"),
        ({"title_ko": ""}, "title_ko", "Please give the translation a title too."),
        ({"title": "한국어 제목", "slug": ""}, "slug", "The title gives no address"),
        ({"title": "Two\x00parts"}, "title", "Please use one line"),
        ({"title_ko": "둘\x07"}, "title_ko", "Please use one line"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_stores_nothing(
    app: Flask, admin: FlaskClient, letter: Letter, change: dict[str, str], field: str, message: str
) -> None:
    response = post(admin, NEW, FULL | change)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="{field}-error"' in page
    assert count(app, Letter) == 1 and count(app, LetterTranslation) == 0 and count(app, LetterVersion) == 1
    assert audit_actions(app) == []
    # What was typed is kept.
    assert "Keep the doors open on Sundays." in page


def test_line_breaks_and_control_characters_never_reach_the_letter(app: Flask, admin: FlaskClient) -> None:
    data = FULL | {"summary": "Keep the doors\r\nopen on Sundays.", "body_markdown": "Fund\x00 the\ttable.\x1b"}
    assert post(admin, NEW, data).status_code == 303
    letter = letter_of(app, "fund-the-library")
    assert letter.summary == "Keep the doors open on Sundays."
    assert letter.body_markdown == "Fund the\ttable."


def test_a_translation_in_the_letters_own_language_is_refused(app: Flask, admin: FlaskClient) -> None:
    response = post(admin, NEW, FULL | {"lang": "ko", "title_en": "", "body_en": ""})
    assert response.status_code == 422
    assert "The letter itself is in this language" in response.get_data(as_text=True)
    assert count(app, Letter) == 0


def test_moderators_who_are_not_admins_get_403(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    assert log_in(client).status_code == 303
    token = csrf_token(client, "/moderate")
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, data=FULL | {"csrf_token": token}).status_code == 403
    assert client.get("/moderate/letters/test-letter/edit").status_code == 403
    assert client.post("/moderate/letters/preview", data={"csrf_token": token, "markdown": "x"}).status_code == 403
    for state in ("publish", "draft", "close", "open"):
        response = client.post("/moderate/letters/test-letter/signing", data={"csrf_token": token, "signing": state})
        assert response.status_code == 403
    assert count(app, Letter) == 1 and audit_actions(app) == []
    # The moderators' home page has no "New letter" link for them.
    assert NEW not in client.get("/moderate").get_data(as_text=True)


def test_the_home_page_links_admins_to_a_new_letter(admin: FlaskClient) -> None:
    assert f'href="{NEW}"' in admin.get("/moderate").get_data(as_text=True)


# --- the preview ----------------------------------------------------------------------------------


def test_the_preview_is_the_letter_pages_sanitised_html(admin: FlaskClient) -> None:
    token = csrf_token(admin, NEW)
    markdown = 'Hello **world** <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror="alert(3)">'
    response = admin.post("/moderate/letters/preview", data={"csrf_token": token, "markdown": markdown})
    assert response.status_code == 200
    html = response.get_json()["html"]
    assert "<strong>world</strong>" in html
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text, never run
    assert 'href="javascript' not in html and "<img" not in html
    # Without a CSRF token, nothing.
    assert admin.post("/moderate/letters/preview", data={"markdown": "x"}).status_code == 400


def test_the_preview_button_works_without_javascript_and_stores_nothing(app: Flask, admin: FlaskClient) -> None:
    data = FULL | {"body_markdown": "Plain *emphasis* <script>alert(1)</script>", "preview": "1"}
    response = post(admin, NEW, data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<em>emphasis</em>" in page and "<script>alert(1)" not in page
    assert "<strong>예산</strong>" in page
    assert count(app, Letter) == 0


# --- states ---------------------------------------------------------------------------------------


def state(client: FlaskClient, slug: str, wanted: str) -> Any:
    path = f"/moderate/letters/{slug}/edit"
    return client.post(
        f"/moderate/letters/{slug}/signing",
        data={"csrf_token": csrf_token(client, path), "signing": wanted},
        follow_redirects=True,
    )


def test_draft_published_closed_reopened_each_audited(app: Flask, admin: FlaskClient) -> None:
    assert post(admin, NEW, FULL | {"opens": "", "closes": ""}).status_code == 303
    slug = "fund-the-library"
    public = app.test_client()
    assert public.get(f"/letters/{slug}").status_code == 404

    page = state(admin, slug, "publish")
    assert "The letter is published" in page.get_data(as_text=True)
    assert public.get(f"/letters/{slug}").status_code == 200
    assert not letter_of(app, slug).draft

    # Nobody signed yet: it can go back to draft, and be published again.
    assert "a draft again" in state(admin, slug, "draft").get_data(as_text=True)
    assert public.get(f"/letters/{slug}").status_code == 404
    state(admin, slug, "publish")

    assert "Signing is closed" in state(admin, slug, "close").get_data(as_text=True)
    assert "Signing has closed" in public.get(f"/letters/{slug}").get_data(as_text=True)
    assert "Signing is open again" in state(admin, slug, "open").get_data(as_text=True)
    assert "Signing has closed" not in public.get(f"/letters/{slug}").get_data(as_text=True)
    assert audit_actions(app) == [
        "letter.create",
        "letter.publish",
        "letter.draft",
        "letter.publish",
        "letter.close",
        "letter.open",
    ]
    audit = admin.get("/moderate/audit").get_data(as_text=True)
    assert "Letter published" in audit and "Letter back to draft" in audit


def test_a_signed_letter_cannot_go_back_to_draft(app: Flask, admin: FlaskClient, letter: Letter) -> None:
    sign_and_confirm(app, app.test_client(), "ada@example.org")
    page = state(admin, "test-letter", "draft").get_data(as_text=True)
    assert "cannot go back to being a draft" in page
    assert not letter_of(app, "test-letter").draft
    assert audit_actions(app) == []
    # A state that does not apply changes nothing either.
    assert "nothing changed" in state(admin, "test-letter", "publish").get_data(as_text=True)
    assert audit_actions(app) == []


def test_a_state_without_csrf_or_unknown_is_refused(app: Flask, admin: FlaskClient, letter: Letter) -> None:
    path = "/moderate/letters/test-letter/signing"
    assert admin.post(path, data={"signing": "close"}).status_code == 400
    token = csrf_token(admin, "/moderate")
    assert admin.post(path, data={"csrf_token": token, "signing": "explode"}).status_code == 400
    assert audit_actions(app) == []


def test_drafts_are_invisible_to_the_public_everywhere(app: Flask, admin: FlaskClient, letter: Letter) -> None:
    assert post(admin, NEW, FULL).status_code == 303
    slug = "fund-the-library"
    public = app.test_client()
    for path in (
        f"/letters/{slug}",
        f"/letters/{slug}?lang=ko",
        f"/letters/{slug}/signatures",
        f"/letters/{slug}/signatures.csv",
        f"/letters/{slug}/signatures.json",
        f"/letters/{slug}/versions",
        f"/letters/{slug}/updates.atom",
        f"/letters/{slug}/badge.svg",
        f"/letters/{slug}/embed",
        f"/letters/{slug}/preview.png",
        f"/letters/{slug}/log",
        f"/letters/{slug}/stats",
        f"/letters/{slug}/newest",
        f"/letters/{slug}/snapshots/",
        f"/letters/{slug}/withdraw",
        f"/api/v1/letters/{slug}",
        f"/api/v1/letters/{slug}/signatures",
    ):
        assert public.get(path).status_code == 404, path
    for path in ("/", "/letters", "/sitemap.xml", "/api/v1/letters"):
        response = public.get(path)
        assert response.status_code == 200, path
        assert slug not in response.get_data(as_text=True), path
        assert "Fund the public library" not in response.get_data(as_text=True), path
    # Signing it is refused too.
    assert public.post(f"/letters/{slug}/sign", data={"name": "A", "email": "a@example.org"}).status_code == 404
    # Moderators see it, marked as a draft.
    assert "Fund the public library" in admin.get("/moderate").get_data(as_text=True)
    assert "draft" in app.test_cli_runner().invoke(args=["letter", "list"]).output


# --- editing --------------------------------------------------------------------------------------


def test_editing_a_published_letter_makes_a_version_and_translations_lag(app: Flask, admin: FlaskClient) -> None:
    assert post(admin, NEW, FULL).status_code == 303
    slug = "fund-the-library"
    state(admin, slug, "publish")
    path = f"/moderate/letters/{slug}/edit"
    changed = FULL | {"body_markdown": "We ask the council to **fund** the library, and to hire staff."}
    changed |= {"change_note": "Asks for staff.", "material": "y"}
    changed.pop("slug")
    response = post(admin, path, changed, follow_redirects=True)
    assert "saved as version 2" in response.get_data(as_text=True)
    letter = letter_of(app, slug)
    assert letter.current_version == 2
    assert one(app, LetterVersion.material, letter_id=letter.id, number=2) is True
    # The Korean text did not change: it was made for version 1 and says so, here and in public.
    assert letter.translations[0].letter_version == 1
    edit = admin.get(path).get_data(as_text=True)
    assert "This translation was made for version 1" in edit
    korean = app.test_client().get(f"/letters/{slug}?lang=ko").get_data(as_text=True)
    assert "이 번역은 1판을 옮긴 것입니다." in korean
    # Updating it brings it up to date.
    post(admin, path, changed | {"body_ko": "직원 채용도 요청합니다.", "material": "", "change_note": ""})
    assert letter_of(app, slug).translations[0].letter_version == 2
    assert "This translation was made for version" not in admin.get(path).get_data(as_text=True)
    # Emptying every field of a translation removes it.
    post(admin, path, changed | {"title_ko": "", "summary_ko": "", "body_ko": "", "material": "", "change_note": ""})
    assert letter_of(app, slug).translations == []
    assert audit_actions(app)[-3:] == ["letter.edit", "letter.edit", "letter.edit"]


def test_a_drafts_edits_rewrite_its_only_version(app: Flask, admin: FlaskClient) -> None:
    assert post(admin, NEW, FULL).status_code == 303
    path = "/moderate/letters/fund-the-library/edit"
    for text in ("First go.", "Second go."):
        assert post(admin, path, FULL | {"body_markdown": text}).status_code == 303
    letter = letter_of(app, "fund-the-library")
    assert letter.current_version == 1
    assert rows(app, LetterVersion.body_markdown, letter_id=letter.id) == ["Second go."]


def test_a_draft_may_change_its_address_a_published_letter_may_not(
    app: Flask, admin: FlaskClient, letter: Letter
) -> None:
    assert post(admin, NEW, FULL).status_code == 303
    path = "/moderate/letters/fund-the-library/edit"
    assert 'name="slug"' in admin.get(path).get_data(as_text=True)
    for taken, message in (("test-letter", "Another letter has this address"), ("No Good", "Use lowercase")):
        response = post(admin, path, FULL | {"slug": taken})
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    response = post(admin, path, FULL | {"slug": "fund-our-library"})
    assert response.headers["Location"] == "/moderate/letters/fund-our-library/edit"
    assert admin.get(path).status_code == 404
    state(admin, "fund-our-library", "publish")
    path = "/moderate/letters/fund-our-library/edit"
    assert 'name="slug"' not in admin.get(path).get_data(as_text=True)
    assert post(admin, path, FULL | {"slug": "something-else"}).headers["Location"] == path
    assert letter_of(app, "fund-our-library").slug == "fund-our-library"


# --- the round trip with the command line -------------------------------------------------------

LOADED = """---
title: Open the data
slug: open-the-data
summary: Publish the city's data.
published: 2026-11-20
goal: 1000
lang: en
---
We ask the city to **publish** its data.
"""

LOADED_KO = """---
title: 데이터를 공개하라
slug: open-the-data
lang: ko
---
시에 데이터 **공개**를 요청합니다.
"""

EXPECTED = """---
title: 'Open the data: all of it'
slug: open-the-data
summary: Publish the city's data, every table.
lang: en
published: 2026-11-20
closes: 2027-03-01T12:00:00Z
goal: 2500
featured: true
moderation: pre
---
We ask the city to **publish** its data.

All of it.
"""

EXPECTED_KO = """---
title: 데이터를 모두 공개하라
slug: open-the-data
summary: 시의 데이터를 모두 공개해 주세요.
lang: ko
---
시에 데이터 **공개**를 요청합니다.

전부 다.
"""


def test_a_loaded_letter_edited_on_the_web_dumps_back_to_the_expected_file(
    app: Flask, admin: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    (tmp_path / "letter.md").write_text(LOADED, encoding="utf-8")
    (tmp_path / "letter.ko.md").write_text(LOADED_KO, encoding="utf-8")
    result = runner.invoke(args=["letter", "load", str(tmp_path / "letter.md"), str(tmp_path / "letter.ko.md")])
    assert result.exit_code == 0, result.output

    path = "/moderate/letters/open-the-data/edit"
    form = admin.get(path).get_data(as_text=True)
    assert 'value="2026-11-20T00:00"' in form and 'value="1000"' in form and "데이터를 공개하라" in form
    edit = {
        "title": "Open the data: all of it",
        "summary": "Publish the city's data, every table.",
        "body_markdown": "We ask the city to **publish** its data.\r\n\r\nAll of it.\r\n",
        "goal": "2500",
        "opens": "2026-11-20T00:00",
        "closes": "2027-03-01T12:00",
        "moderation_mode": "pre",
        "featured": "y",
        "title_ko": "데이터를 모두 공개하라",
        "summary_ko": "시의 데이터를 모두 공개해 주세요.",
        "body_ko": "시에 데이터 **공개**를 요청합니다.\r\n\r\n전부 다.",
        "change_note": "Asks for all of it.",
    }
    assert post(admin, path, edit).status_code == 303

    dumped = runner.invoke(args=["letter", "dump", "open-the-data"])
    assert dumped.exit_code == 0, dumped.output
    assert dumped.output == EXPECTED
    out = tmp_path / "out.ko.md"
    dumped = runner.invoke(args=["letter", "dump", "open-the-data", "--lang", "ko", "--output", str(out)])
    assert dumped.exit_code == 0, dumped.output
    assert out.read_text(encoding="utf-8") == EXPECTED_KO

    # And the dump loads back to the same letter: no new version, nothing changed.
    (tmp_path / "again.md").write_text(EXPECTED, encoding="utf-8")
    again = runner.invoke(args=["letter", "load", str(tmp_path / "again.md")])
    assert "unchanged: still version 2" in again.output, again.output
    assert runner.invoke(args=["letter", "dump", "open-the-data"]).output == EXPECTED


def test_the_front_matter_sets_what_the_form_sets(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    text = LOADED.replace("lang: en\n", "lang: en\nmoderation: pre\nfeatured: true\ndraft: true\n")
    (tmp_path / "letter.md").write_text(text, encoding="utf-8")
    assert runner.invoke(args=["letter", "load", str(tmp_path / "letter.md")]).exit_code == 0
    letter = letter_of(app, "open-the-data")
    assert letter.draft and letter.featured and letter.moderation_mode == "pre"
    assert app.test_client().get("/letters/open-the-data").status_code == 404
    dumped = runner.invoke(args=["letter", "dump", "open-the-data"]).output
    assert "draft: true\n" in dumped and "moderation: pre\n" in dumped
    # draft: false publishes it.
    (tmp_path / "letter.md").write_text(text.replace("draft: true", "draft: false"), encoding="utf-8")
    assert runner.invoke(args=["letter", "load", str(tmp_path / "letter.md")]).exit_code == 0
    assert app.test_client().get("/letters/open-the-data").status_code == 200
    for bad, message in (("moderation: maybe", "'moderation' must be"), ("draft: perhaps", "'draft' must be")):
        (tmp_path / "bad.md").write_text(text.replace("draft: true", bad), encoding="utf-8")
        result = runner.invoke(args=["letter", "load", str(tmp_path / "bad.md")])
        assert result.exit_code != 0 and message in result.output


def test_a_file_cannot_take_a_signed_letter_back_to_draft(
    app: Flask, runner: FlaskCliRunner, letter: Letter, tmp_path: Path
) -> None:
    sign_and_confirm(app, app.test_client(), "ada@example.org")
    dumped = runner.invoke(args=["letter", "dump", "test-letter"]).output
    (tmp_path / "letter.md").write_text(dumped.replace("moderation: post\n", "moderation: post\ndraft: true\n"))
    result = runner.invoke(args=["letter", "load", str(tmp_path / "letter.md")])
    assert result.exit_code != 0 and "cannot go back to being a draft" in result.output
    assert not letter_of(app, "test-letter").draft


def test_dump_of_an_unknown_letter_or_translation_fails(app: Flask, runner: FlaskCliRunner, letter: Letter) -> None:
    result = runner.invoke(args=["letter", "dump", "nope"])
    assert result.exit_code != 0 and "no letter with slug 'nope'" in result.output
    result = runner.invoke(args=["letter", "dump", "test-letter", "--lang", "ko"])
    assert result.exit_code != 0 and "no 'ko' translation" in result.output
