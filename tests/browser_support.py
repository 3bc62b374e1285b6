"""Fixtures for browser tests: the app served on loopback, and a real Chromium driven by Playwright.

tests/conftest.py registers this module as a plugin, so every test module can ask for these
fixtures by name; do not import them into a test module (that would make a second Playwright).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Error, Playwright, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support import require

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's own waits (clicks, navigations); assertions pass their own, shorter timeouts.
DEFAULT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver process, once per test process."""
    playwright = sync_playwright().start()
    yield playwright
    playwright.stop()


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Headless Chromium from the system (CHROMIUM_PATH, default /usr/bin/chromium).

    Missing or broken, it skips on a laptop and fails in CI (CI=true).
    """
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    require(os.path.isfile(path) and os.access(path, os.X_OK), f"no Chromium at {path} (set CHROMIUM_PATH)")
    try:
        chromium = playwright_driver.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
    except Error as exc:
        require(False, f"Chromium at {path} did not start: {exc.message.splitlines()[0]}")
        raise  # unreachable: require() skipped or failed
    yield chromium
    chromium.close()


class LiveServer:
    """The app served by Werkzeug in a background thread on a loopback port."""

    def __init__(self, app: Flask) -> None:
        # Port 0: the OS picks a free port at bind time (no race with other test processes).
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def start(self) -> None:
        """Start answering requests."""
        self.thread.start()

    def stop(self) -> None:
        """Stop answering and free the port."""
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The base URL of the app served on loopback; BASE_URL points at it, so mailed links work."""
    server = LiveServer(app)
    app.config["BASE_URL"] = server.url
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def new_context(browser: Browser, live_server: str) -> Iterator[Callable[..., BrowserContext]]:
    """Make browser contexts (separate cookie jars) whose relative URLs go to the live server.

    Every context is closed after the test, before the server stops.
    """
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("base_url", live_server)
        options.setdefault("locale", "en-GB")
        context = browser.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
