"""Share, embed and follow progress: tags for link previews, the badge, the embed page, the goal, comments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import ConfigError
from app.models import Letter
from app.services.progress import next_round_number, progress
from tests.factories import add_confirmed

SLUG = "test-letter"


def test_the_letter_page_has_link_preview_tags_a_canonical_address_and_share_links(
    client: FlaskClient, letter: Letter
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert f'<link rel="canonical" href="http://localhost/letters/{SLUG}">' in page
    assert '<meta property="og:title" content="An open letter for testing">' in page
    assert f'<meta property="og:url" content="http://localhost/letters/{SLUG}">' in page
    image = re.search(
        r'<meta property="og:image" content="http://localhost(/letters/test-letter/preview\.png\?v=\w+)">', page
    )
    assert image, "a share image with an absolute, versioned address"
    served = client.get(image.group(1))
    assert served.status_code == 200 and served.mimetype == "image/png"
    served.close()
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    encoded = "http%3A%2F%2Flocalhost%2Fletters%2Ftest-letter"
    for href in (
        f"https://x.com/intent/post?text=An%20open%20letter%20for%20testing&amp;url={encoded}",
        f"https://www.facebook.com/sharer/sharer.php?u={encoded}",
        "mailto:?subject=An%20open%20letter%20for%20testing&amp;body=",
    ):
        assert f'href="{href}' in page, href
    assert f'data-copy="http://localhost/letters/{SLUG}"' in page
    own = ('<script src="/static/live.js', '<script src="/static/share.js')
    assert "<script" not in page.replace(own[0], "").replace(own[1], "")  # no third-party script


def test_the_badge_is_a_small_cacheable_svg_with_the_live_count(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    add_confirmed(app, letter.id, 3)
    response = client.get(f"/letters/{SLUG}/badge.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400"
    assert "Set-Cookie" not in response.headers
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg ") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert ">3 signatures</text>" in svg and svg.count("<text ") == 1  # not "signatures | 3 signatures"
    assert "<title>An open letter for testing: 3 signatures</title>" in svg
    assert len(svg) < 2000
    korean = client.get(f"/letters/{SLUG}/badge.svg?lang=ko")
    assert ">3명</text>" in korean.get_data(as_text=True)
    assert "Set-Cookie" not in korean.headers  # the choice is for this answer only
    # Without ?lang= the words come from Accept-Language; with it, from the address alone.
    assert "Accept-Language" in response.vary and "Accept-Language" not in korean.vary
    assert client.get("/letters/nope/badge.svg").status_code == 404


def test_the_badge_escapes_the_title(app: Flask, client: FlaskClient, create_letter: object) -> None:
    from tests.factories import LETTER_TEXT

    create_letter(LETTER_TEXT.replace("An open letter for testing", 'Tom & "Jerry" <b>'))  # type: ignore[operator]
    svg = client.get(f"/letters/{SLUG}/badge.svg").get_data(as_text=True)
    assert "Tom &amp; &#34;Jerry&#34; &lt;b&gt;" in svg


def test_a_closed_letters_badge_says_closed(app: Flask, client: FlaskClient, closed_letter: Letter) -> None:
    add_confirmed(app, closed_letter.id, 5)
    svg = client.get("/letters/closed-letter/badge.svg").get_data(as_text=True)
    assert ">5 signatures</text>" in svg and ">closed</text>" in svg
    assert "(closed)</title>" in svg
    assert ">마감</text>" in client.get("/letters/closed-letter/badge.svg?lang=ko").get_data(as_text=True)


def test_the_embed_page_may_be_framed_and_opens_the_letter_to_sign(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    add_confirmed(app, letter.id, 42)
    response = client.get(f"/letters/{SLUG}/embed?lang=ko")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "script-src 'self'" in csp
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers
    html = response.get_data(as_text=True)
    assert '<html lang="ko">' in html
    assert '<progress id="goal-progress" max="100" value="42"' in html
    assert "목표 100명 중 42명" in html
    assert f'href="http://localhost/letters/{SLUG}#sign" target="_blank" rel="noopener">이 서한에 서명하기' in html
    # Every other page still refuses to be framed.
    assert "frame-ancestors 'none'" in client.get(f"/letters/{SLUG}").headers["Content-Security-Policy"]


@pytest.mark.settings(EMBED_ALLOWED_ORIGINS="https://partner.example https://*.friends.example")
def test_embedding_can_be_limited_to_named_sites(client: FlaskClient, letter: Letter) -> None:
    for path in (f"/letters/{SLUG}/embed", f"/letters/{SLUG}/badge.svg"):
        csp = client.get(path).headers["Content-Security-Policy"]
        assert "frame-ancestors https://partner.example https://*.friends.example;" in csp + ";", path


@pytest.mark.parametrize("value", ["https://a.example; script-src *", "https://a.example, https://b", ""])
def test_a_malformed_embed_setting_stops_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="EMBED_ALLOWED_ORIGINS"):
        create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                "BASE_URL": "http://localhost",
                "EMBED_ALLOWED_ORIGINS": value,
            }
        )


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, 1), (1, 2), (4, 5), (5, 10), (99, 100), (100, 200), (1000, 2000), (1999, 2000), (2000, 5000)],
)
def test_the_next_round_number(number: int, expected: int) -> None:
    assert next_round_number(number) == expected


def test_the_goal_moves_up_once_it_is_reached() -> None:
    assert progress(10, None) is None
    on_the_way = progress(250, 1000)
    assert on_the_way is not None and (on_the_way.goal, on_the_way.reached, on_the_way.percent) == (1000, None, 25)
    reached = progress(1000, 1000)
    assert reached is not None and (reached.goal, reached.reached, reached.percent) == (2000, 1000, 50)
    beyond = progress(2600, 1000)
    assert beyond is not None and (beyond.goal, beyond.reached) == (5000, 1000)


def test_the_page_shows_progress_the_next_goal_and_when_signing_closes(
    app: Flask, client: FlaskClient, create_letter: object
) -> None:
    from datetime import timedelta

    from app.db import utcnow

    letter = create_letter(closes_at=utcnow() + timedelta(days=3))  # type: ignore[operator]
    add_confirmed(app, letter.id, 30)
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    bar = '<progress id="goal-progress" max="100" value="30" aria-labelledby="goal-progress-text">30%</progress>'
    assert bar in page
    assert "30 of the goal of 100 signatures" in page
    assert re.search(r'Signing closes on <time datetime="[^"]+">', page)
    add_confirmed(app, letter.id, 75)
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert '<progress id="goal-progress" max="200" value="105"' in page
    assert "105 of the next goal of 200 signatures" in page
    assert "The goal of 100 signatures has been reached." in page
    # The polled JSON carries the same goal, so the page's script never works it out again.
    shown = client.get(f"/api/v1/letters/{SLUG}").get_json()["progress"]
    assert shown == {"goal": 200, "percent": 52, "reached": 100}


def test_comments_show_with_public_signatures_shortened_with_a_link_to_the_whole(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    long_comment = "I draw for a living. " * 30
    add_confirmed(app, letter.id, 1, name="Quiet Signer")
    add_confirmed(app, letter.id, 1, name="Short Story", comment="Pay us.")
    add_confirmed(app, letter.id, 1, name="Long Story", comment=long_comment)
    add_confirmed(app, letter.id, 1, name="Hidden Story", comment="Not for the list.", public=False)

    page = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "<q>Pay us.</q>" in page
    assert long_comment.strip() not in page  # shortened...
    more = re.search(r'<a class="more" href="(/letters/test-letter/signatures/\d+)">more<', page)
    assert more, "...with a link to the rest"
    whole = client.get(more.group(1)).get_data(as_text=True)
    assert long_comment.strip() in whole and "<h1>Long Story</h1>" in whole
    assert "Not for the list." not in page and "Hidden Story" not in page

    only = client.get(f"/letters/{SLUG}/signatures?comments=1").get_data(as_text=True)
    assert "Short Story" in only and "Long Story" in only
    assert "Quiet Signer" not in only
    assert "Quiet Signer" in page


def test_a_hidden_or_unknown_signature_has_no_page(app: Flask, client: FlaskClient, letter: Letter) -> None:
    add_confirmed(app, letter.id, 1, name="Hidden", comment="x", public=False)
    page = client.get(f"/letters/{SLUG}/signatures/1")
    assert page.status_code == 404
    assert client.get(f"/letters/{SLUG}/signatures/999").status_code == 404


def test_the_letter_page_refreshes_its_newest_signers_from_a_fragment(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    add_confirmed(app, letter.id, 2)
    fragment = client.get(f"/letters/{SLUG}/newest").get_data(as_text=True)
    assert fragment.count('<li class="signer">') == 2
    assert "<html" not in fragment
