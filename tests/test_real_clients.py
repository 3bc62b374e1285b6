"""What real clients read: crawlers' files, feed readers, spreadsheets, compressed answers, badges."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.db import db, utcnow
from app.models import Letter
from app.services import letters as letter_service

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


ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"


def assert_valid_atom(feed: ElementTree.Element, address: str) -> None:
    """RFC 4287's requirements of a feed and its entries (section 4.1)."""
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{required}")) == 1, required
    assert re.fullmatch(RFC3339, feed.findtext(f"{ATOM}updated") or "")
    assert (feed.findtext(f"{ATOM}author/{ATOM}name") or "").strip()
    selves = [link for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert [link.get("href") for link in selves] == [address]
    for entry in feed.findall(f"{ATOM}entry"):
        for required in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{required}")) == 1, required
        assert re.fullmatch(RFC3339, entry.findtext(f"{ATOM}updated") or "")
        assert re.fullmatch(r"[a-z][a-z0-9+.-]*:\S+", entry.findtext(f"{ATOM}id") or "")  # an IRI
        assert entry.find(f"{ATOM}content") is not None or entry.find(f"{ATOM}link[@rel='alternate']") is not None


def publish_update(app: Flask, letter: Letter, title: str) -> None:
    from app.services import updates

    with app.app_context(), db.transaction() as session:
        found = letter_service.get_letter(session, letter.slug)
        updates.publish(session, found, title=title, body_markdown="Some *news*.", now=utcnow())


def add_korean(app: Flask, letter: Letter) -> None:
    source = letter_service.parse_letter_file("---\ntitle: 시험 공개 서한\nsummary: 요약\n---\n본문.\n")
    with app.app_context(), db.transaction() as session:
        letter_service.load_file(session, source, now=utcnow(), slug=letter.slug, lang="ko")


def test_the_atom_feed_speaks_the_language_asked_for_and_says_what_it_varies_by(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    add_korean(app, letter)
    publish_update(app, letter, "First news")
    english = client.get(f"/letters/{SLUG}/updates.atom")
    assert {"Accept-Language", "Cookie"} <= set(english.vary)
    feed = ElementTree.fromstring(english.data)  # noqa: S314 (our own answer)
    assert_valid_atom(feed, f"http://localhost/letters/{SLUG}/updates.atom")
    assert feed.get(XML_LANG) == "en" and feed.findtext(f"{ATOM}title") == "Updates: An open letter for testing"

    korean = client.get(f"/letters/{SLUG}/updates.atom?lang=ko")
    assert "Set-Cookie" not in korean.headers  # a feed reader's choice is for this answer only
    feed = ElementTree.fromstring(korean.data)  # noqa: S314
    assert_valid_atom(feed, f"http://localhost/letters/{SLUG}/updates.atom?lang=ko")
    assert feed.get(XML_LANG) == "ko"
    assert "시험 공개 서한" in (feed.findtext(f"{ATOM}title") or "") and "Updates" not in feed.findtext(f"{ATOM}title")
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None and entry.get(XML_LANG) == "en"  # the update itself is in the letter's language
    assert (entry.findtext(f"{ATOM}id") or "").startswith(f"http://localhost/letters/{SLUG}#update-")  # as in English
    by_header = client.get(f"/letters/{SLUG}/updates.atom", headers={"Accept-Language": "ko"})
    assert ElementTree.fromstring(by_header.data).get(XML_LANG) == "ko"  # noqa: S314


def test_the_atom_feed_has_an_etag_and_last_modified_and_answers_304(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    publish_update(app, letter, "First news")
    first = client.get(f"/letters/{SLUG}/updates.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(f"/letters/{SLUG}/updates.atom", headers={"If-None-Match": etag}).status_code == 304
    assert client.get(f"/letters/{SLUG}/updates.atom", headers={"If-Modified-Since": modified}).status_code == 304
    publish_update(app, letter, "Second news")
    again = client.get(f"/letters/{SLUG}/updates.atom", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
