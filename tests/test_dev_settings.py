"""One set of development settings: instance/.env, written once by scripts/serve and read by every process."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from app.config import check_log_signing_key, finalise, read_environment
from app.dev.settings import write_settings
from tests.support import ROOT, free_port, operator_env, project_folder, require, text_of
from tests.test_scale_out import Browser

SLUG = "not-your-test-lab"  # the demo letter's
PASSWORD = "a long enough password"


def test_the_settings_are_written_once_private_and_fit_for_every_mode(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    assert write_settings(instance, "http://127.0.0.1:5000/")
    path = instance / ".env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Undersigned's development settings, made by scripts/serve")
    values = dotenv_values(path)
    assert set(values) == {"SECRET_KEY", "LOG_SIGNING_KEY", "BASE_URL", "EMAIL_CHECK_DELIVERABILITY"}
    assert len(values["SECRET_KEY"] or "") >= 64
    check_log_signing_key(values["LOG_SIGNING_KEY"] or "")
    assert values["BASE_URL"] == "http://127.0.0.1:5000"
    # Enough for a command run without FLASK_DEBUG (production's checks).
    config = read_environment({name: value or "" for name, value in values.items()})
    finalise(config, debug=False, testing=False, instance_path=str(instance))
    assert config["EMAIL_CHECK_DELIVERABILITY"] is False

    # Never overwritten, not even with another address.
    assert not write_settings(instance, "http://localhost:8000")
    assert path.read_text(encoding="utf-8") == text
    # Another folder gets keys of its own.
    assert (
        write_settings(tmp_path / "other")
        and dotenv_values(tmp_path / "other" / ".env")["SECRET_KEY"] != (values["SECRET_KEY"])
    )


def test_a_log_key_from_an_older_run_is_kept_so_its_tree_heads_stay_verifiable(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    older = base64.urlsafe_b64encode(os.urandom(32)).decode()
    (instance / "log-signing.key").write_text(older + "\n", encoding="utf-8")
    assert write_settings(instance)
    assert dotenv_values(instance / ".env")["LOG_SIGNING_KEY"] == older


SHOW_KEY = "from app import create_app; print(create_app().config['SECRET_KEY'])"


@pytest.mark.parametrize("debug", ["0", "1"])
def test_the_app_reads_instance_env_after_the_environment_and_dot_env(tmp_path: Path, debug: str) -> None:
    folder = project_folder(tmp_path)
    assert write_settings(folder / "instance")
    written = dotenv_values(folder / "instance" / ".env")["SECRET_KEY"]

    def secret_key(**settings: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", SHOW_KEY],
            cwd=folder,
            env=operator_env(tmp_path, FLASK_DEBUG=debug, PYTHONPATH=str(folder), **settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert secret_key() == written
    (folder / ".env").write_text("SECRET_KEY=" + "d" * 40 + "\n", encoding="utf-8")
    assert secret_key() == "d" * 40
    assert secret_key(SECRET_KEY="e" * 40) == "e" * 40


# --- scripts/serve, run as a newcomer runs it, in a copy of the project ----------------------------


def _copy_project(where: Path) -> Path:
    """A copy of the project to run scripts/serve in: its own app folder (translations are compiled
    into it) and instance folder, the rest linked, and the test run's virtualenv under .venv."""
    require(sys.prefix != sys.base_prefix, "the tests do not run in a virtualenv for scripts/serve to use")
    folder = where / "project"
    shutil.copytree(ROOT / "app", folder / "app", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("migrations", "demo", "scripts", "requirements.txt", "requirements-dev.txt"):
        (folder / name).symlink_to(ROOT / name)
    venv = folder / ".venv"
    venv.mkdir()
    for entry in Path(sys.prefix).iterdir():
        if not entry.name.startswith("."):
            (venv / entry.name).symlink_to(entry)
    # What scripts/_venv.sh looks for to know that requirements.txt is installed.
    pins = b"".join(path.read_bytes() for path in sorted(ROOT.glob("requirements*.txt")))
    digest = hashlib.sha256(pins).hexdigest()[:16]
    (venv / f".installed-{digest}-requirements.txt").touch()
    return folder


def _wait_until(condition: Callable[[], Any], seconds: float, what: str, log: Path) -> Any:
    """Poll a process that runs on its own until ``condition`` gives something (never a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = condition()
        except OSError:  # not listening yet
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}")


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status)


@contextmanager
def _serve(folder: Path, port: int, log: Path) -> Iterator[str]:
    """scripts/serve on ``port``, as a newcomer starts it; stopped (with its worker) at the end."""
    env = operator_env(folder.parent, PORT=str(port), SIGN_MIN_SECONDS="0")
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["bash", "scripts/serve"], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _status(base + "/") == 200, 180, "the site", log)
        yield base
    finally:
        # The script, its mail worker and Flask's reloader: one process group, started here.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # a straggler of the group, if any


def _flask(folder: Path, *args: str, stdin: str | None = None, **settings: str) -> str:
    """``python -m flask --app app ARGS`` as the README shows it, in the project, without FLASK_DEBUG."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=folder,
        env=operator_env(folder.parent, **settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def _mail_to(folder: Path, address: str, subject: str) -> EmailMessage | None:
    """The newest message to ``address`` whose subject has ``subject``, as the worker wrote it to instance/mail."""
    for path in sorted((folder / "instance" / "mail").glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == address and subject in str(message["Subject"]):
            return message
    return None


def _path_in(message: EmailMessage, route: str, base: str) -> str:
    match = re.search(re.escape(base) + rf"(/{route}/\S+)", text_of(message))
    assert match, text_of(message)
    return match.group(1)


@pytest.mark.timeout(900)
def test_scripts_serve_shares_its_settings_with_the_worker_and_every_command(tmp_path: Path) -> None:
    folder = _copy_project(tmp_path)
    log = tmp_path / "serve.log"
    settings = folder / "instance" / ".env"
    with _serve(folder, free_port(), log) as base:
        assert stat.S_IMODE(settings.stat().st_mode) == 0o600
        first_settings = settings.read_text(encoding="utf-8")
        assert dotenv_values(settings)["BASE_URL"] == base

        # The README's operator commands, beside the running site, without FLASK_DEBUG.
        _flask(folder, "moderator", "create", "mod@example.org", "--role", "admin", "--password-stdin", stdin=PASSWORD)
        assert "mod@example.org" in _flask(folder, "moderator", "list")
        listed = _flask(folder, "letter", "list")
        assert SLUG in listed
        assert _flask(folder, "letter", "list", FLASK_DEBUG="1") == listed  # the same database either way
        _flask(folder, "letter", "load", "demo/letter.md")

        # A signer who wants updates signs on the site and confirms with the link the worker mailed.
        browser = Browser(base)
        fields = {"name": "Ada Lovelace", "email": "ada@example.org", "public": "y", "wants_updates": "y"}
        assert browser.post(f"/letters/{SLUG}/sign", f"/letters/{SLUG}", fields) == 303
        confirmation = _wait_until(lambda: _mail_to(folder, "ada@example.org", "Confirm"), 60, "the mail", log)
        confirm = _path_in(confirmation, "confirm", base)
        assert browser.post(confirm, confirm, {}) == 200

        # An update published from the command line; the worker mails it with an unsubscribe link
        # signed with its SECRET_KEY, which the site (another process) must accept.
        update = tmp_path / "update.md"
        update.write_text("# We delivered the letter\n\nThank you for signing.\n", encoding="utf-8")
        _flask(folder, "letter", "update", SLUG, str(update))
        mailed = _wait_until(lambda: _mail_to(folder, "ada@example.org", "We delivered"), 60, "the update", log)
        unsubscribe = _path_in(mailed, "unsubscribe", base)
        status, page = browser.get(unsubscribe)
        assert status == 200 and "This link cannot be used" not in page, page[:2000]
        request = urllib.request.Request(base + unsubscribe, data=b"List-Unsubscribe=One-Click", method="POST")
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.status == 200

        # The tree heads that the worker signed check out with the key that a command reads.
        def verified_once_the_worker_sequenced() -> str | None:
            report = _flask(folder, "log", "verify", SLUG)
            return None if "waiting to be sequenced" in report else report

        report = _wait_until(verified_once_the_worker_sequenced, 60, "the worker to sequence the log", log)
        assert "1 signatures live" in report and "VERIFIED" in report, report
        assert "Ada Lovelace" in _flask(folder, "signatures", "export", SLUG)

    # A second run keeps the settings: links mailed before stay valid.
    with _serve(folder, free_port(), log):
        assert settings.read_text(encoding="utf-8") == first_settings
