"""Every request the site makes to another site goes through :class:`OutboundClient`.

Checking an identity proof means fetching a page that a signer names, so the address is chosen by
someone outside. The client keeps such a request from reaching anything but the public web
(server-side request forgery):

- only ``http`` and ``https``, only on ports 80 and 443;
- the host is resolved once, every address it resolves to must be a global one (no private,
  loopback, link-local, shared, multicast or reserved address, IPv4 inside IPv6 included), and the
  connection goes to the address that was checked, so a second lookup cannot be turned elsewhere;
- at most 3 redirects, each checked the same way;
- at most 64 kB of a body is read, and the whole request, redirects included, ends after 5 seconds;
- only inside :func:`worker_fetches`, which the job worker opens around each job: never in a web
  request, whose worker it would hold up.

Tests reach servers of their own on the loopback address, on the ports they name in
``loopback_ports``; the client refuses that switch outside a test run (pytest names the running
test in the environment).
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import socket
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3

ALLOWED_SCHEMES = {"http": 80, "https": 443}
MAX_REDIRECTS = 3
MAX_BYTES = 64 * 1024
TIMEOUT_SECONDS = 5.0
USER_AGENT = "Undersigned proof checker (+https://github.com/undersigned)"

# A host name and port to the addresses they resolve to (``socket.getaddrinfo`` by default).
Resolver = Callable[[str, int], list[str]]

_in_worker: contextvars.ContextVar[bool] = contextvars.ContextVar("outbound_in_worker", default=False)


class FetchError(Exception):
    """A fetch that did not give a page, with the reason in words."""


class FetchRefused(FetchError):
    """The request would leave the public web, or is made outside the job worker."""


class FetchTimeout(FetchError):
    """The request (redirects included) took longer than it may."""


@dataclass(frozen=True)
class Fetched:
    """What a fetch read: the final address, its status and type, and at most MAX_BYTES of its body."""

    url: str
    status: int
    content_type: str
    body: bytes
    # True when the body was longer than what was read.
    truncated: bool

    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")


@contextmanager
def worker_fetches() -> Iterator[None]:
    """Allow outbound requests in this block (the job worker opens it around each job)."""
    token = _in_worker.set(True)
    try:
        yield
    finally:
        _in_worker.reset(token)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise FetchError(f"{host} could not be resolved") from error
    return sorted({str(info[4][0]) for info in found})


def is_public_address(address: str) -> bool:
    """Whether ``address`` is on the public internet (IPv4 mapped or translated into IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class OutboundClient:
    """GET pages from the public web under the rules of this module."""

    def __init__(
        self,
        *,
        resolve: Resolver = system_resolver,
        loopback_ports: Collection[int] = (),
        ca_certs: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        if loopback_ports and "PYTEST_CURRENT_TEST" not in os.environ:
            raise FetchRefused("loopback addresses are allowed in tests only")
        self.resolve = resolve
        self.loopback_ports = frozenset(loopback_ports)
        self.ca_certs = ca_certs
        self.timeout = timeout
        self.max_bytes = max_bytes

    def get(self, url: str) -> Fetched:
        """GET ``url``, following at most MAX_REDIRECTS redirects; raises FetchError (or a subclass)."""
        if not _in_worker.get():
            raise FetchRefused("outbound requests are made by the job worker only, never in a web request")
        deadline = time.monotonic() + self.timeout
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._request(url, deadline)
            location = response.headers.get("Location")
            if response.status in {301, 302, 303, 307, 308} and location:
                response.release_conn()
                url = urljoin(url, location)
                continue
            return self._read(url, response, deadline)
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _address(self, host: str, port: int) -> str:
        """The one address to connect to: every address ``host`` has must be allowed."""
        addresses = self.resolve(host, port)
        if not addresses:
            raise FetchError(f"{host} has no address")
        for address in addresses:
            if is_public_address(address):
                continue
            if port in self.loopback_ports and ipaddress.ip_address(address).is_loopback:
                continue
            raise FetchRefused(f"{host} resolves to {address}, which is not on the public internet")
        return addresses[0]

    def _request(self, url: str, deadline: float) -> urllib3.BaseHTTPResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise FetchRefused(f"only http and https addresses are fetched, not {scheme or 'this'}")
        if parts.username or parts.password:
            raise FetchRefused("addresses with a user name or password are not fetched")
        host = parts.hostname
        if not host:
            raise FetchRefused("the address names no host")
        try:
            port = parts.port or ALLOWED_SCHEMES[scheme]
        except ValueError as error:
            raise FetchRefused("the address has an invalid port") from error
        if port not in ALLOWED_SCHEMES.values() and port not in self.loopback_ports:
            raise FetchRefused(f"only ports 80 and 443 are fetched, not {port}")
        address = self._address(host, port)
        remaining = self._remaining(deadline)
        timeout = urllib3.Timeout(connect=remaining, read=remaining)
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                port,
                timeout=timeout,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self.ca_certs,
                assert_hostname=host,
                server_hostname=host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = host if parts.port is None else f"{host}:{port}"
        try:
            return pool.urlopen(
                "GET",
                path,
                headers={"Host": host_header, "User-Agent": USER_AGENT, "Accept": "text/html, text/plain, */*"},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.TimeoutError as error:
            raise FetchTimeout(f"{host} did not answer within {self.timeout:g} seconds") from error
        except urllib3.exceptions.HTTPError as error:
            raise FetchError(f"{host} could not be reached ({type(error).__name__})") from error

    def _read(self, url: str, response: urllib3.BaseHTTPResponse, deadline: float) -> Fetched:
        """At most ``max_bytes`` of the body, before the deadline."""
        body = bytearray()
        truncated = False
        try:
            while True:
                # Each read waits at most for what is left of the time: a body sent a byte at a
                # time ends at the deadline too.
                left = self._remaining(deadline)
                sock = getattr(response.connection, "sock", None)
                if sock is not None:
                    sock.settimeout(left)
                chunk = response.read1(min(8192, self.max_bytes + 1 - len(body)), decode_content=True)
                if not chunk:
                    break
                body.extend(chunk)
                if len(body) > self.max_bytes:
                    truncated = True
                    del body[self.max_bytes :]
                    break
        except (urllib3.exceptions.TimeoutError, TimeoutError) as error:
            raise FetchTimeout(f"the page did not arrive within {self.timeout:g} seconds") from error
        except urllib3.exceptions.HTTPError as error:
            raise FetchError(f"the page could not be read ({type(error).__name__})") from error
        finally:
            response.release_conn()
        return Fetched(
            url=url,
            status=response.status,
            content_type=response.headers.get("Content-Type", ""),
            body=bytes(body),
            truncated=truncated,
        )

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchTimeout(f"the request took longer than {self.timeout:g} seconds")
        return left
