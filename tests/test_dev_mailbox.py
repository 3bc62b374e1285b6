"""The debug-mode mailbox that lets a newcomer confirm without a mail server."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import Letter
from tests.support import sign


@pytest.fixture
def app_config() -> dict[str, object]:
    """Debug mode, as scripts/serve runs it."""
    return {"DEBUG": True}


def test_the_dev_mailbox_lists_and_shows_messages_in_debug(
    app: Flask, client: FlaskClient, letter: Letter, tmp_path: Path
) -> None:
    assert app.debug
    sign(client, "test-letter", email="newcomer@example.org")
    assert app.test_cli_runner().invoke(args=["mail", "send"]).exit_code == 0
    mailbox = client.get("/_dev/mail").get_data(as_text=True)
    assert "newcomer@example.org" in mailbox
    href = mailbox.split('href="/_dev/mail/')[1].split('"')[0]
    message = client.get(f"/_dev/mail/{href}").get_data(as_text=True)
    assert 'href="http://localhost/confirm/' in message
    assert client.get("/_dev/mail/..%2F..%2Fetc%2Fpasswd").status_code == 404
