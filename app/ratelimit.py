"""Rate limits (Flask-Limiter): hard limits answer 429, soft limits quietly hold or skip work.

Limits are keyed by a keyed hash of the client's network, never by the raw address: an IPv4
address, or the /64 an IPv6 address belongs to (one household or office gets many IPv6
addresses). The counters live in memory, or in Redis when RATELIMIT_STORAGE_URI says so,
so that several app servers share them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse

limiter = Limiter(key_func=lambda: client_network_key())


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
    from app.web import handle_http_error

    error.retry_after = retry_after_seconds()
    return current_app.make_response(handle_http_error(error))


def init_app(app: Flask) -> None:
    """Bind the limiter; its settings (RATELIMIT_*) come from the app's configuration."""
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
