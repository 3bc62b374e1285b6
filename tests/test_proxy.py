"""Behind a reverse proxy: X-Forwarded-* is trusted only as far as PROXY_FIX_* says."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from app.models import Letter


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each test's proxy settings (indirect parametrisation)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def app(app: Flask) -> Flask:
    """The app with a throwaway route that shows what it believes about the request."""

    def seen() -> dict[str, Any]:
        return {"remote_addr": request.remote_addr, "scheme": request.scheme, "host": request.host}

    app.add_url_rule("/_test/seen", "test_seen", seen)
    return app


FORGED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}


@pytest.mark.parametrize("app_config", [{"PROXY_FIX_X_FOR": 1}], indirect=True)
def test_one_trusted_proxy_gives_the_clients_address(client: FlaskClient) -> None:
    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
    seen = client.get("/_test/seen", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"}).get_json()
    assert seen["remote_addr"] == "203.0.113.9"  # the address our one proxy saw, not what the client claimed


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_without_a_proxy_forged_headers_are_ignored(app: Flask, client: FlaskClient) -> None:
    assert all(app.config[f"PROXY_FIX_X_{part}"] == 0 for part in ("FOR", "PROTO", "HOST", "PORT", "PREFIX"))
    response = client.get("/_test/seen", headers=FORGED, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert response.get_json() == {"remote_addr": "10.0.0.2", "scheme": "http", "host": "localhost"}
    assert "Strict-Transport-Security" not in response.headers


HTTPS_PROXY = {"PROXY_FIX_X_PROTO": 1, "PROXY_FIX_X_HOST": 1, "BASE_URL": "https://letters.example"}


@pytest.mark.parametrize("app_config", [HTTPS_PROXY], indirect=True)
def test_https_at_the_proxy_gives_hsts_and_secure_cookies(client: FlaskClient, letter: Letter) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "letters.example"}
    assert client.get("/_test/seen", headers=headers).get_json()["host"] == "letters.example"
    response = client.get(f"/letters/{letter.slug}", headers=headers)
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Set-Cookie" not in response.headers  # a public page sets none; a page with a form does
    response = client.get(f"/letters/{letter.slug}/resend", headers=headers)
    [cookie] = response.headers.getlist("Set-Cookie")
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith("session=") and "secure" in attributes and "httponly" in attributes
    assert "samesite=lax" in attributes

    plain = client.get(f"/letters/{letter.slug}")  # the proxy says nothing: plain http
    assert "Strict-Transport-Security" not in plain.headers
