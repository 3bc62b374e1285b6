"""Founding signatories: imported from CSV through the signing service, confirmed by email, shown apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.models import Letter, SignatureStatus
from tests.factories import stored_signatures
from tests.support import SMTPSink, csrf_token, link_in, path_of, smtp_settings, table_counts, text_of

pytestmark = pytest.mark.engines

SLUG = "test-letter"
GOOD = (
    "\ufeffname,email,affiliation,country,city\n"
    "Ada Lovelace,ADA@Example.org,Analytical Engine Society,gb,London\n"
    "Grace Hopper,grace@example.org,,US,\n"
    '"Hopper, Grace (no: Jean Bartik)",jean@example.org,"ENIAC, Inc.",,Philadelphia\n'
)


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    return smtp_settings(smtp_sink)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "founders.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_founders_are_signed_mailed_and_counted_once_they_confirm(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    result = runner.invoke(args=["signatures", "import-founding", SLUG, write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert "Imported 3 founding signatories into 'test-letter'" in result.output
    signatures = stored_signatures(app)
    assert [(s.name, s.email, s.country, s.status, s.founding) for s in signatures] == [
        ("Ada Lovelace", "ADA@example.org", "GB", SignatureStatus.UNCONFIRMED, True),
        ("Grace Hopper", "grace@example.org", "US", SignatureStatus.UNCONFIRMED, True),
        ("Hopper, Grace (no: Jean Bartik)", "jean@example.org", None, SignatureStatus.UNCONFIRMED, True),
    ]
    assert signatures[2].affiliation == "ENIAC, Inc." and signatures[0].public
    # Not counted before confirming.
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 0

    assert runner.invoke(args=["mail", "send"]).exit_code == 0
    [message] = smtp_sink.messages_to("ADA@example.org")
    assert message["Subject"] == "Confirm your signature: An open letter for testing"
    assert "Hello Ada Lovelace" in text_of(message)
    confirm = path_of(link_in(message))
    assert client.post(confirm, data={"csrf_token": csrf_token(client, confirm)}).status_code == 200

    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 1
    html = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    founders = html.split('id="founding-heading"')[1].split("</section>")[0]
    assert "Ada Lovelace" in founders and "Grace Hopper" not in founders  # only confirmed ones
    newest = html.split('id="signers-heading"')[1].split("</section>")[0]
    assert "Ada Lovelace" not in newest
    api = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]
    assert [(s["name"], s["founding"]) for s in api] == [("Ada Lovelace", True)]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "name,email,country\n"
            "Ada Lovelace,ada@example.org,GB\n"
            "Bad Address,not-an-address,\n"
            "<b>Bold</b>,bold@example.org,\n"
            ",noname@example.org,\n"
            "Ada Again,Ada@Example.org,\n"
            "Nowhere,nowhere@example.org,XX\n"
            "Too,many@example.org,GB,extra\n",
            [
                "line 3: email: Please enter a valid email address, like name@example.org.",
                "line 4: name: Please use plain text: HTML tags are not allowed here.",
                "line 5: name: Please enter your name.",
                "line 6: the same address as line 2",
                "line 7: country: Not a valid choice.",
                "line 8: more fields than columns",
            ],
        ),
        ("name,e-mail\nAda,ada@example.org\n", ["line 1: missing column 'email'", "line 1: unknown column 'e-mail'"]),
        ("", ["the file is empty"]),
        ("name,email\n", ["the file has no signatories below its header"]),
        ('name,email,city\nAda,ada@example.org,"Lon\ndon"\n', ["line 2: city: Please use one line"]),
    ],
)
def test_a_file_with_a_bad_row_stores_nothing_and_names_every_problem(
    app: Flask, runner: FlaskCliRunner, letter: Letter, tmp_path: Path, text: str, problems: list[str]
) -> None:
    result = runner.invoke(args=["signatures", "import-founding", SLUG, write(tmp_path, text)])
    assert result.exit_code == 1
    assert "nothing imported" in result.output or "the file" in result.output
    for problem in problems:
        assert problem in result.output
    assert table_counts(app) == {"signatures": 0, "tokens": 0, "outbox_messages": 0, "jobs": 0}


def test_a_file_that_is_not_utf8_or_a_closed_letter_stores_nothing(
    app: Flask, runner: FlaskCliRunner, closed_letter: Letter, letter: Letter, tmp_path: Path
) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("name,email\nZoë,zoe@example.org\n".encode("latin-1"))
    result = runner.invoke(args=["signatures", "import-founding", SLUG, str(latin)])
    assert result.exit_code == 1 and "not UTF-8 text" in result.output
    result = runner.invoke(args=["signatures", "import-founding", closed_letter.slug, write(tmp_path, GOOD)])
    assert result.exit_code == 1 and "is closed to signatures" in result.output
    result = runner.invoke(args=["signatures", "import-founding", "nope", write(tmp_path, GOOD)])
    assert result.exit_code == 1 and "no letter with slug 'nope'" in result.output
    assert table_counts(app) == {"signatures": 0, "tokens": 0, "outbox_messages": 0, "jobs": 0}
