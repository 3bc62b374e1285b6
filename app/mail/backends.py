"""Where mail goes: an SMTP server, or files in the instance folder when none is configured."""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from app.models import OutboxMessage


class PermanentFailure(Exception):
    """The server refused this message for good (a 5xx reply); retrying will not help."""


def build_message(row: OutboxMessage, sender: str) -> Message[Any, Any]:
    """The MIME message for an outbox row: text and HTML alternatives, Date, Message-ID, its own headers.

    Built with the email package's compat32 API, which does the same for plain mail several
    times faster than ``EmailMessage`` (whose header registry parses every header it is given,
    and folds it again when sending): building and sending were nine tenths of the mail worker's
    time. Non-ASCII header text is encoded as RFC 2047 words; an address that is not ASCII
    (it needs SMTPUTF8) takes the ``EmailMessage`` way.
    """
    extra = json.loads(row.headers) if row.headers else {}
    if not (sender + row.recipient).isascii():
        return _international_message(row, sender, extra)
    # (Typed loosely: compat32 headers may be Header objects, which the generator encodes.)
    message: Message[Any, Any] = MIMEMultipart("alternative")
    name, address = parseaddr(sender)
    message["From"] = formataddr((name, address), charset="utf-8")
    message["To"] = row.recipient
    message["Subject"] = _header(row.subject)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = row.message_id
    message["Auto-Submitted"] = "auto-generated"
    for header, value in extra.items():
        message[header] = _header(value)
    message.attach(MIMEText(row.body_text, "plain", "utf-8"))
    message.attach(MIMEText(row.body_html, "html", "utf-8"))
    return message


def _header(value: str) -> str | Header:
    """A header's text as is, or to be written as RFC 2047 encoded words when it is not ASCII."""
    return value if value.isascii() else Header(value, "utf-8")


def _international_message(row: OutboxMessage, sender: str, extra: Mapping[str, str]) -> Message[Any, Any]:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = row.message_id
    message["Auto-Submitted"] = "auto-generated"
    for header, value in extra.items():
        message[header] = value
    message.set_content(row.body_text)
    message.add_alternative(row.body_html, subtype="html")
    return message


class MailBackend(Protocol):
    """A connection to somewhere mail can be delivered, used for one batch."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def send(self, message: Message[Any, Any]) -> None:
        """Deliver one message, or raise (PermanentFailure when retrying is pointless)."""


@cache
def _tls_context() -> ssl.SSLContext:
    """The TLS settings, made once per process (loading the system's CA certificates takes a while)."""
    return ssl.create_default_context()


class SMTPBackend:
    """One SMTP connection per batch, with STARTTLS or implicit TLS and login as configured."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host: str = config["MAIL_SERVER"]
        self.port: int = config["MAIL_PORT"]
        self.use_tls: bool = config["MAIL_USE_TLS"]
        self.use_ssl: bool = config["MAIL_USE_SSL"]
        self.username: str | None = config.get("MAIL_USERNAME")
        self.password: str | None = config.get("MAIL_PASSWORD")
        self.timeout: int = config["MAIL_TIMEOUT"]
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SMTPBackend:
        if self.use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=_tls_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.use_tls:
                smtp.starttls(context=_tls_context())
        if self.username:
            smtp.login(self.username, self.password or "")
        self._smtp = smtp
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, message: Message[Any, Any]) -> None:
        """Send over the open connection; a 5xx refusal is permanent, anything else may be retried."""
        assert self._smtp is not None, "use the backend as a context manager"
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {codes}") from exc
            raise
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            if exc.smtp_code >= 500:
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise


class FileBackend:
    """Writes each message as an .eml file (the embedded default, and what /_dev/mail shows)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def __enter__(self) -> FileBackend:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def send(self, message: Message[Any, Any]) -> None:
        """Write the message atomically, named so that a listing sorts oldest first."""
        message_id = str(message["Message-ID"]).strip("<>").split("@")[0]
        stem = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{message_id}"
        temporary = self.directory / f".{stem}.tmp"
        temporary.write_bytes(message.as_bytes())
        temporary.replace(self.directory / f"{stem}.eml")


def backend_for(config: Mapping[str, Any]) -> MailBackend:
    """SMTP when MAIL_SERVER is set, files under the instance folder otherwise."""
    if config.get("MAIL_SERVER"):
        return SMTPBackend(config)
    return FileBackend(config["MAIL_OUTBOX_DIR"])
