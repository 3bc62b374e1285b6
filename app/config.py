"""Settings from the environment (and an optional .env file), validated at start-up."""

from __future__ import annotations

import base64
import binascii
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from limits import parse


class ConfigError(click.ClickException, RuntimeError):
    """The configuration is missing or unsafe: the app refuses to start, saying in one line what to change.

    A click exception, so that a ``flask`` command prints ``Error: <message>`` and exits with
    status 2, and a RuntimeError, which gunicorn prints as ``Error: <message>`` before it exits:
    an operator sees the sentence, not a traceback.
    """

    exit_code = 2


WEAK_SECRETS = {"", "dev", "secret", "changeme", "change-me", "development", "test", "please-change-me"}
MIN_SECRET_LENGTH = 32


def as_bool(value: str) -> bool:
    """Read the usual spellings of true and false."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def as_int(value: str) -> int:
    """Read a whole number."""
    return int(value.strip())


def as_str(value: str) -> str:
    """Read a string as it is, trimmed."""
    return value.strip()


# What each coercer accepts, for the message when a value is not that.
EXPECTED: dict[Callable[[str], Any], str] = {as_bool: "true or false", as_int: "a whole number"}


@dataclass(frozen=True)
class Setting:
    """One environment variable: its coercer and its default (a callable sees the debug flag)."""

    name: str
    coerce: Callable[[str], Any]
    default: Any = None

    def refuse(self, raw: str) -> ConfigError:
        """The error for a value this setting cannot read, with what to set instead."""
        expected = EXPECTED.get(self.coerce, "a value")
        default = "" if self.default is None else f" (default {str(self.default).lower()})"
        return ConfigError(
            f"{self.name} must be {expected}, got {raw!r}: set it to {expected}, or leave it unset{default}"
        )


def _default_mail_port(env: Mapping[str, str]) -> int:
    if as_bool(env.get("MAIL_USE_SSL", "false")):
        return 465
    if as_bool(env.get("MAIL_USE_TLS", "false")):
        return 587
    return 25


SETTINGS: tuple[Setting, ...] = (
    Setting("SECRET_KEY", as_str),
    Setting("DATABASE_URL", as_str),
    Setting("BASE_URL", as_str),
    Setting("SITE_NAME", as_str, "Undersigned"),
    Setting("MAIL_SERVER", as_str),
    Setting("MAIL_PORT", as_int),
    Setting("MAIL_USERNAME", as_str),
    Setting("MAIL_PASSWORD", str),
    Setting("MAIL_USE_TLS", as_bool, False),
    Setting("MAIL_USE_SSL", as_bool, False),
    Setting("MAIL_TIMEOUT", as_int, 30),
    Setting("MAIL_DEFAULT_SENDER", as_str, "Undersigned <noreply@localhost>"),
    Setting("MAIL_BATCH_SIZE", as_int, 50),
    Setting("MAIL_MAX_ATTEMPTS", as_int, 8),
    Setting("MAIL_POLL_INTERVAL", as_int, 2),
    # How long a worker holds the mail it took: after a crash, another worker sends it after this.
    Setting("MAIL_LEASE_SECONDS", as_int, 300),
    # The same for background jobs (update fan-out, link requests, the purge).
    Setting("JOB_LEASE_SECONDS", as_int, 300),
    # How many signers' update mails the worker queues in one transaction.
    Setting("MAIL_UPDATE_BATCH_SIZE", as_int, 500),
    Setting("EMAIL_CHECK_DELIVERABILITY", as_bool),
    Setting("CONFIRM_TOKEN_DAYS", as_int, 7),
    Setting("DB_POOL_SIZE", as_int, 5),
    Setting("DB_MAX_OVERFLOW", as_int, 5),
    # The Retry-After of the 503 a request gets while the database cannot be reached.
    Setting("UNAVAILABLE_RETRY_AFTER", as_int, 5),
    # Counter rows per letter; default 8 on PostgreSQL, 1 on SQLite (its writers take turns anyway).
    Setting("COUNTER_SHARDS", as_int),
    Setting("DEFAULT_LOCALE", as_str, "en"),
    Setting("LIVE_POLL_SECONDS", as_int, 3),
    Setting("PAGE_CACHE_SECONDS", as_int, 1),
    # Public pages (the letter, its list, signers, log pages, embed, badge): how long any HTTP
    # cache (browser, nginx, CDN) may keep them, and serve them stale while refreshing or while
    # the app cannot answer.
    Setting("PUBLIC_MAX_AGE", as_int, 5),
    Setting("PUBLIC_STALE_WHILE_REVALIDATE", as_int, 30),
    Setting("PUBLIC_STALE_IF_ERROR", as_int, 86400),
    # The public downloads of the list: files made again at most this often, kept in EXPORT_CACHE_DIR.
    Setting("EXPORT_CACHE_SECONDS", as_int, 300),
    Setting("EXPORT_CACHE_DIR", as_str),
    # Brotli or gzip for text answers (false where a reverse proxy in front compresses instead).
    Setting("COMPRESS_RESPONSES", as_bool, True),
    # Link preview pictures (og:image): drawn with this font (one with CJK glyphs), kept in PREVIEW_DIR.
    Setting("PREVIEW_FONT", as_str, "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Setting("PREVIEW_DIR", as_str),
    # Who may frame /letters/<slug>/embed and the badge: a CSP frame-ancestors source list.
    Setting("EMBED_ALLOWED_ORIGINS", as_str, "*"),
    # Abuse resistance. Limits are Flask-Limiter strings ("10 per minute"); see README.
    Setting("RATELIMIT_ENABLED", as_bool, True),
    Setting("RATELIMIT_STORAGE_URI", as_str, "memory://"),
    Setting("RATELIMIT_SIGN_PER_NETWORK", as_str, "10 per minute"),
    Setting("RATELIMIT_SIGN_HOLD_PER_NETWORK", as_str, "30 per hour"),
    Setting("RATELIMIT_MAIL_PER_ADDRESS", as_str, "5 per hour"),
    Setting("RATELIMIT_FORMS_PER_NETWORK", as_str, "20 per minute"),
    Setting("SIGN_MIN_SECONDS", as_int, 3),
    Setting("CAPTCHA", as_str, ""),
    Setting("WITHDRAW_TOKEN_DAYS", as_int, 90),
    # Retention, applied by `flask purge` (the mail worker runs it daily).
    Setting("UNCONFIRMED_RETENTION_DAYS", as_int, 14),
    # Reminders before a letter closes (letters with "remind before closing"): this many days before.
    Setting("REMINDER_DAYS_BEFORE_CLOSE", as_int, 3),
    Setting("NETWORK_RETENTION_DAYS", as_int, 30),
    Setting("OUTBOX_RETENTION_DAYS", as_int, 7),
    Setting("PURGE_INTERVAL_HOURS", as_int, 24),
    # Moderation.
    Setting("FLAG_NETWORK_BURST", as_str, "5 per hour"),
    Setting("FLAG_SIMILAR_NAMES", as_str, "1 per hour"),
    # A signature flagged on the watch list or as a disposable address counts at once but is listed
    # only once a moderator approves it; true lists it at once, like every other flagged one.
    Setting("LIST_FLAGGED", as_bool, False),
    Setting("RATELIMIT_LOGIN_PER_NETWORK", as_str, "20 per 15 minutes"),
    Setting("RATELIMIT_LOGIN_PER_ACCOUNT", as_str, "5 per 15 minutes"),
    Setting("RATELIMIT_REPORTS_PER_NETWORK", as_str, "10 per hour"),
    Setting("RATELIMIT_DISPUTES_PER_NETWORK", as_str, "10 per hour"),
    Setting("RATELIMIT_DOWNLOADS_PER_NETWORK", as_str, "10 per hour"),
    Setting("MODERATOR_IDLE_MINUTES", as_int, 30),
    # However active, a moderator signs in again after this long.
    Setting("MODERATOR_SESSION_HOURS", as_int, 12),
    # How long an admin's invitation link to a new moderator works (once).
    Setting("MODERATOR_INVITATION_DAYS", as_int, 7),
    Setting("MODERATOR_DIGEST", as_bool, False),
    # For how long a moderator's hide, restore, approve, verify, unverify or dismiss can be undone.
    Setting("MODERATION_UNDO_MINUTES", as_int, 30),
    # The public log (see app/log/). LOG_ENABLED=false is for benchmarks only.
    Setting("LOG_ENABLED", as_bool, True),
    Setting("LOG_SIGNING_KEY", as_str),
    Setting("LOG_BATCH_SIZE", as_int, 5000),
    # How many reverse proxies in front of the app set each X-Forwarded-* header (0: trust none).
    Setting("PROXY_FIX_X_FOR", as_int, 0),
    Setting("PROXY_FIX_X_PROTO", as_int, 0),
    Setting("PROXY_FIX_X_HOST", as_int, 0),
    Setting("PROXY_FIX_X_PORT", as_int, 0),
    Setting("PROXY_FIX_X_PREFIX", as_int, 0),
)

PROXY_FIX_SETTINGS = (
    "PROXY_FIX_X_FOR",
    "PROXY_FIX_X_PROTO",
    "PROXY_FIX_X_HOST",
    "PROXY_FIX_X_PORT",
    "PROXY_FIX_X_PREFIX",
)


def read_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Coerce every known setting present in ``env``; unknown variables are ignored."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.name)
        if raw is None:
            if setting.default is not None:
                values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.coerce(raw)
        except ValueError:
            raise setting.refuse(raw) from None
    if "MAIL_PORT" not in values:
        values["MAIL_PORT"] = _default_mail_port(env)
    return values


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def finalise(config: dict[str, Any], *, debug: bool, testing: bool, instance_path: str) -> None:
    """Fill the defaults that depend on the mode and refuse unsafe production settings."""
    relaxed = debug or testing
    secret = config.get("SECRET_KEY") or ""
    if not relaxed:
        if secret.lower() in WEAK_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            problem = "is not set" if not secret else "is too weak"
            raise ConfigError(
                f"SECRET_KEY {problem}: outside debug mode it must be a random value of at least "
                f"{MIN_SECRET_LENGTH} characters; make one with {RANDOM_VALUE_MAKER} and set SECRET_KEY to it"
                f" ({DEV_SETTINGS_HINT})"
            )
        if not config.get("BASE_URL"):
            raise ConfigError(
                "BASE_URL is not set: outside debug mode set it to the site's public address, which the links "
                f"in emails use, e.g. BASE_URL=https://letters.example.org ({DEV_SETTINGS_HINT})"
            )
    elif not secret:
        # Debug and tests only: a per-process random key, never a literal.
        config["SECRET_KEY"] = os.urandom(32).hex()

    config.setdefault("BASE_URL", "http://127.0.0.1:5000")
    config["BASE_URL"] = config["BASE_URL"].rstrip("/")
    parts = urlsplit(config["BASE_URL"])
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(
            f"BASE_URL must be the site's http(s) address, got {config['BASE_URL']!r}: set it to one like "
            "https://letters.example.org"
        )

    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = "sqlite:///" + str(Path(instance_path) / "undersigned.db")
    config["DATABASE_URL"] = normalise_database_url(config["DATABASE_URL"])
    if config.get("COUNTER_SHARDS") is None:
        config["COUNTER_SHARDS"] = 8 if config["DATABASE_URL"].startswith("postgresql") else 1
    if not 1 <= config["COUNTER_SHARDS"] <= 1000:
        raise ConfigError(
            f"COUNTER_SHARDS is a number of counter rows per letter, 1 to 1000, got {config['COUNTER_SHARDS']}: "
            "set it in that range, or leave it unset (8 on PostgreSQL, 1 on SQLite)"
        )

    if config.get("EMAIL_CHECK_DELIVERABILITY") is None:
        config["EMAIL_CHECK_DELIVERABILITY"] = not relaxed
    if config.get("MAIL_USE_TLS") and config.get("MAIL_USE_SSL"):
        raise ConfigError(
            "MAIL_USE_TLS and MAIL_USE_SSL are both true but exclusive: keep MAIL_USE_TLS=true for STARTTLS "
            "(usually port 587) or MAIL_USE_SSL=true for TLS from the start (port 465), and set the other to false"
        )
    config.setdefault("MAIL_OUTBOX_DIR", str(Path(instance_path) / "mail"))
    if not config.get("PREVIEW_DIR"):
        config["PREVIEW_DIR"] = str(Path(instance_path) / "previews")
    if not config.get("EXPORT_CACHE_DIR"):
        config["EXPORT_CACHE_DIR"] = str(Path(instance_path) / "exports")
    if config.get("EXPORT_CACHE_SECONDS", 300) < 0:
        raise ConfigError(
            "EXPORT_CACHE_SECONDS is how long a download file is reused: 0 or more, "
            f"got {config['EXPORT_CACHE_SECONDS']}: set it to a number of seconds (0: made anew for each "
            "download), or leave it unset (300)"
        )
    if config.get("MODERATION_UNDO_MINUTES", 30) < 0:
        raise ConfigError(
            "MODERATION_UNDO_MINUTES is how long a moderator's action can be undone: 0 or more, "
            f"got {config['MODERATION_UNDO_MINUTES']}: set it to a number of minutes (0: no undo), "
            "or leave it unset (30)"
        )
    for name, default in PUBLIC_CACHE_SETTINGS.items():
        if config.get(name, default) < 0:
            raise ConfigError(
                f"{name} is a number of seconds public pages may be cached: 0 or more, got {config[name]}: "
                f"set it to 0 or more, or leave it unset ({default})"
            )

    for name in PROXY_FIX_SETTINGS:
        if config.get(name, 0) < 0:
            raise ConfigError(
                f"{name} is a number of trusted proxies, 0 or more, got {config[name]}: set it to how many "
                "proxies in front of the app set that header (usually 1), or 0 if none does"
            )

    origins = config.get("EMBED_ALLOWED_ORIGINS", "*")
    if not origins or any(char in origins for char in ';,\r\n"'):
        raise ConfigError(
            "EMBED_ALLOWED_ORIGINS is a space-separated list of origins, like 'https://a.example https://b.example'"
            f" or '*', got {origins!r}: set it to such a list, or leave it unset ('*': any site may embed)"
        )

    _log_signing_key(config, debug=debug, testing=testing, instance_path=instance_path)

    if config.get("SESSION_COOKIE_SECURE") is None:
        config["SESSION_COOKIE_SECURE"] = parts.scheme == "https"
    config["BABEL_DEFAULT_LOCALE"] = config.get("DEFAULT_LOCALE", "en")
    _check_rate_limits(config)
    for name, unit in (("MODERATOR_IDLE_MINUTES", "minutes"), ("MODERATOR_SESSION_HOURS", "hours")):
        if config[name] < 1:
            raise ConfigError(
                f"{name} is a number of {unit}, 1 or more, got {config[name]}: set it to 1 or more, or leave it "
                "unset for the default"
            )
    # Only moderators' sessions are permanent: they end after this long without a request.
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=config["MODERATOR_IDLE_MINUTES"])


LOG_KEY_FILE = "log-signing.key"
LOG_KEYGEN = "flask --app app log keygen"
LOG_KEY_MAKER = "python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
RANDOM_VALUE_MAKER = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
# Where a developer who runs a command beside scripts/serve gets settings from.
DEV_SETTINGS_HINT = "for development, scripts/serve writes instance/.env with one"


def check_log_signing_key(text: str) -> bytes:
    """The 32-byte Ed25519 private key that LOG_SIGNING_KEY holds (URL-safe base64), or ConfigError."""
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"LOG_SIGNING_KEY must be an Ed25519 private key as '{LOG_KEYGEN}' prints it (32 random bytes in "
            f"URL-safe base64): restore the key that signed the published tree heads, or make a new one with "
            f"{LOG_KEY_MAKER}"
        )
    return raw


def _log_signing_key(config: dict[str, Any], *, debug: bool, testing: bool, instance_path: str) -> None:
    """Refuse to run the public log in production without its key; make one for development."""
    if config.get("LOG_SIGNING_KEY"):
        check_log_signing_key(config["LOG_SIGNING_KEY"])
        return
    if testing or not config.get("LOG_ENABLED", True):
        # Tests, and benchmarks with the log off: a key of this process's own, never a literal.
        config["LOG_SIGNING_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    elif debug:
        # Development: a key kept in the instance folder, so tree heads stay verifiable across restarts.
        path = Path(instance_path) / LOG_KEY_FILE
        if not path.exists():
            path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n", encoding="utf-8")
            path.chmod(0o600)
            print(f" * Development: made a signing key for the public log in {path}", file=sys.stderr)
        config["LOG_SIGNING_KEY"] = path.read_text(encoding="utf-8").strip()
        check_log_signing_key(config["LOG_SIGNING_KEY"])
    else:
        raise ConfigError(
            "LOG_SIGNING_KEY must be set outside debug mode: it signs the public log's tree heads. Make one with "
            f"{LOG_KEY_MAKER} (or '{LOG_KEYGEN}' where the app runs, which also prints the public key); keep it "
            f"like SECRET_KEY ({DEV_SETTINGS_HINT})"
        )


RATE_LIMIT_SETTINGS = (
    "RATELIMIT_SIGN_PER_NETWORK",
    "RATELIMIT_SIGN_HOLD_PER_NETWORK",
    "RATELIMIT_MAIL_PER_ADDRESS",
    "RATELIMIT_FORMS_PER_NETWORK",
    "FLAG_NETWORK_BURST",
    "FLAG_SIMILAR_NAMES",
    "RATELIMIT_LOGIN_PER_NETWORK",
    "RATELIMIT_LOGIN_PER_ACCOUNT",
    "RATELIMIT_REPORTS_PER_NETWORK",
    "RATELIMIT_DISPUTES_PER_NETWORK",
    "RATELIMIT_DOWNLOADS_PER_NETWORK",
)


PUBLIC_CACHE_SETTINGS = {"PUBLIC_MAX_AGE": 5, "PUBLIC_STALE_WHILE_REVALIDATE": 30, "PUBLIC_STALE_IF_ERROR": 86400}


def _check_rate_limits(config: dict[str, Any]) -> None:
    """Refuse a limit that Flask-Limiter could not read, at start-up rather than on a request."""
    for name in RATE_LIMIT_SETTINGS:
        try:
            parse(config[name])
        except ValueError:
            raise ConfigError(
                f"{name} must be a limit like '10 per minute' or '5 per 15 minutes', got {config[name]!r}: "
                "set it to one, or leave it unset for the default"
            ) from None


# Flask's own settings, set to this application's values (Flask's defaults already hold
# these keys, so they are applied before overrides rather than with setdefault).
FLASK_DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": None,  # decided from BASE_URL's scheme in finalise()
    # Forms larger than this are refused with 413 before they reach a view.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # A signer may leave the letter open for a while before signing.
    "WTF_CSRF_TIME_LIMIT": 24 * 3600,
    # Rate limits: Retry-After and X-RateLimit-* headers; one counter per window per key.
    "RATELIMIT_HEADERS_ENABLED": True,
    "RATELIMIT_STRATEGY": "fixed-window",
}
