"""Rate limits (Flask-Limiter): hard limits answer 429, soft limits quietly hold or skip work.

Limits are keyed by a keyed hash of the client's network, never by the raw address: an IPv4
address, or the /64 an IPv6 address belongs to (one household or office gets many IPv6
addresses). The counters live in memory, or in Redis when RATELIMIT_STORAGE_URI says so,
so that several app servers share them. A signature is never lost to a counter: while Redis
cannot be reached, each process counts in its own memory (see FallbackStorage).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import STRATEGIES, RateLimiter

from app.clock import clock_of
from app.web import handle_http_error

log = logging.getLogger(__name__)

T = TypeVar("T")

# Redis answers a counter in well under a millisecond: one that takes half a second is down.
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+unix"})


class FallbackStorage(Storage):
    """The shared counters (Redis), or this process's own memory while they cannot be reached.

    A call that fails on the shared storage is counted in memory instead, and so are the calls
    after it: the same limits, counted per process. Every RETRY_SECONDS one call tries the
    shared storage again; the first that succeeds switches back, without a restart. The log
    says when the shared storage is lost, at most once every WARN_SECONDS while it stays away,
    and when it answers again: never once per request.
    """

    RETRY_SECONDS = 5.0
    WARN_SECONDS = 60.0

    def __init__(self, shared: Storage, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.shared = shared
        self.clock = clock
        self.memory: MemoryStorage | None = None  # made at the first failure (it starts a timer thread)
        self.down_since: float | None = None
        self._next_try = 0.0
        self._next_warning = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """The shared storage's errors (this storage raises none of them)."""
        return self.shared.base_exceptions

    def _counted(self, operation: Callable[[Storage], T]) -> T:
        """``operation`` on the shared storage while it answers, else on this process's memory."""
        now = self.clock()
        if self.down_since is None or now >= self._next_try:
            try:
                result = operation(self.shared)
            except self.shared.base_exceptions as error:
                self._failed(error, now)
            else:
                if self.down_since is not None:
                    log.warning(
                        "rate-limit storage answers again after %d s: limits are shared again",
                        now - self.down_since,
                    )
                    self.down_since = None
                return result
        elif now >= self._next_warning:
            self._still_down(now)
        if self.memory is None:
            self.memory = MemoryStorage()
        return operation(self.memory)

    def _failed(self, error: Exception, now: float) -> None:
        self._next_try = now + self.RETRY_SECONDS
        if self.down_since is not None:
            if now >= self._next_warning:
                self._still_down(now)
            return
        self.down_since = now
        self._next_warning = now + self.WARN_SECONDS
        # The error names the host and port, never the URI's password.
        log.warning(
            "rate-limit storage unreachable (%s: %s): counting limits in this process's memory until it answers",
            type(error).__name__,
            error,
        )

    def _still_down(self, now: float) -> None:
        assert self.down_since is not None
        self._next_warning = now + self.WARN_SECONDS
        log.warning(
            "rate-limit storage still unreachable after %d s: limits are counted in this process's memory",
            now - self.down_since,
        )

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to a counter that expires ``expiry`` seconds after its first hit."""
        return self._counted(lambda storage: storage.incr(key, expiry, amount))

    def get(self, key: str) -> int:
        """A counter's value."""
        return self._counted(lambda storage: storage.get(key))

    def get_expiry(self, key: str) -> float:
        """When a counter expires (a Unix time)."""
        return self._counted(lambda storage: storage.get_expiry(key))

    def check(self) -> bool:
        """Whether the shared storage answers."""
        return self.shared.check()

    def reset(self) -> int | None:
        """Forget every counter."""
        if self.memory is not None:
            self.memory.reset()
        return self._counted(lambda storage: storage.reset())

    def clear(self, key: str) -> None:
        """Forget one counter."""
        if self.memory is not None:
            self.memory.clear(key)
        self._counted(lambda storage: storage.clear(key))


class SiteLimiter(Limiter):
    """Flask-Limiter, counting through a FallbackStorage when the counters are shared (Redis).

    Every count goes through ``limiter``: the decorators' limits, their headers and Retry-After,
    the login's conditional deduction, and the quiet limits (``over_soft_limit``) alike.
    Flask-Limiter's own in-memory fallback is not used: it guards only the limits it evaluates
    itself (not the quiet ones, which call the storage directly), its state lives on this
    module-level object across apps, and its health checks run on the wall clock alone (ours
    reads the app's clock).
    """

    fallback_storage: FallbackStorage | None = None
    _counting: RateLimiter | None = None

    def init_app(self, app: Flask) -> None:
        """Bind to ``app``; wrap a shared storage in a FallbackStorage."""
        super().init_app(app)
        self.fallback_storage = None
        self._counting = None
        if not self.enabled or isinstance(self.storage, MemoryStorage):
            return
        # The app's clock: tests move it on to see the retries and the once-a-minute warning.
        self.fallback_storage = FallbackStorage(self.storage, clock=clock_of(app).monotonic)
        self._counting = STRATEGIES[app.config["RATELIMIT_STRATEGY"]](self.fallback_storage)

    @property
    def limiter(self) -> RateLimiter:
        """The counting strategy, over the fallback storage when there is one."""
        if self._counting is not None:
            return self._counting
        return super().limiter


limiter = SiteLimiter(key_func=lambda: client_network_key())


def network_of(address: str) -> str:
    """The part of an address that stands for one client: IPv4 as is, IPv6 as its /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def network_hash(address: str, secret: str) -> str:
    """A keyed hash of the client's network: equal for the same network, useless without the key."""
    key = hashlib.sha256(b"undersigned-network:" + secret.encode()).digest()
    return hmac.new(key, network_of(address).encode(), hashlib.sha256).hexdigest()[:32]


def private_key(value: str) -> str:
    """A keyed hash of a private value (an email address) to count it by, never the value itself."""
    key = hashlib.sha256(b"undersigned-limit:" + current_app.config["SECRET_KEY"].encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def client_network_key() -> str:
    """The current request's network hash (what limits and the signature record use)."""
    return network_hash(request.remote_addr or "unknown", current_app.config["SECRET_KEY"])


def config_limit(name: str) -> str:
    """A limit string from the app's settings (read on each request, so tests can change it)."""
    return str(current_app.config[name])


def over_soft_limit(setting: str, *identifiers: str) -> bool:
    """Count one hit against the limit named by ``setting``; True when it is already used up.

    For limits whose breach is answered quietly (the request looks as usual but its effect is
    held or skipped), so a bot or an attacker learns nothing from the answer.
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        return False
    return not limiter.limiter.hit(parse(config_limit(setting)), setting, *identifiers)


def retry_after_seconds() -> int:
    """Seconds until the limit this request broke lets requests through again."""
    breached = limiter.current_limit
    if breached is None:
        return 60
    return max(1, math.ceil(breached.reset_at - time.time()))


def handle_rate_limited(error: RateLimitExceeded) -> Response:
    """The site's 429 page or JSON, saying when to try again, with Retry-After."""
    error.retry_after = retry_after_seconds()
    return current_app.make_response(handle_http_error(error))


def init_app(app: Flask) -> None:
    """Bind the limiter; its settings (RATELIMIT_*) come from the app's configuration."""
    if urlsplit(app.config["RATELIMIT_STORAGE_URI"]).scheme in REDIS_SCHEMES:
        # A Redis that stops answering (rather than refusing) costs one request half a second, not a minute.
        timeouts = {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS}
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {**timeouts, **app.config.get("RATELIMIT_STORAGE_OPTIONS", {})}
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
