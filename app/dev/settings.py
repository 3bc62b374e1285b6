"""Development settings: ``instance/.env``, written once with fresh keys and kept from then on.

``scripts/serve`` runs ``python -m app.dev.settings --base-url URL`` before anything else, so
that the server, the mail worker and every ``flask --app app …`` command started from this
folder, with or without FLASK_DEBUG=1, read the same SECRET_KEY and LOG_SIGNING_KEY (the app
loads the file after ./.env; real environment variables win over both). The file is never
overwritten: links already mailed and tree heads already signed stay valid.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from pathlib import Path

from flask import Flask

from app.config import LOG_KEY_FILE, ConfigError, check_log_signing_key

FILE_NAME = ".env"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"

HEADER = """\
# Undersigned's development settings, made by scripts/serve (python -m app.dev.settings) on its first run.
# The site, the mail worker and every `flask --app app ...` command started from this project read them,
# with or without FLASK_DEBUG=1 (environment variables and ./.env win over this file). Keep the file
# private and out of git. It is never overwritten: delete it to start again with new keys, which makes
# links already mailed and tree heads already signed invalid. For production, set real environment
# variables instead (see README.md, Configuration).
"""


def instance_folder() -> Path:
    """The app's instance folder, found as Flask finds it for the ``app`` package."""
    return Path(Flask("app").instance_path)


def log_signing_key(instance: Path) -> str:
    """The key of instance/log-signing.key if an older run made one (its tree heads stay verifiable), else a new one."""
    kept = instance / LOG_KEY_FILE
    if kept.exists():
        text = kept.read_text(encoding="utf-8").strip()
        check_log_signing_key(text)
        return text
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def settings_text(instance: Path, base_url: str) -> str:
    """The file's content: the header and one setting per line, with new random keys."""
    values = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LOG_SIGNING_KEY": log_signing_key(instance),
        "BASE_URL": base_url.rstrip("/"),
        # Checking that an address's domain takes mail needs DNS, which a laptop may not have.
        "EMAIL_CHECK_DELIVERABILITY": "false",
    }
    return HEADER + "".join(f"{name}={value}\n" for name, value in values.items())


def write_settings(instance: Path, base_url: str = DEFAULT_BASE_URL) -> bool:
    """Write ``instance``/.env (mode 0600) unless it exists; whether it was written."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / FILE_NAME
    try:
        # O_EXCL: an existing file, even one made a moment ago by another process, is never replaced.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(settings_text(instance, base_url))
    return True


def main(argv: list[str] | None = None) -> int:
    """Write the development settings if there are none yet, and say which file holds them."""
    parser = argparse.ArgumentParser(prog="python -m app.dev.settings", description=main.__doc__)
    parser.add_argument("--instance", type=Path, default=None, help="the instance folder (default: the app's)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help=f"the site's address (default {DEFAULT_BASE_URL})")
    args = parser.parse_args(argv)
    instance = args.instance or instance_folder()
    path = instance / FILE_NAME
    try:
        written = write_settings(instance, args.base_url)
    except ConfigError as error:  # an unreadable instance/log-signing.key
        print(f"Error: {error.message}", file=sys.stderr)
        return 2
    print(f" * Development settings {'written to' if written else 'read from'} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
