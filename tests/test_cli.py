"""Operator commands: loading letters from Markdown, listing, closing, recounting."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.models import Letter, LetterCounterShard
from tests.support import count, execute, one, rows

pytestmark = pytest.mark.engines

LETTER = """---
title: Stop the training on our work
published: 2026-01-15
closes: 2099-12-31T18:00:00Z
goal: 500
---
We, the undersigned **artists**, ask for consent.
"""


def write(tmp_path: Path, text: str, name: str = "letter.md") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_load_creates_then_updates_the_same_letter(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, LETTER)
    first = runner.invoke(args=["letter", "load", path])
    assert first.exit_code == 0, first.output
    assert "Created letter 'stop-the-training-on-our-work'" in first.output
    second = runner.invoke(args=["letter", "load", write(tmp_path, LETTER.replace("consent", "consent and pay"))])
    assert "Updated" in second.output
    [letter] = rows(app, Letter)
    assert "consent and pay" in letter.body_html
    assert "<strong>artists</strong>" in letter.body_html
    assert letter.goal == 500
    assert letter.published_at.isoformat() == "2026-01-15T00:00:00+00:00"
    assert letter.closes_at is not None and letter.closes_at.year == 2099
    assert letter.featured  # the only letter is featured


def test_slug_and_featured_options(app: Flask, runner: FlaskCliRunner, tmp_path: Path, client: FlaskClient) -> None:
    runner.invoke(args=["letter", "load", write(tmp_path, LETTER), "--slug", "first"])
    result = runner.invoke(
        args=[
            "letter",
            "load",
            write(tmp_path, LETTER.replace("Stop", "Second"), "b.md"),
            "--slug",
            "second",
            "--featured",
        ]
    )
    assert result.exit_code == 0, result.output
    assert {(letter.slug, letter.featured) for letter in rows(app, Letter)} == {("first", False), ("second", True)}
    assert "Second the training" in client.get("/").get_data(as_text=True)
    assert client.get("/letters/first").status_code == 200


def test_if_empty_loads_only_into_an_empty_site(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.invoke(args=["letter", "load", write(tmp_path, LETTER), "--if-empty"])
    result = runner.invoke(args=["letter", "load", write(tmp_path, LETTER, "x.md"), "--slug", "other", "--if-empty"])
    assert "nothing loaded" in result.output
    assert len(rows(app, Letter)) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "must start with YAML front matter"),
        ("---\nslug: x\n---\nBody", "needs a 'title'"),
        ("---\ntitle: [unclosed\n---\nBody", "not valid YAML"),
        ("---\ntitle: T\ngoal: lots\n---\nBody", "'goal' must be a positive whole number"),
        ("---\ntitle: T\npublished: someday\n---\nBody", "'published' must be a date"),
        ("---\ntitle: T\nslug: Not A Slug\n---\nBody", "must be lowercase letters"),
        ("---\ntitle: T\n---\n", "no text"),
    ],
)
def test_bad_letter_files_are_explained(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, text: str, message: str
) -> None:
    result = runner.invoke(args=["letter", "load", write(tmp_path, text)])
    assert result.exit_code != 0
    assert message in result.output
    assert rows(app, Letter) == []


def test_list_close_open_and_recount(app: Flask, runner: FlaskCliRunner, tmp_path: Path, client: FlaskClient) -> None:
    runner.invoke(args=["letter", "load", write(tmp_path, LETTER), "--slug", "art"])
    assert "art" in runner.invoke(args=["letter", "list"]).output
    assert runner.invoke(args=["letter", "close", "art"]).exit_code == 0
    assert "closed" in runner.invoke(args=["letter", "list"]).output
    assert "Signing has closed" in client.get("/letters/art").get_data(as_text=True)
    assert client.get("/api/v1/letters/art").get_json()["open"] is False
    assert runner.invoke(args=["letter", "open", "art"]).exit_code == 0
    assert 'name="email"' in client.get("/letters/art").get_data(as_text=True)

    assert "exact" in runner.invoke(args=["letter", "recount", "art"]).output
    # Drift in the letter row and in one of its counter shards: the count is their sum.
    letter_id = one(app, Letter.id, slug="art")
    execute(
        app,
        sa.update(Letter).values(folded_count=4),
        sa.insert(LetterCounterShard).values(letter_id=letter_id, shard=5, value=3),
    )
    drift = runner.invoke(args=["letter", "recount", "art"])
    assert drift.exit_code == 1 and "stored count 7, recount 0" in drift.output
    assert runner.invoke(args=["letter", "recount", "art", "--fix"]).exit_code == 0
    assert rows(app, Letter)[0].signature_count == 0
    assert count(app, LetterCounterShard) == 0  # folded


def test_unknown_slug_is_a_clear_error(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["letter", "close", "nope"])
    assert result.exit_code != 0
    assert "no letter with slug 'nope'" in result.output


def test_empty_site_explains_how_to_load_a_letter(client: FlaskClient, runner: FlaskCliRunner) -> None:
    assert "letter load" in client.get("/").get_data(as_text=True)
    assert "letter load" in runner.invoke(args=["letter", "list"]).output


def test_the_bundled_demo_letter_loads(app: Flask, runner: FlaskCliRunner, client: FlaskClient) -> None:
    demo = Path(__file__).resolve().parent.parent / "demo" / "letter.md"
    result = runner.invoke(args=["letter", "load", str(demo), "--featured"])
    assert result.exit_code == 0, result.output
    html = client.get("/").get_data(as_text=True)
    assert "We are not your unpaid test lab" in html
