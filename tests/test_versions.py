"""Which text did they sign: letter versions, the history and its differences, and material changes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.models import Job, Letter, LetterVersion, ModeratorRole, OutboxMessage, Signature, SignatureStatus
from app.services import counting, letters, textdiff
from tests import factories
from tests.factories import add_confirmed, log_in, sign_and_confirm
from tests.support import (
    SMTPSink,
    count,
    csrf_token,
    deliver_mail,
    execute,
    link_in,
    marked_settings,
    one,
    path_of,
    press,
    rows,
    sign,
    smtp_settings,
    text_of,
    write,
)

pytestmark = pytest.mark.engines

SLUG = "test-letter"
WITHDRAW_LINK = r"https?://\S+/withdraw/[\w-]+"
DIFF_LINK = r"https?://\S+/versions/\d+/diff\S*"
FIRST = """---
title: An open letter for testing
slug: test-letter
---
We, the undersigned, **ask** for better tests.

Second paragraph stays.
"""
SECOND = FIRST.replace("better tests", "better tests and fair pay")


@pytest.fixture
def app_config(request: pytest.FixtureRequest, smtp_sink: SMTPSink) -> dict[str, Any]:
    return smtp_settings(smtp_sink) | marked_settings(request)


def letter_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "letter.md"
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(runner: FlaskCliRunner, tmp_path: Path, text: str, *options: str) -> str:
    result = runner.invoke(args=["letter", "load", letter_file(tmp_path, text), *options])
    assert result.exit_code == 0, result.output
    return result.output


def version_of(app: Flask, email: str) -> int:
    return one(app, Signature.letter_version, email=email)


def stored_versions(app: Flask) -> list[LetterVersion]:
    return rows(app, LetterVersion, order_by=LetterVersion.number)


def letter_json(client: FlaskClient) -> dict[str, Any]:
    response = client.get(f"/api/v1/letters/{SLUG}")
    assert response.status_code == 200
    return dict(response.get_json())


def per_version(client: FlaskClient) -> dict[int, int]:
    return {item["version"]: item["signature_count"] for item in letter_json(client)["versions"]}


def recount_is_exact(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["letter", "recount", SLUG])
    assert result.exit_code == 0, result.output


def admin(app: Flask, client: FlaskClient) -> None:
    write(app, factories.moderator, "admin@example.org", ModeratorRole.ADMIN)
    assert log_in(client, "admin@example.org").status_code == 303


def edit(client: FlaskClient, body: str, *, follow_redirects: bool = False, **fields: str) -> Any:
    path = f"/moderate/letters/{SLUG}/edit"
    data = {
        "csrf_token": csrf_token(client, path),
        "title": "An open letter for testing",
        "body_markdown": body,
        "moderation_mode": "post",
    } | fields
    return client.post(path, data=data, follow_redirects=follow_redirects)


# --- versions from the CLI and the admin form -----------------------------------------------


def test_loading_a_changed_file_makes_version_2_and_later_signers_carry_it(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    sign_and_confirm(app, client, "early@example.org", sink=smtp_sink, name="Early")
    # The same file again changes nothing: no version without a change of text.
    assert "unchanged: still version 1" in load(runner, tmp_path, FIRST)
    assert [v.number for v in stored_versions(app)] == [1]

    output = load(runner, tmp_path, SECOND, "--note", "Adds fair pay.")
    assert "version 2 (not material)" in output
    sign_and_confirm(app, client, "late@example.org", sink=smtp_sink, name="Late")

    assert version_of(app, "early@example.org") == 1
    assert version_of(app, "late@example.org") == 2
    first, second = stored_versions(app)
    assert "better tests." in first.body_markdown and "fair pay" in second.body_markdown
    assert (second.note, second.material) == ("Adds fair pay.", False)
    data = letter_json(client)
    assert data["version"] == 2 and data["signature_count"] == 2
    assert per_version(client) == {1: 1, 2: 1}
    signers = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]
    assert {s["name"]: s["version"] for s in signers} == {"Early": 1, "Late": 2}
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert f'href="/letters/{SLUG}/versions"' in page and "signed version 1" in page
    recount_is_exact(runner)


def test_a_letter_with_one_version_does_not_link_to_a_history(client: FlaskClient, letter: Letter) -> None:
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert f"/letters/{SLUG}/versions" not in page and "signed version" not in page


def test_editing_in_the_admin_form_makes_version_2_only_when_the_text_changes(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    admin(app, client)
    sign_and_confirm(app, client, "early@example.org", sink=smtp_sink, name="Early")
    body = one(app, Letter.body_markdown)
    # A browser sends the unchanged text with CR LF line ends: still the same text.
    assert edit(client, body.replace("\n", "\r\n"), moderation_mode="pre").status_code == 303
    assert [v.number for v in stored_versions(app)] == [1]
    # A material change of an unchanged text, or without a note, is refused and stores nothing.
    refused = edit(client, body, material="y", change_note="Nothing really.")
    assert refused.status_code == 422 and "there is no change to announce" in refused.get_data(as_text=True)
    refused = edit(client, body + "\n\nMore.", material="y")
    assert refused.status_code == 422 and "Please say what changed" in refused.get_data(as_text=True)
    assert [v.number for v in stored_versions(app)] == [1]

    answer = edit(client, body + "\n\nA new paragraph.", change_note="A new paragraph.", follow_redirects=True)
    assert "saved as version 2" in answer.get_data(as_text=True)
    client.post("/moderate/logout", data={"csrf_token": csrf_token(client, f"/moderate/letters/{SLUG}/edit")})
    sign_and_confirm(app, client, "late@example.org", sink=smtp_sink, name="Late")
    assert (version_of(app, "early@example.org"), version_of(app, "late@example.org")) == (1, 2)
    assert [(v.number, v.note, v.material) for v in stored_versions(app)] == [
        (1, "", False),
        (2, "A new paragraph.", False),
    ]


# --- the history, a version, the differences --------------------------------------------------


def test_two_admins_saving_at_once_get_the_next_two_versions(app: Flask, letter: Letter) -> None:
    """The second save waits for the first's row lock and takes the next number, not a 500.

    The second admin's page read the letter (version 1) before the first admin committed
    version 2; on PostgreSQL its UPDATE then waits for that commit. (On SQLite the second
    transaction cannot begin until the first ends, so the wait below simply times out.)
    """
    first_saved, second_read = threading.Event(), threading.Event()
    numbers: dict[str, int | None] = {}
    errors: list[BaseException] = []

    def save(who: str) -> None:
        try:
            with app.app_context(), db.transaction() as session:
                if who == "second":
                    assert first_saved.wait(10)
                mine = session.get(Letter, letter.id)
                assert mine is not None
                if who == "second":
                    second_read.set()
                numbers[who] = letters.edit_letter(
                    session,
                    mine,
                    title=mine.title,
                    body_markdown=f"We ask for tests, says the {who} admin.",
                    moderation_mode=mine.moderation_mode,
                    now=utcnow(),
                )
                if who == "first":
                    first_saved.set()
                    second_read.wait(1)
                    time.sleep(0.3)  # the second admin's UPDATE is waiting for this commit now
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(who,)) for who in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert numbers == {"first": 2, "second": 3}
    stored = rows(app, LetterVersion.number, letter_id=letter.id, order_by=LetterVersion.number)
    current = one(app, Letter, id=letter.id)
    assert stored == [1, 2, 3] and current.current_version == 3
    assert "second admin" in current.body_markdown


def test_the_history_lists_versions_with_notes_and_the_count_under_each(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    add_confirmed(app, one(app, Letter.id), 4)
    load(runner, tmp_path, SECOND, "--note", "Adds fair pay.")
    for n in range(3):
        sign_and_confirm(app, client, f"v2-{n}@example.org", sink=smtp_sink)
    assert per_version(client) == {1: 4, 2: 3}
    page = client.get(f"/letters/{SLUG}/versions").get_data(as_text=True)
    lines = re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL)[1:]
    assert len(lines) == 2  # newest first
    assert "Version 2" in lines[0] and "Adds fair pay." in lines[0] and re.search(r'class="number">3<', lines[0])
    assert "Version 1" in lines[1] and re.search(r'class="number">4<', lines[1])
    assert f"/letters/{SLUG}/versions/2/diff" in lines[0]

    # Withdrawing a signature of version 2 and hiding one of version 1 take them off their counts.
    withdraw_mail = smtp_sink.messages_to("v2-0@example.org")[0]
    press(client, path_of(link_in(withdraw_mail, WITHDRAW_LINK)), "Withdraw my signature")

    def hide_the_first_signer(session: Session) -> None:
        first_signer = session.scalars(sa.select(Signature).order_by(Signature.id).limit(1)).one()
        counting.move(session, first_signer, SignatureStatus.HIDDEN, now=first_signer.created_at)

    write(app, hide_the_first_signer)
    assert per_version(client) == {1: 3, 2: 2}
    assert letter_json(client)["signature_count"] == 5
    recount_is_exact(runner)


def test_a_version_page_shows_the_text_as_it_read(client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path) -> None:
    load(runner, tmp_path, FIRST)
    load(runner, tmp_path, SECOND)
    old = client.get(f"/letters/{SLUG}/versions/1").get_data(as_text=True)
    assert "better tests." in old and "fair pay" not in old and "The letter has changed since" in old
    new = client.get(f"/letters/{SLUG}/versions/2").get_data(as_text=True)
    assert "fair pay" in new and "the current text" in new
    for missing in ("/versions/3", "/versions/0", "/versions/1/diff", "/versions/3/diff"):
        answer = client.get(f"/letters/{SLUG}{missing}")
        assert answer.status_code == 404, missing
    assert client.get("/letters/no-such-letter/versions").status_code == 404


def test_the_differences_are_marked_words_and_escaped(
    client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    hostile = SECOND.replace("Second paragraph stays.", 'Second paragraph stays.\n\n<script>alert("x")</script>')
    load(runner, tmp_path, hostile.replace("testing", "testing & <b>more</b>"))
    page = client.get(f"/letters/{SLUG}/versions/2/diff").get_data(as_text=True)
    diff = re.search(r'<div class="diff"[^>]*>(.*?)</div>', page, re.DOTALL)
    assert diff, page
    body = diff.group(1)
    # The Markdown source is shown as text: the script is visible, never run.
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    # Only the words that changed are marked, each with a label that does not rely on colour.
    inserted = re.findall(r"<ins>(.*?)</ins>", body, re.DOTALL)
    assert any(
        i == '<span class="visually-hidden">[added: </span> and fair pay<span class="visually-hidden">]</span>'
        for i in inserted
    ), inserted
    assert "Second paragraph stays." in re.sub(r"<ins>.*?</ins>", "", body, flags=re.DOTALL)
    assert "<del>" not in body
    # The title changed too, escaped the same way.
    assert "&amp; &lt;b&gt;more&lt;/b&gt;" in page and "<b>more</b>" not in page


def test_the_diff_compares_lines_then_words() -> None:
    diff = textdiff.diff_texts("one two three\nsame line\n", "one 2 three\nsame line\nnew line\n")
    assert [(p.op, p.text) for p in diff.pieces] == [
        ("equal", "one "),
        ("delete", "two"),
        ("insert", "2"),
        ("equal", " three\nsame line\n"),
        ("insert", "new line\n"),
    ]
    assert (diff.insertions, diff.deletions, diff.changed) == (2, 1, True)
    assert not textdiff.diff_texts("same", "same").changed


# --- material changes --------------------------------------------------------------------------


@pytest.mark.settings(MAIL_BATCH_SIZE=2)
def test_a_material_change_mails_exactly_the_opted_in_confirmed_signers(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    wanting = [f"wants-{n}@example.org" for n in range(5)]
    for address in wanting:
        sign_and_confirm(app, client, address, sink=smtp_sink, wants_updates="y")
    sign_and_confirm(app, client, "quiet@example.org", sink=smtp_sink)
    sign(client, SLUG, email="unconfirmed@example.org", wants_updates="y")
    sign_and_confirm(app, client, "gone@example.org", sink=smtp_sink, wants_updates="y")
    press(client, path_of(link_in(smtp_sink.messages_to("gone@example.org")[0], WITHDRAW_LINK)), "Withdraw")
    # Someone who signs the new text already read it: no mail about it.
    deliver_mail(app)
    before = {address: len(smtp_sink.messages_to(address)) for address in [*wanting, "quiet@example.org"]}
    before |= {a: len(smtp_sink.messages_to(a)) for a in ("unconfirmed@example.org", "gone@example.org")}

    output = load(runner, tmp_path, SECOND, "--material", "--note", "It now asks for fair pay too.")
    assert "version 2 (material" in output
    sign_and_confirm(app, client, "newcomer@example.org", sink=smtp_sink, wants_updates="y")
    deliver_mail(app)

    for address, received in before.items():
        expected = received + 1 if address in wanting else received
        assert len(smtp_sink.messages_to(address)) == expected, address
    assert len(smtp_sink.messages_to("newcomer@example.org")) == 1  # the confirmation only
    # The request was expanded two signers at a time and is done.
    kinds = rows(app, OutboxMessage.kind, OutboxMessage.status, where=OutboxMessage.kind.like("material%"))
    job = rows(app, Job.kind, Job.status)
    assert sorted(kinds) == [("material_change", "sent")] * 5
    assert job == [("material_change_request", "done")]

    notice = smtp_sink.messages_to(wanting[0])[-1]
    assert "has changed" in str(notice["Subject"])
    text = text_of(notice)
    assert "It now asks for fair pay too." in text and "version 1" in text and "version 2" in text
    diff_page = client.get(path_of(link_in(notice, DIFF_LINK)))
    assert diff_page.status_code == 200 and "fair pay" in diff_page.get_data(as_text=True)
    signed = letter_json(client)["signature_count"]
    answer = press(client, path_of(link_in(notice, WITHDRAW_LINK)), "Withdraw my signature")
    assert answer.status_code == 200
    assert letter_json(client)["signature_count"] == signed - 1
    assert rows(app, Signature.status, email_key=wanting[0]) == []
    recount_is_exact(runner)


def test_a_material_change_reaches_signers_in_their_language(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ko"  # a Korean browser
    sign_and_confirm(app, client, "korean@example.org", sink=smtp_sink, button="서명 확인", wants_updates="y")
    load(runner, tmp_path, SECOND, "--material", "--note", "It now asks for fair pay too.")
    deliver_mail(app)
    notice = smtp_sink.messages_to("korean@example.org")[-1]
    assert "서명하신 서한" in str(notice["Subject"]), notice["Subject"]
    assert "lang=ko" in link_in(notice, DIFF_LINK)


def test_a_change_that_is_not_material_emails_nobody(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    smtp_sink: SMTPSink,
    tmp_path: Path,
    create_letter: Callable[..., Letter],
) -> None:
    load(runner, tmp_path, FIRST)
    sign_and_confirm(app, client, "wants@example.org", sink=smtp_sink, wants_updates="y")
    admin(app, client)
    received = len(smtp_sink.received)
    load(runner, tmp_path, SECOND, "--note", "Fair pay.")
    assert edit(client, "Yet another text.", change_note="Rewritten.").status_code == 303
    deliver_mail(app)
    assert len(smtp_sink.received) == received
    assert [v.number for v in stored_versions(app)] == [1, 2, 3]


def test_the_admin_form_marks_a_change_material_and_mails_the_opted_in(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    sign_and_confirm(app, client, "wants@example.org", sink=smtp_sink, wants_updates="y")
    admin(app, client)
    answer = edit(client, "A different text.", material="y", change_note="Rewritten entirely.")
    assert answer.status_code == 303
    deliver_mail(app)
    notice = smtp_sink.messages_to("wants@example.org")[-1]
    assert "Rewritten entirely." in text_of(notice)
    assert [(v.number, v.material) for v in stored_versions(app)] == [(1, False), (2, True)]
    history = client.get(f"/letters/{SLUG}/versions").get_data(as_text=True)
    assert "Material change" in history and "Rewritten entirely." in history


def test_the_cli_refuses_a_material_change_without_a_note_or_a_change(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    load(runner, tmp_path, FIRST)
    no_note = runner.invoke(args=["letter", "load", letter_file(tmp_path, SECOND), "--material"])
    assert no_note.exit_code != 0 and "--note" in no_note.output
    no_change = runner.invoke(args=["letter", "load", letter_file(tmp_path, FIRST), "--material", "--note", "x"])
    assert no_change.exit_code != 0 and "no change to announce" in no_change.output
    assert [v.number for v in stored_versions(app)] == [1]
    assert count(app, OutboxMessage) == 0
    assert count(app, Job) == 0


# --- the migration -------------------------------------------------------------------------------


def test_the_migration_makes_version_1_of_every_existing_letter(
    app: Flask, runner: FlaskCliRunner, letter: Letter, create_letter: Callable[..., Letter]
) -> None:
    other = create_letter(slug="another-letter")
    add_confirmed(app, letter.id, 2)
    result = runner.invoke(args=["db", "downgrade", "7c41d2e8b5a9"])
    assert result.exit_code == 0, result.output
    execute(app, "UPDATE letters SET body_markdown = 'Edited before versions.' WHERE slug = :s", s="another-letter")
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    versions = rows(
        app,
        sa.select(LetterVersion.letter_id, LetterVersion.number, LetterVersion.body_markdown, Letter.current_version)
        .join(Letter, Letter.id == LetterVersion.letter_id)
        .order_by(LetterVersion.letter_id),
    )
    versions_signed = set(rows(app, Signature.letter_version))
    wants = set(rows(app, Signature.wants_updates))
    assert [(r[0], r[1], r[3]) for r in versions] == [(letter.id, 1, 1), (other.id, 1, 1)]
    assert versions[1][2] == "Edited before versions."
    assert versions_signed == {1} and wants == {False}
