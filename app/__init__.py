"""Undersigned: publish an open letter and collect signatures confirmed by email."""

from __future__ import annotations

import os
from typing import Any

from dotenv import load_dotenv
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import caching, cli, export_files, ratelimit, urls, web
from app import clock as clocks
from app import config as settings
from app.api.views import bp as api_bp
from app.bots import load_captcha
from app.compression import CompressResponses
from app.db import db
from app.extensions import babel, csrf, select_locale
from app.health import bp as health_bp
from app.letters import preview
from app.letters.views import bp as letters_bp
from app.moderation import accounts
from app.moderation import bp as moderation_bp
from app.reports.views import bp as reports_bp
from app.signing.invitations import bp as invitations_bp
from app.signing.views import bp as signing_bp
from app.urls import LinkTokenConverter


def create_app(test_config: dict[str, Any] | None = None, *, clock: clocks.Clock | None = None) -> Flask:
    """Build the application: configuration, clock, database, extensions, pages, CLI.

    ``clock`` replaces the system's clock (tests move it on instead of sleeping).
    """
    app = Flask(__name__, instance_relative_config=True)
    load_configuration(app, test_config)
    clocks.init_app(app, clock)
    db.init_app(app)
    init_caches(app)
    trust_reverse_proxies(app)
    compress_responses(app)
    init_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_web_hooks(app)
    register_cli(app)
    return app


def load_configuration(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Read settings from the environment (and .env files), apply overrides, and validate them.

    Outside tests, ./.env (in the current folder) and then instance/.env (the development
    settings that scripts/serve writes) fill in what the environment does not set: a variable
    already set, by the environment or the file before, wins.
    """
    if test_config is None:
        load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
        load_dotenv(os.path.join(app.instance_path, ".env"), override=False)
    app.config.update(settings.FLASK_DEFAULTS)
    app.config.update(settings.read_environment(os.environ))
    if test_config is not None:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    settings.finalise(app.config, debug=app.debug, testing=app.testing, instance_path=app.instance_path)


def init_caches(app: Flask) -> None:
    """Short-lived caches of public answers (inside ProxyFix: they see the client's scheme), downloads, pictures."""
    caching.init_app(app)
    export_files.init_app(app)
    preview.init_app(app)


def trust_reverse_proxies(app: Flask) -> None:
    """Read the client's address, scheme and host from X-Forwarded-* only as far as configured."""
    hops = {name: app.config.get(name, 0) for name in settings.PROXY_FIX_SETTINGS}
    if not any(hops.values()):
        return  # exposed directly: anyone could forge those headers
    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        app.wsgi_app,
        x_for=hops["PROXY_FIX_X_FOR"],
        x_proto=hops["PROXY_FIX_X_PROTO"],
        x_host=hops["PROXY_FIX_X_HOST"],
        x_port=hops["PROXY_FIX_X_PORT"],
        x_prefix=hops["PROXY_FIX_X_PREFIX"],
    )


def compress_responses(app: Flask) -> None:
    """Brotli or gzip for text answers, outside the caches (they keep plain answers), unless a proxy does it."""
    if app.config["COMPRESS_RESPONSES"]:
        app.wsgi_app = CompressResponses(app.wsgi_app)  # type: ignore[method-assign]


def init_extensions(app: Flask) -> None:
    """Bind the module-level extensions to this app."""
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    ratelimit.init_app(app)
    load_captcha(app)
    accounts.init_app(app)


def register_url_converters(app: Flask) -> None:
    """Converters the routes name (``<id:...>``), registered before the routes that use them."""
    urls.register_converters(app)


def register_blueprints(app: Flask) -> None:
    """Mount the pages, the API, the health checks and (in debug mode only) the development mailbox."""
    app.url_map.converters["token"] = LinkTokenConverter
    app.register_blueprint(letters_bp)
    app.register_blueprint(signing_bp)
    app.register_blueprint(invitations_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(moderation_bp)
    app.register_blueprint(health_bp)
    csrf.exempt(api_bp)
    if app.debug:
        # Imported only in debug mode: a production process never loads the development mailbox.
        from app.dev.views import bp as dev_bp

        app.register_blueprint(dev_bp)


def register_web_hooks(app: Flask) -> None:
    """Error pages, security headers and template helpers."""
    web.init_app(app)


def register_cli(app: Flask) -> None:
    """Add the operator's commands to ``flask``."""
    cli.register(app)
