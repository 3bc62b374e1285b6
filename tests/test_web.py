"""What every page shares: security headers, static caching, the debug-only mailbox."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from app import create_app
from app.models import Letter


def test_security_headers_on_pages_and_api(client: FlaskClient, letter: Letter) -> None:
    for path in ("/", "/api/v1/letters", "/nothing"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_no_inline_scripts_or_styles(client: FlaskClient, letter: Letter) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "<script>" not in html
    assert "<script src=" in html
    assert "style=" not in html and "<style" not in html


def test_versioned_static_files_are_cached_for_a_year(client: FlaskClient, letter: Letter) -> None:
    html = client.get("/").get_data(as_text=True)
    href = html.split('rel="stylesheet" href="')[1].split('"')[0]
    assert "?v=" in href
    response = client.get(href)
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["Cache-Control"]
    response.close()


def test_the_dev_mailbox_does_not_exist_outside_debug(client: FlaskClient) -> None:
    assert client.get("/_dev/mail").status_code == 404


def test_debug_mode_is_what_registers_the_mailbox(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "BASE_URL": "http://localhost"})
    assert "dev.mailbox" not in app.view_functions
