"""What real clients read: crawlers' files, feed readers, spreadsheets, compressed answers, badges."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.db import utcnow
from app.models import Letter

SLUG = "test-letter"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_robots_txt_lets_crawlers_read_the_public_pages_but_not_the_moderators(
    client: FlaskClient, letter: Letter
) -> None:
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    assert "Disallow: /moderate" in lines and "Disallow: /confirm/" in lines
    assert not any(line in lines for line in ("Disallow: /", f"Disallow: /letters/{SLUG}"))
    assert "Sitemap: http://localhost/sitemap.xml" in lines


def test_the_sitemap_lists_the_published_letters_only(
    app: Flask, client: FlaskClient, letter: Letter, create_letter
) -> None:
    create_letter("---\ntitle: Not yet\nslug: not-yet\n---\nLater.\n", published_at=utcnow() + timedelta(days=3))
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.get_data())  # noqa: S314 (our own answer)
    assert root.tag == f"{SITEMAP}urlset"
    locations = [element.text for element in root.iter(f"{SITEMAP}loc")]
    assert f"http://localhost/letters/{SLUG}" in locations
    assert f"http://localhost/letters/{SLUG}/signatures" in locations
    assert not any("not-yet" in (where or "") for where in locations)


def test_favicon_ico_is_an_icon(client: FlaskClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    import io

    assert Image.open(io.BytesIO(response.get_data())).format == "ICO"
    response.close()


def test_og_locale_names_a_territory(client: FlaskClient, letter: Letter) -> None:
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert '<meta property="og:locale" content="en_US">' in page
    assert re.search(r'<meta property="og:locale" content="\w\w">', page) is None
