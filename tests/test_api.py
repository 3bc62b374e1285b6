"""The public JSON API and the signer list: fields, caching, keyset pagination, search, privacy."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import Letter
from tests.factories import add_confirmed
from tests.support import recorded_sql

pytestmark = pytest.mark.engines

SLUG = "test-letter"


@pytest.fixture
def add_signatures(app: Flask, letter: Letter) -> Callable[..., None]:
    """Store confirmed signatures of the test letter directly (see tests.support.add_confirmed)."""

    def add(count: int, **options: Any) -> None:
        add_confirmed(app, letter.id, count, **options)

    return add


def test_letters_list(client: FlaskClient, letter: Letter) -> None:
    data = client.get("/api/v1/letters").get_json()
    assert [item["slug"] for item in data["letters"]] == [SLUG]


def test_letter_fields(client: FlaskClient, letter: Letter, add_signatures: Callable[..., None]) -> None:
    add_signatures(3)
    data = client.get(f"/api/v1/letters/{SLUG}").get_json()
    assert data["slug"] == SLUG
    assert data["title"] == "An open letter for testing"
    assert data["signature_count"] == 3
    assert data["updated_at"].endswith("Z")
    assert data["open"] is True
    assert data["goal"] == 100
    assert data["url"] == f"http://localhost/letters/{SLUG}"


def test_letter_supports_etag_and_short_caching(
    client: FlaskClient, letter: Letter, add_signatures: Callable[..., None]
) -> None:
    first = client.get(f"/api/v1/letters/{SLUG}")
    etag = first.headers["ETag"]
    assert "max-age=" in first.headers["Cache-Control"]
    unchanged = client.get(f"/api/v1/letters/{SLUG}", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b""
    add_signatures(1)
    changed = client.get(f"/api/v1/letters/{SLUG}", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["signature_count"] == 1
    assert changed.headers["ETag"] != etag


def test_reading_the_count_does_not_count_rows(
    app: Flask, client: FlaskClient, letter: Letter, add_signatures: Callable[..., None]
) -> None:
    add_signatures(5)
    with recorded_sql(app) as seen:
        assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 5
        assert client.get(f"/letters/{SLUG}").status_code == 200
    assert seen, "the queries were not recorded"
    assert not [text for text, _ in seen if "count(" in text.lower()]


def test_signatures_are_public_fields_only_newest_first(
    client: FlaskClient, letter: Letter, add_signatures: Callable[..., None]
) -> None:
    add_signatures(3, city="Seoul", country="KR", comment="Yes.")
    add_signatures(2, public=False)
    data = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()
    names = [s["name"] for s in data["signatures"]]
    assert names == ["Signer 0002", "Signer 0001", "Signer 0000"]
    assert set(data["signatures"][0]) == {
        "id",
        "name",
        "affiliation",
        "country",
        "city",
        "comment",
        "signed_at",
        "verified",
        "founding",
        "confirmed_domain",
        "confirmed_organisation",
        "version",
    }
    assert data["signatures"][0]["country"] == "KR"
    assert data["next_cursor"] is None
    assert "@" not in str(data)


def test_keyset_pagination_walks_every_signer_once(
    client: FlaskClient, letter: Letter, add_signatures: Callable[..., None]
) -> None:
    add_signatures(25)
    add_signatures(10, same_time=True)  # ties on the timestamp are broken by id
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        data = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string=query).get_json()
        seen += [s["name"] for s in data["signatures"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 35
    assert len(set(seen)) == 35


@pytest.mark.parametrize("signature_id", ["2147483648", "99999999999", "999999999999999999"])
def test_a_cursor_with_an_id_beyond_any_row_means_every_row_of_that_instant(
    client: FlaskClient, letter: Letter, add_signatures: Callable[..., None], signature_id: str
) -> None:
    # Ids are 32-bit on PostgreSQL: an edited cursor must not overflow the comparison (it was a 500).
    add_signatures(5, same_time=True)
    first = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"limit": 2}).get_json()
    micros = first["next_cursor"].split("-")[0]
    response = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"cursor": f"{micros}-{signature_id}"})
    assert response.status_code == 200
    assert len(response.get_json()["signatures"]) == 5


def test_the_html_list_pages_with_cursors_too(
    client: FlaskClient, letter: Letter, add_signatures: Callable[..., None]
) -> None:
    add_signatures(60)
    first = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "Signer 0059" in first and "Signer 0009" not in first
    assert 'rel="next"' in first
    next_href = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(next_href).get_data(as_text=True)
    assert "Signer 0009" in second and "Signer 0059" not in second
    assert 'rel="next"' not in second


def test_search_by_name_and_affiliation(
    client: FlaskClient, letter: Letter, add_signatures: Callable[..., None]
) -> None:
    add_signatures(1, name="김민지", affiliation="Studio 100%")
    add_signatures(1, name="Jane_Doe", affiliation="Ghibli")
    add_signatures(5)

    def names(q: str) -> list[str]:
        data = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"q": q}).get_json()
        return [s["name"] for s in data["signatures"]]

    assert names("김민지") == ["김민지"]
    assert names("김민") == ["김민지"]  # one or two characters: names that begin with them
    assert names("민지") == []
    assert names("ghibli") == ["Jane_Doe"]
    assert names("100%") == ["김민지"]
    assert names("e_d") == ["Jane_Doe"]  # _ is literal, not a wildcard
    assert names("%") == []
    assert names("J_") == []
    assert names("ja") == ["Jane_Doe"]
    html = client.get(f"/letters/{SLUG}/signatures", query_string={"q": "ghibli"}).get_data(as_text=True)
    assert "Jane_Doe" in html and "김민지" not in html


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_a_bad_limit_is_400_with_a_message(client: FlaskClient, letter: Letter, limit: str) -> None:
    response = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"limit": limit})
    assert response.status_code == 400
    assert "limit must be a whole number from 1 to 100" in response.get_json()["message"]


def test_unknown_letter_is_a_json_404(client: FlaskClient) -> None:
    for path in ("/api/v1/letters/nope", "/api/v1/letters/nope/signatures"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.is_json
        assert response.get_json()["message"] == "There is no letter at this address."


def test_openapi_document_describes_every_api_route(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {"/api/v1" + re.sub(r"\{(\w+)\}", r"<\1>", path) for path in document["paths"]}
    # Flask's converters (<int:id>) are the documents' schemas.
    routes = {
        re.sub(r"<\w+:(\w+)>", r"<\1>", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
    }
    assert routes - {"/api/v1/openapi.json"} == documented
    assert set(document["components"]["schemas"]["Letter"]["required"]) >= {
        "slug",
        "title",
        "signature_count",
        "updated_at",
    }


def test_a_whole_number_written_with_a_decimal_point_is_taken_as_json_schema_allows(
    client: FlaskClient, letter: Letter
) -> None:
    # Found by schemathesis: the document says "integer", and JSON Schema counts 5.0 as one.
    assert client.get(f"/api/v1/letters/{letter.slug}/signatures?limit=5.0").status_code == 200
    assert client.get(f"/api/v1/letters/{letter.slug}/log/entries?start=0.0").status_code == 200
    for bad in ("5.5", "1e2", "٥", "-1", "5."):
        response = client.get(f"/api/v1/letters/{letter.slug}/signatures?limit={bad}")
        assert response.status_code == 400, bad
        assert response.get_json()["message"] == "limit must be a whole number from 1 to 100."
