"""The delivery document: the page organisers print, and the PDF the worker makes in parts."""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from werkzeug.serving import make_server

from app import jobs
from app.db import db, utcnow
from app.letters import delivery as document
from app.models import AuditEntry, Job, JobStatus, Letter, Moderator, ModeratorRole, SignatureStatus
from app.services import jobs as jobs_service
from app.services import letters as letter_service
from tests import factories
from tests.support import count, csrf_token, execute, one, rows

KOREAN = "김민준"


def _signers(app: Flask, letter_id: int) -> None:
    """One signer of every kind: the notable ones, the listed ones, and the ones the document must leave out."""
    with app.app_context(), db.transaction() as session:
        factories.signer(session, letter_id, name="Ada Verified", affiliation="Analytical Society", verified=True)
        factories.signer(session, letter_id, name="Fay Founder", founding=True)
        factories.signer(session, letter_id, name="Plain Listed", affiliation="Example University")
        factories.signer(session, letter_id, name=KOREAN, affiliation="서울대학교")
        factories.signer(session, letter_id, name="Hidden Person", status=SignatureStatus.HIDDEN)
        factories.signer(session, letter_id, name="Unlisted Person", unlisted_until_review=True)
        factories.signer(session, letter_id, name="Private Person", public=False)
        factories.signer(session, letter_id, name="Unconfirmed Person", status=SignatureStatus.UNCONFIRMED)
        factories.signer(session, letter_id, name="Pending Person", status=SignatureStatus.PENDING)


@pytest.fixture
def admin(create_moderator: Callable[..., Moderator]) -> Moderator:
    """An administrator account."""
    return create_moderator("admin@example.org", ModeratorRole.ADMIN)


@pytest.fixture
def admin_client(client: FlaskClient, admin: Moderator) -> FlaskClient:
    """A client signed in as the administrator."""
    assert factories.log_in(client, admin.email).status_code == 303
    return client


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.mark.engines
def test_page_has_the_letter_count_date_address_and_notable_signers_first(
    app: Flask, admin_client: FlaskClient, letter: Letter
) -> None:
    _signers(app, letter.id)
    page = _page(admin_client, f"/moderate/letters/{letter.slug}/delivery")
    assert "An open letter for testing" in page
    assert "<strong>ask</strong>" in page  # the letter's text, as published
    assert "<script>alert" not in page
    # Confirmed, unlisted and private signers count: 6 (hidden, unconfirmed and pending do not).
    assert re.search(r"<strong>6 signatures</strong>", page)
    assert "http://localhost/letters/test-letter" in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\d', page)
    # Verified first, then founding, then the rest in the order they signed.
    order = [page.index(name) for name in ("Ada Verified", "Fay Founder", "Plain Listed", KOREAN)]
    assert order == sorted(order)
    assert page.index("Ada Verified") < page.index("Notable and verified signatories") + 400
    assert "Example University" in page and "서울대학교" in page
    for absent in ("Hidden Person", "Unlisted Person", "Private Person", "Unconfirmed Person", "Pending Person"):
        assert absent not in page
    # The footer: the signed tree head and how to verify it.
    assert "How to verify this list" in page
    assert re.search(r"<dt>Root hash</dt><dd><code>[0-9a-f]{64}</code>", page)
    assert "http://localhost/letters/test-letter/log" in page
    # Nothing of moderation: no report links, no moderation numbers.
    assert "/report" not in page and "Moderation in numbers" not in page


def test_page_numbers_the_list_after_the_notable_signers(app: Flask, admin_client: FlaskClient, letter: Letter) -> None:
    _signers(app, letter.id)
    page = _page(admin_client, f"/moderate/letters/{letter.slug}/delivery")
    assert '<ol class="delivery-names delivery-list" start="3">' in page


def test_page_in_korean(app: Flask, admin_client: FlaskClient, letter: Letter) -> None:
    _signers(app, letter.id)
    page = _page(admin_client, f"/moderate/letters/{letter.slug}/delivery?lang=ko")
    assert '<html lang="ko">' in page
    assert "<strong>6명</strong>" in page


def test_page_shows_the_version_chosen(app: Flask, admin_client: FlaskClient, letter: Letter) -> None:
    with app.app_context(), db.transaction() as session:
        stored = session.get(Letter, letter.id)
        assert stored is not None
        number = letter_service.edit_letter(
            session,
            stored,
            title="A changed title",
            body_markdown="The second text.",
            moderation_mode="post",
            now=stored.created_at,
        )
    assert number == 2
    page = _page(admin_client, f"/moderate/letters/{letter.slug}/delivery")
    assert "A changed title" in page and "The second text." in page
    assert '<option selected value="2">' in page
    page = _page(admin_client, f"/moderate/letters/{letter.slug}/delivery?version=1")
    assert "An open letter for testing" in page and "The second text." not in page
    assert "version 1 of the letter" in page


def test_a_closed_letter_has_its_final_count(admin_client: FlaskClient, closed_letter: Letter) -> None:
    page = _page(admin_client, f"/moderate/letters/{closed_letter.slug}/delivery")
    assert "The final count, when signing closed." in page and "Delivered" in page
    assert "The count on" not in page


def test_a_version_that_does_not_exist_is_refused(admin_client: FlaskClient, letter: Letter) -> None:
    response = admin_client.get(f"/moderate/letters/{letter.slug}/delivery?version=9")
    assert response.status_code == 400
    assert "no such version" in response.get_data(as_text=True)


def test_moderators_who_are_not_admins_are_refused(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator()
    assert factories.log_in(client).status_code == 303
    assert client.get(f"/moderate/letters/{letter.slug}/delivery").status_code == 403
    token = csrf_token(client, "/moderate")
    response = client.post(
        f"/moderate/letters/{letter.slug}/delivery/pdf", data={"csrf_token": token, "version": "1", "lang": "en"}
    )
    assert response.status_code == 403
    assert count(app, Job, kind="delivery_pdf") == 0


def test_signed_out_visitors_go_to_sign_in(client: FlaskClient, letter: Letter) -> None:
    response = client.get(f"/moderate/letters/{letter.slug}/delivery")
    assert response.status_code == 302
    assert "/moderate/login" in response.headers["Location"]


def _request_pdf(client: FlaskClient, slug: str, **fields: str) -> str:
    token = csrf_token(client, f"/moderate/letters/{slug}/delivery")
    response = client.post(
        f"/moderate/letters/{slug}/delivery/pdf", data={"csrf_token": token, "version": "1", "lang": "en"} | fields
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return str(response.headers["Location"])


def _run_jobs(app: Flask) -> None:
    with app.app_context():
        settings = jobs.Settings.from_config(app.config)
        while jobs.run_due(settings, worker_id="test"):
            pass


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.engines
def test_pdf_is_made_in_the_background_with_progress_and_a_download(
    app: Flask, admin_client: FlaskClient, letter: Letter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _signers(app, letter.id)
    factories.add_confirmed(app, letter.id, 5)
    # Parts of two signers, so that the list takes several steps.
    monkeypatch.setattr(document, "CHUNK", 2)
    status_page = _request_pdf(admin_client, letter.slug)
    job_id = int(status_page.rsplit("/", 1)[-1])

    page = _page(admin_client, status_page)
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "<progress" in page and "0 of 7 names laid out" in page
    progress = json.loads(_page(admin_client, status_page + "/progress"))
    assert progress | {"download_url": None} == {
        "status": "pending",
        "done": 0,
        "total": 7,
        "percent": 0,
        "pages": 0,
        "error": False,
        "ready": False,
        "download_url": None,
    }
    assert admin_client.get(status_page + "/download").status_code == 404

    # One step of the worker: the letter's part; another: the first two of the list.
    with app.app_context():
        settings = jobs.Settings.from_config(app.config)
        jobs.run_due(settings, worker_id="test", limit=1)
        jobs.run_due(settings, worker_id="test", limit=1)
    progress = json.loads(_page(admin_client, status_page + "/progress"))
    assert (progress["status"], progress["done"], progress["ready"]) == ("pending", 2, False)

    _run_jobs(app)
    progress = json.loads(_page(admin_client, status_page + "/progress"))
    assert progress["status"] == "done" and progress["ready"] and progress["done"] == 7
    page = _page(admin_client, status_page)
    assert "http-equiv" not in page and "Download the PDF" in page

    response = admin_client.get(progress["download_url"])
    data = response.get_data()
    response.close()
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    text = _pdf_text(data)
    assert "An open letter for testing" in text
    assert "11 signatures" in text
    assert "Ada Verified" in text and "Plain Listed" in text and KOREAN in text and "서울대학교" in text
    for absent in ("Hidden Person", "Unlisted Person", "Private Person", "Unconfirmed Person"):
        assert absent not in text
    assert "How to verify this list" in text
    # The parts are gone once joined; the pages are numbered on from part to part.
    delivery_dir = Path(app.config["DELIVERY_DIR"])
    assert [p.name for p in delivery_dir.iterdir()] == [f"delivery-{job_id}.pdf"]
    reader = PdfReader(io.BytesIO(data))
    assert reader.pages[-1].extract_text().rstrip().endswith(str(len(reader.pages)))

    entry = one(app, AuditEntry, action="letter.delivery")
    assert entry.letter_id == letter.id and entry.moderator_email == "admin@example.org"
    assert entry.reason == "PDF, version 1, en"


def test_pdf_in_korean(app: Flask, admin_client: FlaskClient, create_letter: Callable[..., Letter]) -> None:
    letter = create_letter(
        factories.LETTER_TEXT.replace("title: An open letter", "title: 공개 서한").replace(
            "slug: test-letter", "slug: ko-letter\nlang: ko"
        )
    )
    _signers(app, letter.id)
    status_page = _request_pdf(admin_client, letter.slug, lang="ko")
    _run_jobs(app)
    response = admin_client.get(status_page + "/download")
    data = response.get_data()
    response.close()
    text = _pdf_text(data)
    assert "공개 서한" in text
    assert KOREAN in text and "Plain Listed" in text
    assert "6명" in text


def test_pdf_request_with_a_language_the_letter_lacks_is_refused(
    app: Flask, admin_client: FlaskClient, letter: Letter
) -> None:
    token = csrf_token(admin_client, f"/moderate/letters/{letter.slug}/delivery")
    response = admin_client.post(
        f"/moderate/letters/{letter.slug}/delivery/pdf", data={"csrf_token": token, "version": "1", "lang": "xx"}
    )
    assert response.status_code == 400
    assert count(app, Job, kind="delivery_pdf") == 0
    assert count(app, AuditEntry, action="letter.delivery") == 0


def test_pdf_of_another_letter_or_another_kind_of_job_is_not_found(
    app: Flask, admin_client: FlaskClient, letter: Letter, create_letter: Callable[..., Letter]
) -> None:
    other = create_letter(factories.LETTER_TEXT.replace("test-letter", "other-letter"))
    status_page = _request_pdf(admin_client, letter.slug)
    job_id = status_page.rsplit("/", 1)[-1]
    assert admin_client.get(f"/moderate/letters/{other.slug}/delivery/pdf/{job_id}").status_code == 404
    assert admin_client.get(f"/moderate/letters/{letter.slug}/delivery/pdf/999999").status_code == 404
    with app.app_context(), db.transaction() as session:
        jobs_service.add(session, jobs.PURGE, {}, now=utcnow())
    purge_id = one(app, Job.id, kind=jobs.PURGE)
    assert admin_client.get(f"/moderate/letters/{letter.slug}/delivery/pdf/{purge_id}").status_code == 404
    assert rows(app, Job.status, kind="delivery_pdf") == [JobStatus.PENDING]


def test_old_pdfs_and_parts_left_behind_are_cleared_away(tmp_path: Path) -> None:
    old_pdf, new_pdf = tmp_path / "delivery-1.pdf", tmp_path / "delivery-2.pdf"
    old_parts, new_parts = tmp_path / "delivery-3.parts", tmp_path / "delivery-4.parts"
    for path in (old_pdf, new_pdf):
        path.write_bytes(b"%PDF")
    for path in (old_parts, new_parts):
        path.mkdir()
        (path / "00000.pdf").write_bytes(b"%PDF")
    other = tmp_path / "something-else.pdf"
    other.write_bytes(b"%PDF")
    now = old_pdf.stat().st_mtime + document.KEEP_PDFS.total_seconds() + 60
    os.utime(new_pdf, (now, now))
    os.utime(new_parts, (now, now))
    document.prune(tmp_path, now=now)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["delivery-2.pdf", "delivery-4.parts", "something-else.pdf"]


def test_the_pdf_fetches_nothing_a_letter_names(
    app: Flask, admin_client: FlaskClient, letter: Letter, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def site(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        asked.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "image/svg+xml")])
        return [b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>']

    server = make_server("127.0.0.1", 0, site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # Not something the letter's Markdown can make (no images there): as if it could.
        image = f'<p><img src="http://127.0.0.1:{server.server_port}/tracker.svg" alt=""></p>'
        execute(app, sa.update(Letter).values(body_html=Letter.body_html + image))
        status_page = _request_pdf(admin_client, letter.slug)
        _run_jobs(app)
        response = admin_client.get(status_page + "/download")
        response.close()
        assert response.status_code == 200
    finally:
        server.shutdown()
    assert asked == []
