"""Every kind of mail the site sends, in each language, as SpamAssassin scores it: 0.0 or below.

SpamAssassin runs locally (``-L``: no DNS or network tests) on the messages exactly as they reach
an SMTP server. Debian's package: ``apt-get install spamassassin`` (.ci/run installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import db, utcnow
from app.models import Moderator, ModeratorRole, Signature
from app.moderation import accounts
from app.services import jobs, letters, notifications, updates
from tests.factories import add_confirmed
from tests.support import (
    SMTPSink,
    csrf_token,
    deliver_mail,
    link_in,
    path_of,
    press,
    require,
    rows,
    sign,
    smtp_settings,
)

SLUG = "test-letter"
LINK = r"https?://\S+/disputes/\S+"
LETTER = """---
title: Fair pay for artists
slug: test-letter
---
We, the undersigned, **ask** the ministry to pay artists fairly for their work.

Every artist deserves a contract, a fee and a pension.
"""
KOREAN = """---
title: 예술가에게 정당한 대가를
summary: 모든 예술가에게 정당한 대가를 요구합니다.
---
우리는 문화부가 예술가의 작업에 정당한 대가를 지급할 것을 **요구합니다**.

모든 예술가는 계약, 보수, 연금을 받아야 합니다.
"""
UPDATE = """---
title: We met the ministry
---
Thank you for signing. On Monday we handed the letter to the ministry, with
[the list of signers](https://example.org/list) and a short summary.

- The minister promised an answer within a month.
- We will write again when it comes.
"""
RESPONSE = """Thank you for your letter. The ministry has read it with care.

We will meet a delegation of the signers next month, and we will publish
[our plan for fair pay](https://example.org/plan) before the summer.
"""
WITHDRAW_LINK = r"https?://\S+/withdraw/\S+"
KINDS = (
    "confirm",
    "already_signed",
    "withdraw",
    "update",
    "response",
    "material_change",
    "dispute",
    "dispute_notice",
    "milestone",
    "daily_summary",
    "closing_reminder",
    "reminder",
    "invitation",
    "founder_invitation",
    "launch",
)


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    return smtp_settings(smtp_sink) | {"SITE_NAME": "Open Letters"}


def load(runner: FlaskCliRunner, tmp_path: Path, text: str, *command: str) -> None:
    """Run ``command`` with the file holding ``text`` where it says PATH."""
    path = tmp_path / f"file-{len(list(tmp_path.iterdir()))}.md"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=[str(path) if part == "PATH" else part for part in command])
    assert result.exit_code == 0, result.output


def new_messages(app: Flask, smtp_sink: SMTPSink, address: str, seen: list[bytes]) -> list[bytes]:
    deliver_mail(app)
    raw = [r.raw for r in smtp_sink.received if address in r.rcpt_tos and r.raw not in seen]
    seen.extend(raw)
    return raw


def every_kind_of_mail(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path, lang: str
) -> dict[str, bytes]:
    """Make the site send each kind of mail to one signer who reads ``lang``; the raw messages by kind."""
    address = f"reader-{lang}@example.org"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    seen: list[bytes] = []
    found: dict[str, bytes] = {}
    name = "김민지" if lang == "ko" else "Ada Lovelace"
    assert sign(client, SLUG, email=address, name=name, wants_updates="y").status_code == 303
    [found["confirm"]] = new_messages(app, smtp_sink, address, seen)
    assert press(client, path_of(link_in(smtp_sink.messages_to(address)[-1])), "").status_code == 200
    assert sign(client, SLUG, email=address, name=name, wants_updates="y").status_code == 303
    [found["already_signed"]] = new_messages(app, smtp_sink, address, seen)
    token = re.search(
        r'name="csrf_token"(?: type="hidden")? value="([^"]+)"',
        client.get(f"/letters/{SLUG}/withdraw").get_data(as_text=True),
    )
    assert token is not None
    client.post(f"/letters/{SLUG}/withdraw", data={"email": address, "csrf_token": token.group(1)})
    [found["withdraw"]] = new_messages(app, smtp_sink, address, seen)
    load(runner, tmp_path, UPDATE.replace("We met", f"We met ({lang})"), "letter", "update", SLUG, "PATH")
    [found["update"]] = new_messages(app, smtp_sink, address, seen)
    with app.app_context(), db.transaction() as session:
        updates.record_response(
            session,
            letters.get_letter(session, SLUG),
            responder="The Minister of Culture" if lang == "en" else "문화부 장관",
            responded_on=utcnow().date(),
            source_url="https://example.org/answer",
            body_markdown=RESPONSE,
            now=utcnow(),
        )
    [found["response"]] = new_messages(app, smtp_sink, address, seen)
    text = LETTER.replace("fairly", f"fairly ({lang})")
    load(runner, tmp_path, text, "letter", "load", "PATH", "--material", "--note", "It now names the ministry.")
    [found["material_change"]] = new_messages(app, smtp_sink, address, seen)
    # "That's not me": the person a signer's entry names disputes it from an address that spells the
    # name, and confirms; the entry leaves the list and its signer hears of it.
    named = f"named-{lang}@example.org"
    assert sign(client, SLUG, email=named, name="Grace Hopper").status_code == 303
    [confirmation] = new_messages(app, smtp_sink, named, seen)
    assert (
        press(client, path_of(link_in(message_from_bytes(confirmation, policy=policy.default))), "").status_code == 200
    )
    [signature_id] = rows(app, Signature.id, where=Signature.email == named)
    disputer = f"grace.hopper@{lang}.example.net"
    dispute = f"/letters/{SLUG}/signatures/{signature_id}/dispute"
    fields = {"csrf_token": csrf_token(client, dispute), "email": disputer, "named": "y"}
    assert client.post(dispute, data=fields).status_code == 303
    [found["dispute"]] = new_messages(app, smtp_sink, disputer, seen)
    assert (
        press(
            client, path_of(link_in(message_from_bytes(found["dispute"], policy=policy.default), LINK)), ""
        ).status_code
        == 200
    )
    [found["dispute_notice"]] = new_messages(app, smtp_sink, named, seen)
    # The organisers' notifications, to an admin who reads ``lang``: ten more signers reach a
    # milestone (10, then 20 in the second language's run) and the day's summary is due.
    admin = f"admin-{lang}@example.org"
    with app.app_context(), db.transaction() as session:
        moderator = accounts.create_moderator(session, admin, "a long enough password", ModeratorRole.ADMIN)
        notifications.save_settings(session, moderator, milestones=True, daily_summary=True, locale=lang, now=utcnow())
        letter_id = letters.get_letter(session, SLUG).id
    add_confirmed(app, letter_id, 10)
    with app.app_context(), db.transaction() as session:
        jobs.add(session, notifications.ORGANISER_NOTIFICATIONS, {}, now=utcnow())
    found["milestone"], found["daily_summary"] = new_messages(app, smtp_sink, admin, seen)
    # Two days before the letter closes: the admin's reminder, and the one reminder to a signer
    # who never confirmed.
    late = f"late-{lang}@example.org"
    assert sign(client, SLUG, email=late, name=name).status_code == 303
    new_messages(app, smtp_sink, late, seen)  # the confirmation mail
    with app.app_context(), db.transaction() as session:
        letter = letters.get_letter(session, SLUG)
        letter.remind_before_close, letter.closing_reminded_at = True, None
        letter.closes_at = utcnow() + timedelta(days=2)
        admin_account = session.scalars(sa.select(Moderator).where(Moderator.email == admin)).one()
        notifications.save_settings(
            session,
            admin_account,
            milestones=True,
            daily_summary=True,
            closing_reminders=True,
            locale=lang,
            now=utcnow(),
        )
        jobs.add(session, notifications.ORGANISER_NOTIFICATIONS, {}, now=utcnow())
    [found["closing_reminder"]] = new_messages(app, smtp_sink, admin, seen)
    [found["reminder"]] = new_messages(app, smtp_sink, late, seen)
    # The same admin invites a new moderator, in the invitee's language.
    console = app.test_client()
    login = {"email": admin, "password": "a long enough password", "csrf_token": csrf_token(console, "/moderate/login")}
    assert console.post("/moderate/login", data=login).status_code == 303
    invitee = f"moderator-{lang}@example.org"
    invite = {
        "csrf_token": csrf_token(console, "/moderate/people"),
        "email": invitee,
        "role": "moderator",
        "lang": lang,
    }
    assert console.post("/moderate/people/invite", data=invite).status_code == 303
    [found["invitation"]] = new_messages(app, smtp_sink, invitee, seen)
    # A private letter: the invitation to sign it before it is public, then the mail that it is.
    private = f"private-{lang}"
    text = LETTER.replace("slug: test-letter", f"slug: {private}\ndraft: true")
    if lang == "ko":
        text = KOREAN.replace("---\n", f"---\nslug: {private}\nlang: ko\ndraft: true\n", 1)
    load(runner, tmp_path, text, "letter", "load", "PATH")
    founder = f"founder-{lang}@example.org"
    invited = runner.invoke(args=["letter", "invite", private, "--email", founder, "--lang", lang])
    assert invited.exit_code == 0, invited.output
    [found["founder_invitation"]] = new_messages(app, smtp_sink, founder, seen)
    invitation = re.search(r"https?://\S+(/invitations/\S+)", invited.output)
    assert invitation is not None
    signed = client.post(invitation.group(1), data={"name": name, "email": founder, "public": "y"})
    assert signed.status_code == 200
    [confirmation] = new_messages(app, smtp_sink, founder, seen)
    assert (
        press(client, path_of(link_in(message_from_bytes(confirmation, policy=policy.default))), "").status_code == 200
    )
    assert runner.invoke(args=["letter", "launch", private, "--mail-founders"]).exit_code == 0
    [found["launch"]] = new_messages(app, smtp_sink, founder, seen)
    return found


T = TypeVar("T")


def spam_scores(messages: dict[T, bytes]) -> dict[T, tuple[float, str]]:
    """SpamAssassin's score of each message, local tests only, and its report.

    One run over an mbox of them all: SpamAssassin spends most of a run loading its rules.
    """
    keys = list(messages)
    separator = "From message-{} Thu Dec  3 10:00:00 2026\n"
    mbox = b"".join(
        separator.format(number).encode() + re.sub(rb"(?m)^(>*From )", rb">\1", messages[key]).rstrip(b"\n") + b"\n\n"
        for number, key in enumerate(keys)
    )
    done = subprocess.run(
        ["spamassassin", "-L", "-t", "--mbox"], input=mbox, capture_output=True, timeout=300, check=False
    )
    output = done.stdout.decode("utf-8", "replace")
    parts = re.split(r"(?m)^From message-(\d+) .*\n", output)[1:]
    found = {int(number): text for number, text in zip(parts[::2], parts[1::2], strict=True)}
    assert sorted(found) == list(range(len(keys))), output[-2000:] + done.stderr.decode("utf-8", "replace")
    scores = {}
    for number, key in enumerate(keys):
        status = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", found[number], re.MULTILINE)
        assert status, found[number]
        report = found[number].split("Content analysis details:", 1)[-1][:2000]
        scores[key] = (float(status.group(1)), report)
    return scores


def test_spamassassin_scores_every_mail_0_or_below_in_both_languages(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    require(shutil.which("spamassassin") is not None, "SpamAssassin is not installed (apt-get install spamassassin)")
    load(runner, tmp_path, LETTER, "letter", "load", "PATH")
    load(runner, tmp_path, KOREAN, "letter", "load", "PATH", "--slug", SLUG, "--lang", "ko")
    mails = {
        (lang, kind): raw
        for lang in ("en", "ko")
        for kind, raw in every_kind_of_mail(app, client, runner, smtp_sink, tmp_path, lang).items()
    }
    scores = spam_scores(mails)
    assert set(scores) == {(lang, kind) for lang in ("en", "ko") for kind in KINDS}
    too_high = {key: report for key, (score, report) in scores.items() if score > 0}
    assert not too_high, too_high


def test_update_mails_name_their_list_say_how_to_leave_it_and_write_their_text_as_text(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    load(runner, tmp_path, LETTER, "letter", "load", "PATH")
    mails = every_kind_of_mail(app, client, runner, smtp_sink, tmp_path, "en")
    for kind in ("update", "response", "material_change"):
        message = message_from_bytes(mails[kind], policy=policy.default)
        assert message["List-Id"] == '"Fair pay for artists" <test-letter.letters.example.org>', kind
        unsubscribe = re.fullmatch(r"<(http://localhost/unsubscribe/\S+)>", (message["List-Unsubscribe"] or "").strip())
        assert unsubscribe, kind
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", kind
        text = text_part(message)
        html = message.get_body(preferencelist=("html",))
        assert html is not None and unsubscribe.group(1) in html.get_content(), kind
        # The link, on a line of its own in the text, and words that do not read as spam in the HTML.
        assert unsubscribe.group(1) in text.splitlines(), kind
        assert "Stop these emails" not in html.get_content()
    text = text_part(message_from_bytes(mails["update"], policy=policy.default))
    assert "**" not in text and "](" not in text and "\n- The minister" in text
    lines = text.splitlines()
    assert "https://example.org/list" in lines  # the update's link, alone on its line
    assert "http://localhost/letters/test-letter?lang=en" in lines or "http://localhost/letters/test-letter" in lines


def text_part(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())
