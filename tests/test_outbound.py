"""The one client that fetches from other sites: the public web only, briefly, a little, from the worker."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from app import outbound
from app.db import db, utcnow
from app.jobs import HANDLERS, Settings, Step, run_due
from app.models import JobStatus
from app.outbound import FetchError, FetchRefused, FetchTimeout, OutboundClient, is_public_address
from app.services import jobs

ROOT = Path(__file__).resolve().parent.parent


class Handler(BaseHTTPRequestHandler):
    """Pages for every case: a page, redirects (to anywhere), a huge body, a body sent a byte at a time."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        path, _, query = self.path.partition("?")
        if path == "/page":
            self._send(200, b"<p>undersigned-proof-abc123 for " + self.headers["Host"].encode() + b"</p>")
        elif path == "/hops":  # /hops?N redirects N more times, then lands on /page
            left = int(query or 0)
            target = f"/hops?{left - 1}" if left else "/page"
            self._redirect(target)
        elif path == "/to":  # /to?URL redirects there
            self._redirect(query)
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(160):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self._send(404, f"nothing at {path} on {port}".encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def server() -> Iterator[int]:
    """A web server on a free loopback port; its port."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fetcher(server: int) -> OutboundClient:
    """The client, allowed to reach the test server's port on loopback (and only that)."""
    return OutboundClient(loopback_ports={server}, timeout=2.0)


@pytest.fixture(autouse=True)
def in_worker() -> Iterator[None]:
    """Fetch as the job worker does (one test below checks that nothing else may)."""
    with outbound.worker_fetches():
        yield


def test_a_page_is_fetched_with_its_host_and_type(fetcher: OutboundClient, server: int) -> None:
    fetched = fetcher.get(f"http://127.0.0.1:{server}/page")
    assert fetched.status == 200 and fetched.content_type.startswith("text/html")
    assert fetched.text() == f"<p>undersigned-proof-abc123 for 127.0.0.1:{server}</p>"
    assert not fetched.truncated


def test_at_most_three_redirects_are_followed(fetcher: OutboundClient, server: int) -> None:
    fetched = fetcher.get(f"http://127.0.0.1:{server}/hops?2")  # three redirects in all
    assert fetched.url == f"http://127.0.0.1:{server}/page" and fetched.status == 200
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetcher.get(f"http://127.0.0.1:{server}/hops?3")


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/admin",  # loopback, on a port the test server does not have
        "http://localhost:22/",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:192.168.1.1]/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:25/",
    ],
)
def test_a_redirect_off_the_public_web_is_refused(fetcher: OutboundClient, server: int, target: str) -> None:
    with pytest.raises(FetchRefused):
        fetcher.get(f"http://127.0.0.1:{server}/to?{target}")


def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(server: int) -> None:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return {"intranet.example": ["10.0.0.1"], "mixed.example": ["93.184.215.14", "192.168.0.7"]}[host]

    client = OutboundClient(resolve=resolve, timeout=2.0)
    with pytest.raises(FetchRefused, match=r"10\.0\.0\.1, which is not on the public internet"):
        client.get("https://intranet.example/.well-known/undersigned.txt")
    # One public address among private ones is not enough: any of them could be the one connected to.
    with pytest.raises(FetchRefused, match=r"192\.168\.0\.7"):
        client.get("http://mixed.example/")
    assert asked == ["intranet.example", "mixed.example"]


def test_the_connection_goes_to_the_address_checked_not_a_second_lookup(server: int) -> None:
    # A resolver that answers loopback the first time and anything else after: only one lookup happens.
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    client = OutboundClient(resolve=lambda host, port: next(answers), loopback_ports={server}, timeout=2.0)
    fetched = client.get(f"http://proof.example:{server}/page")
    assert fetched.text() == f"<p>undersigned-proof-abc123 for proof.example:{server}</p>"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # shared address space (carrier-grade NAT)
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 (an address judged, not bound)
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.215.14", True),
    ],
)
def test_only_global_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize("url", ["ftp://example.org/", "http://example.org:8080/", "http://user:pw@example.org/"])
def test_other_schemes_ports_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused):
        OutboundClient(resolve=lambda host, port: ["93.184.215.14"]).get(url)


def test_a_huge_body_is_read_only_to_64_kb(fetcher: OutboundClient, server: int) -> None:
    fetched = fetcher.get(f"http://127.0.0.1:{server}/huge")
    assert len(fetched.body) == 64 * 1024 and fetched.truncated


def test_a_body_sent_a_byte_at_a_time_ends_at_the_deadline(server: int) -> None:
    client = OutboundClient(loopback_ports={server}, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        client.get(f"http://127.0.0.1:{server}/slow")
    # Twenty bytes a second would take over an hour for the whole body; the deadline ends it.
    assert time.monotonic() - started < 4


def test_outbound_requests_are_refused_outside_the_job_worker(server: int) -> None:
    with outbound.worker_fetches():
        client = OutboundClient(loopback_ports={server})
    token = outbound._in_worker.set(False)  # as in a web request, which never opens worker_fetches
    try:
        with pytest.raises(FetchRefused, match="job worker only"):
            client.get(f"http://127.0.0.1:{server}/page")
    finally:
        outbound._in_worker.reset(token)


def test_a_job_may_fetch(app: Flask, server: int) -> None:
    seen: list[str] = []

    def fetch_job(session: Any, job: Any, settings: Settings, now: dt.datetime) -> Step:
        seen.append(OutboundClient(loopback_ports={server}).get(f"http://127.0.0.1:{server}/page").text())
        return Step(JobStatus.DONE)

    HANDLERS["test_fetch"] = fetch_job
    token = outbound._in_worker.set(False)
    try:
        with app.app_context():
            with db.transaction() as session:
                jobs.add(session, "test_fetch", {}, now=utcnow())
            assert run_due(Settings.from_config(app.config), worker_id="test") == 1
    finally:
        outbound._in_worker.reset(token)
        del HANDLERS["test_fetch"]
    assert seen == [f"<p>undersigned-proof-abc123 for 127.0.0.1:{server}</p>"]


def test_the_loopback_switch_is_refused_outside_a_test_run() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    code = "from app.outbound import OutboundClient; OutboundClient(loopback_ports={8080})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=ROOT)
    assert done.returncode != 0 and "loopback addresses are allowed in tests only" in done.stderr


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """An HTTPS server on loopback with a certificate for proof.example only; its port and the CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proof.example")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("proof.example")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], str(cert_file)
    httpd.shutdown()
    httpd.server_close()


def test_https_checks_the_certificate_of_the_name_asked_for(https_server: tuple[int, str]) -> None:
    port, ca_file = https_server
    client = OutboundClient(resolve=lambda host, p: ["127.0.0.1"], loopback_ports={port}, ca_certs=ca_file)
    fetched = client.get(f"https://proof.example:{port}/page")
    assert fetched.status == 200 and "undersigned-proof-abc123" in fetched.text()
    # The same server under another name: its certificate does not cover it.
    with pytest.raises(FetchError):
        client.get(f"https://other.example:{port}/page")
