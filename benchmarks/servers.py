"""Servers of a run's own, to be stopped, restarted and killed: PostgreSQL, Redis, gunicorn, mail, SMTP, nginx.

Each lives in a folder it is given, on a free loopback port, and never touches the shared PostgreSQL
(5432) or Redis (6379) that other tests use. ``benchmarks/faults.py`` and the tests use them.

PostgreSQL refuses to run as root: when this process is root, its commands run as the ``postgres``
user (Debian's package makes it), in a folder given to that user.
"""

from __future__ import annotations

import base64
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent


class ServerMissing(RuntimeError):
    """A program a server needs is not installed here (the message says how to install it)."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Return as soon as ``condition()`` is true; raise after ``seconds`` (OSError counts as not yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerMissing(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed (Debian: apt-get install postgresql)"
    )


class PostgresServer:
    """A PostgreSQL cluster of its own: create, start, stop (fast, or immediate as in a crash), destroy.

    It lives in a new folder under the system's temporary folder (not one given to it: a test's or
    a run's folder is readable by its owner only, and the server may run as another user).
    """

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="undersigned-postgres-"))
        self.data = self.folder / "pgdata"
        self.port = free_port()
        assert self.port != 5432  # the shared one
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ServerMissing("runuser is not installed: PostgreSQL cannot run as root")
            try:
                shutil.chown(self.folder, "postgres", "postgres")
            except LookupError as error:
                raise ServerMissing(
                    "there is no 'postgres' user to run PostgreSQL as (it comes with its package)"
                ) from error
            self.as_user = [runuser, "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """Its ``undersigned`` database, for DATABASE_URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/undersigned"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, cwd=self.folder, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{self.log()}")

    def log(self) -> str:
        """What the server has written to its log."""
        path = self.folder / "postgres.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def create(self) -> None:
        """Make the cluster and its ``undersigned`` database, and start it."""
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "undersigned")

    def start(self) -> None:
        """Start it (again) and wait until it accepts connections."""
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c max_connections=60"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "postgres.log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop it: ``fast`` ends the sessions and shuts down cleanly, ``immediate`` is a crash."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop it if it runs and remove its folder (at the end of a run)."""
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
            cwd=self.folder,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer:
    """A redis-server of its own on a free loopback port, in ``folder``; stopped and started at will.

    Nothing is saved.
    """

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise ServerMissing("redis-server is not installed (Debian: apt-get install redis-server)")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        assert self.port != 6379  # the shared one
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its address, for RATELIMIT_STORAGE_URI."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        """A redis-py client for it."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        """Start it (again, after stop(), on the same port) and wait until it answers."""
        import redis

        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen([*args, "--dir", str(self.folder)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                assert self.process.poll() is None, (self.folder / "redis.log").read_text()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # not yet listening

    def stop(self) -> None:
        """Shut it down without saving; its port refuses connections afterwards."""
        if self.process is None:
            return
        self.client().shutdown(nosave=True)
        self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """Make sure it is gone (at the end of a run)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def site_environment(database_url: str, redis_url: str, smtp_port: int, **settings: str) -> dict[str, str]:
    """The settings of a production-like site on these servers, with limits that a load from one address passes."""
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith(("FLASK_", "TEST_"))},
        "DATABASE_URL": database_url,
        "BASE_URL": "http://127.0.0.1",  # the app server's own address replaces it
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LOG_SIGNING_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "RATELIMIT_STORAGE_URI": redis_url,
        # The load comes from one address: limits that it passes, so that every answer is the fault's.
        "RATELIMIT_SIGN_PER_NETWORK": "1000000 per minute",
        "RATELIMIT_FORMS_PER_NETWORK": "1000000 per minute",
        "RATELIMIT_SIGN_HOLD_PER_NETWORK": "1000000 per hour",
        "FLAG_NETWORK_BURST": "1000000 per hour",
        "SIGN_MIN_SECONDS": "0",
        "EMAIL_CHECK_DELIVERABILITY": "false",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "FLASK_DEBUG": "0",
        **settings,
    }


def run_flask(env: dict[str, str], *args: str) -> str:
    """Run ``flask --app app ARGS`` as an operator would; its output, or an error with it."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class AppServer:
    """gunicorn with the project's gunicorn.conf.py, ``workers`` sync workers, on a free port."""

    def __init__(self, folder: Path, env: dict[str, str], *, workers: int = 2) -> None:
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "BASE_URL": self.base, "WEB_CONCURRENCY": str(workers), "GUNICORN_TIMEOUT": "20"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until the site answers."""
        args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}"]
        with (self.folder / "gunicorn.log").open("ab") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ready, 60, f"gunicorn on {self.base}")

    def ready(self) -> bool:
        """Whether /readyz says it can serve."""
        assert self.process is not None and self.process.poll() is None, self.log()
        try:
            with urllib.request.urlopen(self.base + "/readyz", timeout=5) as response:
                return int(response.status) == 200
        except urllib.error.HTTPError:
            return False

    def workers(self) -> list[int]:
        """The process ids of its workers (the master's children)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def log(self) -> str:
        """What it has written so far."""
        path = self.folder / "gunicorn.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop it gracefully (killed after 20 s)."""
        _stop(self.process)
        self.process = None


class MailWorker:
    """``flask mail worker`` as an operator runs it; started, stopped or killed mid-batch."""

    def __init__(self, folder: Path, env: dict[str, str], base: str, *, interval: float = 0.1) -> None:
        self.folder = folder
        self.env = {**env, "BASE_URL": base}
        self.interval = interval
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        """Start a new worker process."""
        self.runs += 1
        args = [sys.executable, "-m", "flask", "--app", "app", "mail", "worker", "--interval", str(self.interval)]
        with (self.folder / f"mail-worker-{self.runs}.log").open("ab") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no chance to finish the batch or record what it sent."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def log(self) -> str:
        """What every run of it has written."""
        return "".join(path.read_text(errors="replace") for path in sorted(self.folder.glob("mail-worker-*.log")))

    def stop(self) -> None:
        """Stop it as a service manager does (SIGTERM; killed after 20 s)."""
        _stop(self.process)
        self.process = None


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class MailSink:
    """An SMTP server (aiosmtpd) that keeps every message; each delivery can be made to take ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        from aiosmtpd.controller import Controller

        self.delay = delay
        self.lock = threading.Lock()
        self.received: list[tuple[str, str, str]] = []  # (Message-ID, recipient, subject)
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.port = self.controller.port

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message (after the delay, if any)."""
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content)
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.received.append((str(message["Message-ID"]), recipient, str(message["Subject"])))
        return "250 OK"

    def start(self) -> None:
        """Listen."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        with self.lock:
            return Counter(message_id for message_id, _, _ in self.received)

    def recipients(self) -> set[str]:
        """Every address that got a message."""
        with self.lock:
            return {recipient for _, recipient, _ in self.received}


NGINX = Path("/usr/sbin/nginx")
SITE = ROOT / "deploy/nginx/undersigned.conf"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, made for this run."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def site_config(folder: Path, *, http_port: int, https_port: int, app_port: int) -> str:
    """The shipped site, with only its ports and paths changed for this machine."""
    cert, key = self_signed(folder)
    text = SITE.read_text(encoding="utf-8")
    replacements = {
        "    listen 80;\n    listen [::]:80;\n": f"    listen 127.0.0.1:{http_port};\n",
        "    listen 443 ssl http2;\n    listen [::]:443 ssl http2;\n": (
            f"    listen 127.0.0.1:{https_port} ssl http2;\n"
        ),
        "/etc/letsencrypt/live/letters.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/letters.example.org/privkey.pem": str(key),
        "/var/cache/nginx/undersigned": str(folder / "cache"),
        "server 127.0.0.1:8000": f"server 127.0.0.1:{app_port}",
        "/srv/undersigned/deploy/nginx": str(ROOT / "deploy/nginx"),
    }
    for shipped, here in replacements.items():
        assert shipped in text, f"the shipped configuration no longer has {shipped!r}"
        text = text.replace(shipped, here)
    return text


class NginxServer:
    """nginx in the foreground: the shipped site (deploy/nginx) inside a main configuration of its own.

    Only the site's ports and paths are changed: it listens on free loopback ports with a
    certificate made for the run, and proxies to gunicorn on ``app_port``.
    """

    def __init__(self, folder: Path, app_port: int) -> None:
        self.folder = folder
        self.http_port, self.https_port = free_port(), free_port()
        (folder / "site.conf").write_text(
            site_config(folder, http_port=self.http_port, https_port=self.https_port, app_port=app_port)
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = " ".join(
            f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} info;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n  access_log {folder / 'access.log'};\n  {temp}\n"
            "  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
            f"  include {folder / 'site.conf'};\n}}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.base = f"https://127.0.0.1:{self.https_port}"

    def start(self) -> None:
        """Check the configuration, start nginx and wait until it listens."""
        args = [str(NGINX), "-p", str(self.folder), "-e", str(self.folder / "error.log"), "-c", "nginx.conf"]
        checked = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen([*args, "-g", "daemon off;"])
        wait_until(self.listening, 20, f"nginx on {self.https_port}")

    def listening(self) -> bool:
        """Whether it accepts connections on its HTTPS port."""
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.https_port)) == 0

    def stop(self) -> None:
        """Stop it gracefully (SIGQUIT), killed after 10 s."""
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
