"""The short-lived caches of public answers: fresh within PAGE_CACHE_SECONDS, never one visitor's data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.caching import TTLCache
from app.db import db
from app.models import Letter
from tests.factories import add_confirmed
from tests.support import ManualClock, recorded_sql

SLUG = "test-letter"
API = f"/api/v1/letters/{SLUG}"
LIFETIME = 2


def _count(client: FlaskClient) -> int:
    response = client.get(API)
    assert response.status_code == 200
    count: int = response.get_json()["signature_count"]
    return count


@pytest.fixture
def other_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """Another app server on the same database, with caches of its own (as another process has)."""
    settings = ("SECRET_KEY", "BASE_URL", "MAIL_OUTBOX_DIR", "EMAIL_CHECK_DELIVERABILITY", "PAGE_CACHE_SECONDS")
    other = create_app({"TESTING": True, "DATABASE_URL": database_url, **{name: app.config[name] for name in settings}})
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.mark.settings(PAGE_CACHE_SECONDS=1)
def test_the_count_api_answers_again_without_the_database(app: Flask, client: FlaskClient, letter: Letter) -> None:
    first = client.get(API)
    with recorded_sql(app) as queries:
        again = client.get(API)
        not_modified = client.get(API, headers={"If-None-Match": first.headers["ETag"]})
    assert queries == []
    assert again.status_code == 200 and again.data == first.data
    # The same headers as the app's own answer (security headers, ETag, Cache-Control).
    assert {k: v for k, v in again.headers.items() if k != "Date"} == {
        k: v for k, v in first.headers.items() if k != "Date"
    }
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert not_modified.headers["ETag"] == first.headers["ETag"]
    assert not_modified.headers["Cache-Control"] == "public, max-age=2"
    assert "Content-Security-Policy" in not_modified.headers and "Content-Type" not in not_modified.headers


@pytest.mark.settings(PAGE_CACHE_SECONDS=1)
def test_if_none_match_on_a_cold_cache_is_answered_304(client: FlaskClient, letter: Letter, other_app: Flask) -> None:
    etag = client.get(API).headers["ETag"]
    cold = other_app.test_client()
    assert cold.get(API, headers={"If-None-Match": etag}).status_code == 304
    assert cold.get(API, headers={"If-None-Match": '"something-else"'}).status_code == 200
    assert cold.get(API, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304


@pytest.mark.settings(PAGE_CACHE_SECONDS=1)
def test_a_change_made_by_this_process_shows_at_once(app: Flask, client: FlaskClient, letter: Letter) -> None:
    etag = client.get(API).headers["ETag"]
    assert _count(client) == 0
    add_confirmed(app, letter.id, 3)
    assert _count(client) == 3
    assert client.get(API, headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.settings(PAGE_CACHE_SECONDS=LIFETIME)
def test_a_change_made_elsewhere_shows_within_the_lifetime(
    client: FlaskClient, letter: Letter, other_app: Flask, clock: ManualClock
) -> None:
    assert _count(client) == 0
    add_confirmed(other_app, letter.id, 2)
    clock.advance(LIFETIME - 0.01)
    assert _count(client) == 0  # kept for at most PAGE_CACHE_SECONDS
    clock.advance(0.01)
    assert _count(client) == 2


@pytest.mark.settings(PAGE_CACHE_SECONDS=0)
def test_no_cache_when_turned_off(client: FlaskClient, letter: Letter, other_app: Flask) -> None:
    assert _count(client) == 0
    add_confirmed(other_app, letter.id, 2)
    assert _count(client) == 2


@pytest.mark.settings(PAGE_CACHE_SECONDS=1)
def test_errors_and_other_addresses_are_not_kept(app: Flask, client: FlaskClient, letter: Letter) -> None:
    for _ in range(2):
        missing = client.get("/api/v1/letters/no-such-letter")
        assert missing.status_code == 404 and missing.get_json()["error"] == "letter_not_found"
    add_confirmed(app, letter.id, 1)
    assert client.get(API + "?x=1").get_json()["signature_count"] == 1
    assert client.head(API).status_code == 200


@pytest.mark.settings(PAGE_CACHE_SECONDS=1)
def test_no_cookie_is_kept_or_shared(app: Flask, letter: Letter) -> None:
    first, second = app.test_client(), app.test_client()
    first.get("/moderate/login")  # a session of its own
    for client in (first, second):
        response = client.get(API)
        assert "Set-Cookie" not in response.headers
    assert second.get_cookie("session") is None


@pytest.mark.settings(PAGE_CACHE_SECONDS=60)
def test_kept_pages_follow_the_language(app: Flask, letter: Letter) -> None:
    english = app.test_client().get(f"/letters/{SLUG}/signatures")
    korean = app.test_client().get(f"/letters/{SLUG}/signatures", headers={"Accept-Language": "ko"})
    chosen = app.test_client().get(f"/letters/{SLUG}/signatures?lang=ko", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert '<html lang="ko">' in korean.get_data(as_text=True)
    assert '<html lang="ko">' in chosen.get_data(as_text=True)


@pytest.mark.settings(PAGE_CACHE_SECONDS=LIFETIME)
def test_the_list_shows_a_new_signer_within_the_lifetime(
    app: Flask, client: FlaskClient, letter: Letter, other_app: Flask, clock: ManualClock
) -> None:
    add_confirmed(app, letter.id, 1, name="Grace Hopper")
    assert "Grace Hopper" in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "Grace Hopper" in client.get(f"/letters/{SLUG}/newest").get_data(as_text=True)
    add_confirmed(other_app, letter.id, 1, name="Katherine Johnson")
    clock.advance(LIFETIME - 0.01)
    for path in (f"/letters/{SLUG}/signatures", f"/letters/{SLUG}/newest"):
        assert "Katherine Johnson" not in client.get(path).get_data(as_text=True), path
    clock.advance(0.01)
    for path in (f"/letters/{SLUG}/signatures", f"/letters/{SLUG}/newest", f"/letters/{SLUG}"):
        assert "Katherine Johnson" in client.get(path).get_data(as_text=True), path
    add_confirmed(app, letter.id, 1, name="Dorothy Vaughan")  # this process: at once
    for path in (f"/letters/{SLUG}/signatures", f"/letters/{SLUG}/newest", f"/letters/{SLUG}"):
        assert "Dorothy Vaughan" in client.get(path).get_data(as_text=True), path


@pytest.mark.settings(PAGE_CACHE_SECONDS=60)
def test_searches_and_pages_are_kept_apart(app: Flask, client: FlaskClient, letter: Letter) -> None:
    add_confirmed(app, letter.id, 2, name="Grace Hopper")
    add_confirmed(app, letter.id, 1, name="Ada Lovelace")
    hopper = client.get(f"/letters/{SLUG}/signatures?q=Hopper").get_data(as_text=True)
    lovelace = client.get(f"/letters/{SLUG}/signatures?q=Lovelace").get_data(as_text=True)
    assert "Grace Hopper" in hopper and "Ada Lovelace" not in hopper
    assert "Ada Lovelace" in lovelace and "Grace Hopper" not in lovelace
    assert client.get(f"/letters/{SLUG}/signatures?cursor=nonsense").status_code == 400
    assert client.get("/letters/no-such-letter/signatures").status_code == 404


def test_the_cache_is_bounded_and_forgets_after_its_lifetime() -> None:
    now = [0.0]
    cache = TTLCache(1, max_entries=2, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)  # the oldest goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    now[0] = 0.99
    assert cache.get("b") == 2
    now[0] = 1.0
    assert cache.get("b") is None and cache.get("c") is None
    cache.put("d", 4)
    cache.clear()
    assert cache.get("d") is None
    off = TTLCache(0)
    off.put("a", 1)
    assert not off.enabled and off.get("a") is None
