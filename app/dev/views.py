"""The development mailbox: the messages written under the instance folder, newest first."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

bp = Blueprint("dev", __name__, url_prefix="/_dev")


_NAME = re.compile(r"^[0-9T]+-[\w.-]+\.eml$")
_URL = re.compile(r"https?://[^\s<>\"']+")


def _mail_dir() -> Path:
    return Path(current_app.config["MAIL_OUTBOX_DIR"])


def _read(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@bp.get("/mail")
def mailbox() -> str:
    """Every message the file backend wrote, newest first."""
    folder = _mail_dir()
    paths = sorted(folder.glob("*.eml"), reverse=True) if folder.is_dir() else []
    messages = [(path.name, _read(path)) for path in paths[:200]]
    return render_template("dev/mailbox.html", messages=messages, folder=folder)


@bp.get("/mail/<name>")
def message(name: str) -> str:
    """One message: its headers, its text, and its links made clickable."""
    if not _NAME.match(name):
        abort(404)
    path = _mail_dir() / name
    if not path.is_file():
        abort(404)
    mail = _read(path)
    text_part = mail.get_body(preferencelist=("plain",))
    text = text_part.get_content() if text_part is not None else ""
    return render_template("dev/message.html", name=name, mail=mail, text=text, links=_URL.findall(text))
