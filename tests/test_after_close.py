"""Privacy after a letter ends: names hidden once it closes, noindex, count-only downloads, a retention date.

Each setting on each public surface (the letter page's boxes, the list and its search, a signer's
page, the API, the CSV and JSON downloads, the snapshots, the log's entries), and the log still
verifying (``flask log verify`` and the standalone verifier against a live site) after the names
are hidden and after the personal data is erased.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import db, utcnow
from app.models import AuditEntry, Letter, LogEvent, Moderator, ModeratorRole, Signature, SignatureStatus
from app.services import after_close
from app.worker import hide_closed_names, sequence_logs, snapshot_logs
from tests import factories
from tests.factories import log_in, sign_and_confirm
from tests.support import csrf_token, rows

pytestmark = pytest.mark.engines

SLUG = "test-letter"
LETTER = f"/letters/{SLUG}"
VERIFIER = Path(__file__).resolve().parent.parent / "verifier" / "undersigned_verify.py"
NAMES = ("Ada Lovelace", "Grace Hopper", "Katherine Johnson")


@pytest.fixture
def admin(app: Flask, client: FlaskClient, create_moderator: Callable[..., Moderator]) -> FlaskClient:
    """The test client, signed in as an admin."""
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    assert log_in(client, "admin@example.org").status_code == 303
    return client


def settings(app: Flask, slug: str = SLUG, **values: Any) -> None:
    """Set a letter's columns directly (committed)."""
    with app.app_context(), db.transaction() as session:
        letter = session.scalar(sa.select(Letter).where(Letter.slug == slug))
        assert letter is not None
        for key, value in values.items():
            setattr(letter, key, value)


def signed(app: Flask, client: FlaskClient) -> list[int]:
    """Three signers through the form and the mail (one verified, one with a comment), in the log."""
    ids = []
    for number, name in enumerate(NAMES):
        ids.append(
            sign_and_confirm(
                app, client, f"s{number}@example.org", name=name, city="Leeds", comment=f"Comment of {name}"
            ).id
        )
    with app.app_context(), db.transaction() as session:
        first = session.get(Signature, ids[0])
        assert first is not None
        first.verified_at = utcnow()
        first.verified_note = "Called her"
    sequence(app)
    return ids


def sequence(app: Flask) -> None:
    with app.app_context():
        sequence_logs()


def set_state(client: FlaskClient, wanted: str) -> Any:
    path = f"/moderate/letters/{SLUG}/edit"
    return client.post(
        f"/moderate/letters/{SLUG}/signing",
        data={"csrf_token": csrf_token(client, path), "signing": wanted},
        follow_redirects=True,
    )


def public_texts(client: FlaskClient, ids: list[int]) -> dict[str, str]:
    """Every public surface that could name a signer, by address, as text."""
    paths = [
        LETTER,
        f"{LETTER}?lang=ko",
        f"{LETTER}/newest",
        f"{LETTER}/signatures",
        f"{LETTER}/signatures?q=Lovelace",
        f"{LETTER}/signatures?verified=1",
        f"{LETTER}/signatures?comments=1",
        f"{LETTER}/signatures.csv",
        f"{LETTER}/signatures.json",
        f"/api/v1/letters/{SLUG}/signatures",
        f"/api/v1/letters/{SLUG}/signatures?q=Lovelace",
        f"/api/v1/letters/{SLUG}/log/entries?start=0&end=100",
        f"{LETTER}/updates.atom",
        f"{LETTER}/embed",
        f"{LETTER}/log",
    ]
    texts = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        texts[path] = response.get_data(as_text=True)
        response.close()  # a download is sent from its file
    return texts


def log_verify(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output
    return result.output


def verify(url: str) -> tuple[int, str]:
    """Run the standalone verifier in its own process, as an outsider would."""
    result = subprocess.run(
        [sys.executable, str(VERIFIER), url], capture_output=True, text=True, timeout=120, check=False
    )
    return result.returncode, result.stdout + result.stderr


def test_closing_with_hide_names_leaves_the_counts_and_a_verifiable_log_but_no_names(
    app: Flask, admin: FlaskClient, runner: FlaskCliRunner, letter: Letter, live_server: str
) -> None:
    settings(app, hide_names_after_close=True)
    ids = signed(app, admin)
    before = public_texts(admin, ids)
    assert NAMES[0] in before[LETTER] and NAMES[0] in before[f"{LETTER}/signatures.csv"]
    assert admin.get(f"{LETTER}/signatures/{ids[0]}").status_code == 200

    assert b"Signing is closed" in set_state(admin, "close").data
    sequence(app)
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None and stored.names_hidden_at is not None
    after = public_texts(admin, ids)
    for path, text in after.items():
        for name in NAMES:
            assert name not in text, (path, name)
        assert "Comment of" not in text and "Leeds" not in text, path
    # The counts and the tiers stay.
    page = after[LETTER]
    assert "The signers' names are no longer shown" in page
    assert "3 signatures in all" in page and "1 verified signatory" in page
    assert "서명자의 이름은 더 이상 공개되지 않습니다" in after[f"{LETTER}?lang=ko"]
    api = json.loads(after[f"/api/v1/letters/{SLUG}/signatures"])
    assert api == {"signatures": [], "next_cursor": None}
    assert json.loads(admin.get(f"/api/v1/letters/{SLUG}").data)["signature_count"] == 3
    numbers = json.loads(after[f"{LETTER}/signatures.json"])
    assert numbers["signature_count"] == 3 and numbers["verified"] == 1 and numbers["names"] == "withheld"
    assert after[f"{LETTER}/signatures.csv"].lstrip("\ufeff").splitlines()[:2] == ["tier,count", "all,3"]
    for signature_id in ids:
        assert admin.get(f"{LETTER}/signatures/{signature_id}").status_code == 404
        assert admin.get(f"/api/v1/letters/{SLUG}/signatures/{signature_id}").status_code == 404
    # The log: its leaves stay, no entry opens a name, and it says "counted, not named" for each.
    entries = json.loads(after[f"/api/v1/letters/{SLUG}/log/entries?start=0&end=100"])["entries"]
    assert entries and all(entry.get("fields") is None and entry.get("salt") is None for entry in entries)
    assert [json.loads(e["leaf"])["event"] for e in entries][-3:] == ["update"] * 3
    assert log_verify(runner)
    status, output = verify(f"{live_server}{LETTER}")
    assert status == 0, output
    assert "0 listed signatures compared with the log's 0 live listed entries (and 3 counted but unlisted)" in output
    # A snapshot taken now has no rows.
    with app.app_context():
        snapshot_logs()
    snapshot = json.loads(admin.get(f"{LETTER}/snapshots/{utcnow().date().isoformat()}.json").data)
    assert snapshot["signatures"] == []
    assert "letter.close" in [entry.action for entry in rows(app, AuditEntry, order_by=AuditEntry.id)]

    # Opening signing again brings the names back, each with a fresh opening; the log still verifies.
    set_state(admin, "open")
    sequence(app)
    assert NAMES[0] in admin.get(f"{LETTER}/signatures").get_data(as_text=True)
    assert admin.get(f"/api/v1/letters/{SLUG}/signatures/{ids[1]}").status_code == 200
    assert log_verify(runner)
    status, output = verify(f"{live_server}{LETTER}")
    assert status == 0, output


def test_without_the_setting_closing_keeps_the_names(app: Flask, admin: FlaskClient, letter: Letter) -> None:
    ids = signed(app, admin)
    set_state(admin, "close")
    assert NAMES[1] in admin.get(f"{LETTER}/signatures").get_data(as_text=True)
    assert admin.get(f"{LETTER}/signatures/{ids[1]}").status_code == 200


def test_a_letter_closed_by_its_date_has_its_names_hidden_by_the_worker(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    settings(app, hide_names_after_close=True)
    signed(app, client)
    settings(app, closes_at=utcnow() - timedelta(minutes=1))
    # Until the worker's next look the names and the log agree (both still name them).
    assert NAMES[2] in client.get(f"{LETTER}/signatures").get_data(as_text=True)
    with app.app_context():
        assert hide_closed_names() == [SLUG]
        assert hide_closed_names() == []  # once
    sequence(app)
    assert NAMES[2] not in client.get(f"{LETTER}/signatures").get_data(as_text=True)
    log_verify(runner)


def test_a_signature_confirmed_after_the_names_were_hidden_is_counted_not_named(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    settings(app, hide_names_after_close=True)
    signed(app, client)
    with app.app_context(), db.transaction() as session:
        stored = session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None
        stored.closed_at = utcnow()
        after_close.sync_names(session, stored, now=utcnow())
        late = factories.signer(session, stored.id, SignatureStatus.CONFIRMED, name="Late Signer")
        from app import log

        log.record(session, late, "add", now=utcnow())
    sequence(app)
    with app.app_context():
        event = db.session.scalars(sa.select(LogEvent).order_by(LogEvent.id.desc())).first()
        assert event is not None and event.listed is False and event.fields is None
    log_verify(runner)


def test_noindex_on_the_list_and_signer_pages_only_when_set(app: Flask, client: FlaskClient, letter: Letter) -> None:
    [first, *_] = signed(app, client)
    pages = [
        f"{LETTER}/signatures",
        f"{LETTER}/signatures?q=Ada",
        f"{LETTER}/signatures/{first}",
        f"{LETTER}/snapshots/",
    ]
    for path in pages:
        response = client.get(path)
        assert "X-Robots-Tag" not in response.headers, path
        assert b'name="robots"' not in response.data, path
    settings(app, noindex_signers=True)
    for path in pages:
        response = client.get(path)
        assert response.headers.get("X-Robots-Tag") == "noindex", path
        assert b'<meta name="robots" content="noindex">' in response.data, path
    # The letter's own page stays findable.
    assert "X-Robots-Tag" not in client.get(LETTER).headers


def test_a_sensitive_letters_downloads_give_only_the_count_and_the_tiers(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    signed(app, client)
    settings(app, sensitive=True)
    csv_text = client.get(f"{LETTER}/signatures.csv").get_data(as_text=True)
    assert csv_text.lstrip("\ufeff").splitlines()[:4] == ["tier,count", "all,3", "verified,1", "founding,0"]
    numbers = json.loads(client.get(f"{LETTER}/signatures.json").data)
    assert numbers["signature_count"] == 3 and numbers["names"] == "withheld" and "signatures" not in numbers
    with app.app_context():
        snapshot_logs()
    for file_format in ("json", "csv"):
        text = client.get(f"{LETTER}/snapshots/{utcnow().date().isoformat()}.{file_format}").get_data(as_text=True)
        assert all(name not in text for name in NAMES), file_format
    # The list on the site stays while the letter is open (names are hidden only once it ends).
    page = client.get(LETTER).get_data(as_text=True)
    assert NAMES[0] in page and "Download the numbers:" in page


def test_the_retention_date_erases_the_personal_data_and_keeps_the_count_and_the_log(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter, live_server: str
) -> None:
    ids = signed(app, client)
    with app.app_context(), db.transaction() as session:
        held = factories.signer(session, letter.id, SignatureStatus.UNCONFIRMED, name="Not Yet")
        held_id = held.id
    settings(app, personal_data_until=utcnow().date() + timedelta(days=1))
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and "Erased" not in result.output  # the day has not passed
    settings(app, personal_data_until=utcnow().date() - timedelta(days=1))
    result = runner.invoke(args=["purge"])
    assert "Erased" not in result.output  # still open: the data of people signing stays
    settings(app, closed_at=utcnow())
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert f"Erased the personal data of the signers of '{SLUG}'" in result.output
    sequence(app)
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None
        assert stored.signature_count == 3 and stored.names_hidden and stored.personal_data_erased_at
        kept = db.session.scalars(sa.select(Signature).where(Signature.id.in_(ids))).all()
        assert {s.status for s in kept} == {SignatureStatus.CONFIRMED}
        for signature in kept:
            assert signature.name == "" and signature.email == "" and signature.comment is None
            assert signature.city is None and signature.page_key is None and signature.network_hash is None
            assert signature.email_key == f"erased:{signature.id}" and not signature.tokens
        assert db.session.get(Signature, held_id) is None
        assert len([s for s in kept if s.verified_at]) == 1 and not any(s.verified_note for s in kept)
    page = client.get(f"{LETTER}/signatures").get_data(as_text=True)
    assert "3 signatures in all" in page and all(name not in page for name in NAMES)
    log_verify(runner)
    status, output = verify(f"{live_server}{LETTER}")
    assert status == 0, output
    # Once only; opening signing again does not bring names back (there are none).
    assert "Erased" not in runner.invoke(args=["purge"]).output
    with app.app_context(), db.transaction() as session:
        stored = session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None
        stored.closed_at = None
        assert after_close.sync_names(session, stored, now=utcnow()) is None


def test_the_front_matter_and_dump_carry_the_settings(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    source = tmp_path / "letter.md"
    source.write_text(
        "---\ntitle: Quiet letter\nslug: quiet\ncloses: 2027-01-31\nsensitive: true\n"
        "hide_names_after_close: true\npersonal_data_until: 2027-06-30\n---\nThe text.\n"
    )
    result = runner.invoke(args=["letter", "load", str(source)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == "quiet"))
        assert stored is not None
        # "sensitive" turns "noindex" on when the file does not say.
        assert (stored.sensitive, stored.noindex_signers, stored.hide_names_after_close) == (True, True, True)
        assert stored.personal_data_until == date(2027, 6, 30)
    dumped = runner.invoke(args=["letter", "dump", "quiet"]).output
    for line in ("sensitive: true", "noindex_signers: true", "hide_names_after_close: true", "2027-06-30"):
        assert line in dumped
    source.write_text(dumped.replace("noindex_signers: true\n", "noindex_signers: false\n"))
    assert runner.invoke(args=["letter", "load", str(source)]).exit_code == 0
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == "quiet"))
        assert stored is not None and stored.sensitive and not stored.noindex_signers
    source.write_text("---\ntitle: Bad\nslug: bad\ncloses: 2027-01-31\npersonal_data_until: 2027-01-01\n---\nText.\n")
    result = runner.invoke(args=["letter", "load", str(source)])
    assert result.exit_code != 0 and "personal_data_until" in result.output
    source.write_text("---\ntitle: Bad\nslug: bad\nsensitive: maybe\n---\nText.\n")
    result = runner.invoke(args=["letter", "load", str(source)])
    assert result.exit_code != 0 and "'sensitive' must be true or false" in result.output


def test_the_editor_sets_the_settings_explains_them_and_refuses_a_bad_date(
    app: Flask, admin: FlaskClient, letter: Letter
) -> None:
    path = f"/moderate/letters/{SLUG}/edit"
    page = admin.get(path).get_data(as_text=True)
    assert "Privacy after the letter ends" in page and "Hide the names once signing closes" in page
    assert 'aria-describedby="hide_names_after_close-hint"' in page and 'id="hide_names_after_close-hint"' in page
    form = {
        "csrf_token": csrf_token(admin, path),
        "title": "Test letter",
        "body_markdown": letter.body_markdown,
        "moderation_mode": "post",
        "closes": "2027-01-31T18:00",
        "sensitive": "y",
        "hide_names_after_close": "y",
        "personal_data_until": "2027-01-30",
    }
    refused = admin.post(path, data=form)
    assert refused.status_code == 422
    assert "The day must be on or after the closing day." in refused.get_data(as_text=True)
    assert admin.post(path, data=form | {"personal_data_until": "2027-03-01"}).status_code == 303
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None
        assert (stored.sensitive, stored.noindex_signers, stored.hide_names_after_close) == (True, True, True)
        assert stored.personal_data_until == date(2027, 3, 1)
    # Unticking "noindex" on a letter already sensitive keeps it off.
    form["csrf_token"] = csrf_token(admin, path)
    assert admin.post(path, data=form | {"personal_data_until": ""}).status_code == 303
    with app.app_context():
        stored = db.session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert stored is not None and not stored.noindex_signers and stored.personal_data_until is None
    assert "letter.edit" in [entry.action for entry in rows(app, AuditEntry, order_by=AuditEntry.id)]


def test_the_privacy_page_explains_each_choice_and_each_letters(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    page = client.get("/privacy").get_data(as_text=True)
    assert "After a letter ends" in page and "What each letter chose" not in page
    settings(app, hide_names_after_close=True, personal_data_until=date(2027, 6, 30), noindex_signers=True)
    page = client.get("/privacy").get_data(as_text=True)
    assert "What each letter chose" in page
    assert "the names will be hidden once signing closes" in page and "June 30, 2027" in page
    korean = client.get("/privacy?lang=ko").get_data(as_text=True)
    assert "편지가 끝난 뒤" in korean
