"""The shipped deployment: deploy/nginx in front of gunicorn, as an operator installs it, and the systemd units.

nginx runs with the shipped site configuration, only its ports and paths changed, on loopback
ports with a certificate made for the run; gunicorn, the mail worker and an SMTP sink are real.
"""

from __future__ import annotations

import gzip
import http.client
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from benchmarks.servers import NGINX, AppServer, MailWorker, NginxServer, run_flask, site_environment, wait_until
from tests.support import ROOT, SMTPSink, link_in, require

UNITS = sorted((ROOT / "deploy/systemd").glob("*.service"))
SLUG = "deployed-letter"
LETTER = f"""---
title: A letter behind nginx
slug: {SLUG}
featured: true
---
We mean it.
"""

# The deployment test starts servers of its own: one worker process runs it all.
pytestmark = pytest.mark.xdist_group("deploy")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Browser:
    """An HTTPS client of the site through nginx, from a loopback address of its choice, keeping its cookies."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.port = port
        self.source = source
        self.cookies: dict[str, str] = {}
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def request(self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.context, timeout=30, source_address=(self.source, 0)
        )
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        finally:
            connection.close()
        for cookie in answer.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie(cookie)
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})
        return answer

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict[str, str], **headers: str) -> Answer:
        here = f"https://127.0.0.1:{self.port}"
        origin = {"Origin": here, "Sec-Fetch-Site": "same-origin", "Referer": here + path}
        return self.request("POST", path, urlencode(form), {**origin, **headers})


@dataclass
class Site:
    app: AppServer
    nginx: NginxServer
    worker: MailWorker
    sink: SMTPSink

    def browser(self, source: str = "127.0.0.1") -> Browser:
        return Browser(self.nginx.https_port, source)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(NGINX.is_file(), "nginx is not installed (apt-get install nginx)")
    folder = tmp_path_factory.mktemp("deploy")
    sink = SMTPSink()
    sink.start()
    env = site_environment(
        f"sqlite:///{folder / 'site.db'}",
        "memory://",
        sink.port,
        PROXY_FIX_X_FOR="1",
        PROXY_FIX_X_PROTO="1",
        COMPRESS_RESPONSES="false",
        PUBLIC_MAX_AGE="2",
        # Small enough to reach from one address in the test; counted per client address.
        RATELIMIT_SIGN_PER_NETWORK="4 per minute",
    )
    app = AppServer(folder, env, workers=1)
    nginx = NginxServer(folder, app.port)
    base = f"https://127.0.0.1:{nginx.https_port}"
    app.env["BASE_URL"] = base
    run_flask(app.env, "db", "upgrade")
    (folder / "letter.md").write_text(LETTER, encoding="utf-8")
    run_flask(app.env, "letter", "load", str(folder / "letter.md"))
    worker = MailWorker(folder, env, base)
    app.start()
    worker.start()
    nginx.start()
    try:
        yield Site(app, nginx, worker, sink)
    finally:
        nginx.stop()
        worker.stop()
        app.stop()
        sink.stop()


def test_plain_http_is_redirected_to_https(site: Site) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", site.nginx.http_port, timeout=10)
    connection.request("GET", f"/letters/{SLUG}?lang=ko")
    response = connection.getresponse()
    assert response.status == 301
    assert response.headers["Location"] == f"https://127.0.0.1/letters/{SLUG}?lang=ko"
    connection.close()


def test_the_letter_page_is_a_cache_hit_and_the_same_for_two_visitors(site: Site) -> None:
    path = f"/letters/{SLUG}?lang=en&first-look"
    first = site.browser().get(path)
    second = site.browser().get(path, **{"User-Agent": "another visitor"})
    assert first.status == second.status == 200
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    assert first.body == second.body
    assert "A letter behind nginx" in first.text
    for answer in (first, second):
        assert answer.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
        assert answer.headers.get_all("Strict-Transport-Security") == [answer.headers["Strict-Transport-Security"]]
        assert answer.headers["Set-Cookie"] is None
        assert answer.headers["Cache-Control"].startswith("public, max-age=2,")


def test_text_answers_are_compressed(site: Site) -> None:
    answer = site.browser().get(f"/letters/{SLUG}/signatures", **{"Accept-Encoding": "gzip"})
    assert answer.status == 200
    assert answer.headers["Content-Encoding"] == "gzip"
    assert "A letter behind nginx" in gzip.decompress(answer.body).decode()


def test_signing_through_nginx_works_end_to_end_with_mail(site: Site) -> None:
    browser = site.browser()
    page = browser.get(f"/letters/{SLUG}")
    stamp = re.search(r'name="started" type="hidden" value="([^"]+)"', page.text)
    assert stamp
    form = {"name": "Ada Lovelace", "email": "ada@example.org", "public": "y", "started": stamp.group(1)}
    signed = browser.post(f"/letters/{SLUG}/sign", form)
    assert signed.status == 303, signed.text
    assert signed.headers["Location"] == f"/letters/{SLUG}/signed"  # the app saw the https scheme and host
    wait_until(lambda: bool(site.sink.messages_to("ada@example.org")), 30, "the confirmation mail")
    [message] = site.sink.messages_to("ada@example.org")
    link = link_in(message)
    assert link.startswith(f"https://127.0.0.1:{site.nginx.https_port}/confirm/")
    confirm = urlsplit(link).path
    shown = browser.get(confirm)
    token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
    assert shown.status == 200 and token, shown.text
    done = browser.post(confirm, {"csrf_token": token.group(1)})
    assert done.status == 200, done.text
    api = site.browser().get(f"/api/v1/letters/{SLUG}")
    assert '"signature_count":1' in api.text.replace(" ", "")


def test_a_cross_site_form_is_refused_through_nginx(site: Site) -> None:
    answer = site.browser().post(
        f"/letters/{SLUG}/sign", {"name": "Eve", "email": "eve@example.org"}, **{"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status == 403
    assert "This form was sent from another website" in answer.text


def can_bind(address: str) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


def test_the_rate_limiter_sees_the_address_nginx_passed_and_not_a_forged_one(site: Site) -> None:
    require(can_bind("127.0.0.3") and can_bind("127.0.0.4"), "cannot use 127.0.0.3 and .4 as source addresses")
    flooder, other = site.browser("127.0.0.3"), site.browser("127.0.0.4")
    form = {"name": "", "email": ""}  # refused by the form, counted by the limit all the same

    def status(browser: Browser, **headers: str) -> int:
        return browser.post(f"/letters/{SLUG}/sign", form, **headers).status

    statuses = [status(flooder, **{"X-Forwarded-For": f"10.0.0.{n}"}) for n in range(6)]
    # Each claimed to come from another address; nginx overwrote the header with the real one.
    assert statuses[:4] == [422] * 4 and statuses[4:] == [429, 429], statuses
    assert status(other) == 422  # another client is counted on its own


def test_with_the_app_stopped_the_letter_stays_readable_and_signing_says_to_try_again(site: Site) -> None:
    path = f"/letters/{SLUG}?lang=ko"
    fresh = site.browser().get(path)
    assert fresh.status == 200
    site.app.stop()
    try:
        time.sleep(3)  # past the page's max-age (PUBLIC_MAX_AGE=2): nginx must ask the app, which is gone
        stale = site.browser().get(path)
        assert stale.status == 200
        assert stale.headers["X-Cache-Status"] == "STALE"
        assert stale.body == fresh.body
        signing = site.browser().post(f"/letters/{SLUG}/sign", {"name": "Ada", "email": "ada2@example.org"})
        assert signing.status == 502
        assert "Back in a minute" in signing.text and "잠시 후 다시 이용할 수 있습니다" in signing.text
        assert signing.headers["Retry-After"] == "60"
        assert "nginx" not in signing.text
    finally:
        site.app.start()


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require(analyze is not None, "systemd-analyze is not installed (apt-get install systemd)")
    assert analyze is not None and UNITS
    # The units name /srv/undersigned: here, the checkout and its virtual environment.
    venv = Path(sys.executable).parent.parent
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace("/srv/undersigned/.venv", str(venv))
        (tmp_path / unit.name).write_text(text.replace("/srv/undersigned", str(ROOT)), encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / unit.name) for unit in UNITS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Nothing it warns about in our own units (it may note things about the machine's other units).
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "undersigned-" in line]
    assert ours == [], ours
