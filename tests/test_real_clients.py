"""What real clients read: crawlers' files, feed readers, spreadsheets, compressed answers, badges."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import brotli  # type: ignore[import-untyped]
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.db import db, utcnow
from app.models import Letter
from app.services import letters as letter_service
from tests.factories import add_confirmed

SLUG = "test-letter"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_robots_txt_lets_crawlers_read_the_public_pages_but_not_the_moderators(
    client: FlaskClient, letter: Letter
) -> None:
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    assert "Disallow: /moderate" in lines and "Disallow: /confirm/" in lines and "Disallow: /signature/" in lines
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
    assert "Accept-Language" in english.vary and "Cookie" not in english.vary
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


def decoded(response: Any) -> bytes:
    """The body of an answer in whatever encoding it says it is in."""
    data = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "br":
        return brotli.decompress(data)
    assert encoding is None, encoding
    return data


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_text_answers_are_compressed_for_clients_that_accept_it(
    app: Flask, client: FlaskClient, letter: Letter, encoding: str
) -> None:
    add_confirmed(app, letter.id, 3)
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    css = re.search(r'href="(/static/style\.css\?v=\w+)"', page)
    script = re.search(r'src="(/static/live\.js\?v=\w+)"', page)
    assert css and script
    addresses = {
        "text/html": f"/letters/{SLUG}/signatures",
        "application/json": f"/api/v1/letters/{SLUG}/signatures",
        "text/css": css.group(1),
        "text/javascript": script.group(1),
        "image/svg+xml": f"/letters/{SLUG}/badge.svg",
        "text/csv": f"/letters/{SLUG}/signatures.csv",
        "application/atom+xml": f"/letters/{SLUG}/updates.atom",
    }
    for mimetype, path in addresses.items():
        plain = client.get(path)
        assert plain.status_code == 200 and plain.mimetype == mimetype, path
        assert "Content-Encoding" not in plain.headers, path
        assert "Accept-Encoding" in plain.headers["Vary"], path
        squeezed = client.get(path, headers={"Accept-Encoding": f"{encoding}, identity;q=0.5"})
        assert squeezed.headers.get("Content-Encoding") == encoding, path
        assert "Accept-Encoding" in squeezed.headers["Vary"], path
        body = decoded(squeezed)
        if mimetype != "text/csv":  # the CSV is the same file; its rows differ by nothing here either
            assert body == plain.get_data(), path
        assert len(squeezed.get_data()) < len(body), path
        plain.close()
        squeezed.close()
    # The new visitor's cached letter page (kept plain, each client gets its own encoding).
    fresh = app.test_client()
    first = fresh.get(f"/letters/{SLUG}", headers={"Accept-Encoding": encoding})
    assert first.headers["Content-Encoding"] == encoding and b"</html>" in decoded(first)
    assert b"</html>" in app.test_client().get(f"/letters/{SLUG}").get_data()


def test_a_compressed_answer_has_a_weak_etag_that_still_gets_304(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    add_confirmed(app, letter.id, 20)
    headers = {"Accept-Encoding": "gzip"}
    checked = []
    for path in (
        f"/api/v1/letters/{SLUG}/signatures",
        f"/letters/{SLUG}/signatures.csv",
        f"/letters/{SLUG}/updates.atom",
    ):
        first = client.get(path, headers=headers)
        etag = first.headers.get("ETag")
        first.close()
        if first.headers.get("Content-Encoding") != "gzip" or etag is None:
            continue  # too small to be worth compressing
        assert etag.startswith('W/"'), path
        again = client.get(path, headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304, path
        again.close()
        checked.append(path)
    assert f"/letters/{SLUG}/signatures.csv" in checked and f"/letters/{SLUG}/updates.atom" in checked
    # A byte range, HEAD and a small answer are left as they are.
    ranged = client.get(f"/letters/{SLUG}/signatures.csv", headers={**headers, "Range": "bytes=3-6"})
    assert ranged.status_code == 206 and "Content-Encoding" not in ranged.headers
    ranged.close()
    assert "Content-Encoding" not in client.head(f"/letters/{SLUG}", headers=headers).headers
    assert "Content-Encoding" not in client.get("/robots.txt", headers=headers).headers


def test_compression_can_be_left_to_a_proxy(app_config: dict[str, Any], letter: Letter, app: Flask) -> None:
    from app import create_app

    plain = create_app({**app.config, "COMPRESS_RESPONSES": False})
    try:
        answer = plain.test_client().get(f"/letters/{SLUG}", headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
    finally:
        with plain.app_context():
            db.engine.dispose()  # its own connections, closed now rather than by the garbage collector
