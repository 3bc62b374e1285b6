"""Load benchmark: gunicorn (2 workers) on SQLite and PostgreSQL, driven by wrk from another process.

Usage: scripts/bench [--signatures 1000000] [--duration 10] [--backends sqlite,postgresql]

Each backend gets a fresh database filled by `flask dev seed`; the app runs with
RATELIMIT_ENABLED=false (this run only) and no minimum form time, so every signing POST is
a real one: session, CSRF, validation, writes and the outbox. A bare Flask "hello" served the
same way is the ceiling each path is compared with. The table goes to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.servers import NGINX, NginxServer

ROOT = Path(__file__).resolve().parent.parent
SLUG = "bench"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "undersigned_bench"

# Ratio to the hello ceiling each path must reach (docs: issue "When the letter goes viral").
TARGETS = {
    "count API": 0.8,
    "count API, If-None-Match": 0.95,
    "letter page": 0.5,
    # The shipped nginx configuration (deploy/nginx) in front, its cache warm.
    "letter page through nginx": 3.0,
    "signing POST": 0.15,
    "confirmation POST": None,
    "deep list page": 0.3,
    "search": 0.3,
}


@dataclass
class Result:
    """One wrk run."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(name: str, url: str, *, duration: int, connections: int, script: str | None = None) -> Result:
    """Drive ``url`` for ``duration`` seconds and read wrk's report."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        args += ["-s", script]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(n) for n in match.groups())
    return Result(name, rps, p50, p99, errors, requests)


def _env(database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "RATELIMIT_ENABLED": "false",
        "SIGN_MIN_SECONDS": "0",
        "EMAIL_CHECK_DELIVERABILITY": "false",
        "FLASK_DEBUG": "0",
        "LOG_SIGNING_KEY": LOG_KEY,
        "WEB_CONCURRENCY": "2",
    }


SECRET = secrets.token_urlsafe(48)
LOG_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def flask(env: dict[str, str], *args: str) -> str:
    """Run a `flask --app app` command; its output."""
    cmd = [sys.executable, "-m", "flask", "--app", "app", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()


class Server:
    """gunicorn with gunicorn.conf.py, 2 workers, on a free port."""

    def __init__(self, env: dict[str, str], port: int, app: str | None = None) -> None:
        args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([*args, *([app] if app else [])], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/", timeout=5).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not start on {port}")

    def stop(self) -> None:
        """Stop it and wait."""
        self.process.terminate()
        self.process.wait(timeout=30)


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def form_session(base: str) -> tuple[str, str, str]:
    """A session cookie and its CSRF token (for the confirmation button), and the signing form's stamp.

    The letter page sets no cookie and its form has no token (it is the same for everyone);
    the confirmation page's button does, like the resend form, from which they are taken.
    """
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    started = re.search(
        r'name="started"(?: type="hidden")? value="([^"]*)"', opener.open(f"{base}/letters/{SLUG}").read().decode()
    )
    page = opener.open(f"{base}/letters/{SLUG}/resend").read().decode()
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token, started.group(1) if started else ""


SIGN_LUA = """
counter = 0
threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request()
  counter = counter + 1
  local body = "started=" .. STARTED .. "&name=Bench+Signer&affiliation=Load&public=y"
    .. "&website=&email=bench-" .. RUN .. "-" .. tid .. "-" .. counter .. "%40example.org"
  return wrk.format("POST", PATH,
    {["Content-Type"] = "application/x-www-form-urlencoded", ["Sec-Fetch-Site"] = "same-origin"}, body)
end
"""

CONFIRM_LUA = """
threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args)
  tokens = {}
  for line in io.lines(TOKENS) do tokens[#tokens + 1] = line end
  index = tid
end
function request()
  local raw = tokens[index] or tokens[1]
  index = index + 2
  return wrk.format("POST", "/confirm/" .. raw,
    {["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = COOKIE}, "csrf_token=" .. TOKEN)
end
"""

HEADER_LUA = 'wrk.headers["If-None-Match"] = ETAG\n'


def lua(folder: Path, name: str, body: str, **values: str) -> str:
    """A wrk script with ``values`` as Lua string globals."""
    head = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    path = folder / f"{name}.lua"
    path.write_text(head + body)
    return str(path)


def make_confirmation_tokens(database_url: str, count: int, folder: Path) -> Path:
    """Unconfirmed signatures with known confirmation links (what the mail would carry)."""
    from app import create_app
    from app.db import db, utcnow
    from app.models import Signature, Token
    from app.services import letters
    from app.services.tokens import hash_token

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    raws = [secrets.token_urlsafe(32) for _ in range(count)]
    now = utcnow()
    with app.app_context(), db.transaction() as session:
        letter = letters.get_letter(session, SLUG)
        rows = [
            {
                "letter_id": letter.id,
                "name": f"Confirmer {n}",
                "email": f"c{n}@example.org",
                "email_key": f"c{n}@example.org",
            }
            for n in range(count)
        ]
        ids = session.scalars(sa.insert(Signature).returning(Signature.id), rows).all()
        session.execute(
            sa.insert(Token),
            [
                {
                    "signature_id": sid,
                    "purpose": "confirm",
                    "token_hash": hash_token(raw),
                    "expires_at": now + timedelta(days=7),
                    # The signature's first (and only) submission: the details the mail would show.
                    "submission": 1,
                }
                for sid, raw in zip(ids, raws, strict=True)
            ],
        )
    with app.app_context():
        db.engine.dispose()
    path = folder / "tokens.txt"
    path.write_text("\n".join(raws) + "\n")
    return path


def database_facts(database_url: str, query: str) -> Any:
    """One scalar from the benchmark database."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        value = connection.execute(sa.text(query)).scalar()
    engine.dispose()
    return value


def fill_outbox(database_url: str, count: int) -> None:
    """Queue ``count`` confirmation-sized messages (copies of a real one) for the mail benchmark."""
    from app.db import utcnow
    from app.models import OutboxMessage, OutboxStatus

    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    run = secrets.token_hex(4)
    now = utcnow()
    with engine.begin() as connection:
        model = connection.execute(
            sa.select(OutboxMessage.subject, OutboxMessage.body_text, OutboxMessage.body_html).limit(1)
        ).one()
        connection.execute(
            sa.insert(OutboxMessage),
            [
                {
                    "kind": "confirm",
                    "recipient": f"mail{n}@example.org",
                    "subject": model.subject,
                    "body_text": model.body_text,
                    "body_html": model.body_html,
                    "message_id": f"<bench-{run}-{n}@example.org>",
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for n in range(count)
            ],
        )
    engine.dispose()


def mail_worker_rate(env: dict[str, str], database_url: str, count: int, timeout: int = 120) -> tuple[int, float]:
    """Messages per second from one `mail worker` process to a local SMTP sink that only counts.

    The outbox is filled first, so the worker is never waiting for work; the rate is taken
    from the first to the last message received.
    """
    from aiosmtpd.controller import Controller

    fill_outbox(database_url, count)
    times: list[float] = []
    lock = threading.Lock()

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with lock:
                times.append(time.monotonic())
            return "250 OK"

    port = free_port()
    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    # The worker also sequences the public log; a freshly seeded letter has a million events
    # waiting, which would be measured instead of the mail (benchmarks/log_bench.py measures them).
    worker_env = {
        **env,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(port),
        "PURGE_INTERVAL_HOURS": "0",
        "LOG_ENABLED": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "mail", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env=worker_env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while len(times) < count and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=120)
        controller.stop()
    sent = len(times)
    return sent, (sent - 1) / (times[-1] - times[0]) if sent > 1 else 0.0


def export_rate(env: dict[str, str]) -> dict[str, float]:
    """The CSV export of the whole letter in a process of its own: rows/s and peak RSS."""
    cmd = [sys.executable, "-m", "benchmarks.export_probe", SLUG]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    probe: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    probe["rows_per_s"] = probe["rows"] / probe["seconds"]
    return probe


def dashboard_render(env: dict[str, str]) -> dict[str, float]:
    """The moderators' dashboard of the seeded letter, rendered in a process of its own: median and slowest ms."""
    cmd = [sys.executable, "-m", "benchmarks.dashboard_probe", SLUG]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def fresh_database(backend: str, folder: Path) -> str:
    """An empty database for this run, migrated."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'bench.db'}"
    engine = sa.create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{PG_DATABASE}"')
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DATABASE}"


def drop_benchmark_database() -> None:
    """Remove the PostgreSQL benchmark database (a million rows) once measured."""
    engine = sa.create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
    engine.dispose()


def measure_hello(args: argparse.Namespace) -> float:
    """The ceiling: requests per second of the bare Flask app, served and driven the same way."""
    port = free_port()
    hello = Server(_env("sqlite://", port), port, "benchmarks.hello:app")
    try:
        result = wrk("hello", hello.base + "/", duration=args.duration, connections=args.connections)
    finally:
        hello.stop()
    print(f"hello ceiling: {result.rps:.0f} req/s", flush=True)
    return result.rps


def drain(base: str, timeout: float = 60.0) -> None:
    """Wait until requests queued by the last run are answered: a probe comes back quickly three times.

    wrk stops sending when its time is up, but requests already accepted keep the workers busy
    (a slow path's queue can take seconds); measuring the next path meanwhile spoils its figures.
    """
    deadline = time.monotonic() + timeout
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=timeout).read()
        except OSError:
            quick = 0
            time.sleep(0.2)
            continue
        quick = quick + 1 if time.monotonic() - started < 0.05 else 0
        time.sleep(0.1)


def through_nginx(app_port: int, folder: Path, args: argparse.Namespace) -> Result:
    """The letter page through the shipped nginx configuration (deploy/nginx) in front of the same gunicorn.

    The cache is warmed by one request first; nginx then answers from it and refreshes the page
    in the background each time its max-age (PUBLIC_MAX_AGE) runs out.
    """
    place = folder / f"nginx-{app_port}"
    place.mkdir()
    nginx = NginxServer(place, app_port)
    nginx.start()
    try:
        url = f"{nginx.base}/letters/{SLUG}"
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        urllib.request.urlopen(url, context=context).read()
        return wrk("letter page through nginx", url, duration=args.duration, connections=args.connections)
    finally:
        nginx.stop()


def bench_backend(backend: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Seed, serve and measure one database, between two measurements of the hello ceiling."""
    url = fresh_database(backend, folder)
    port = free_port()
    env = _env(url, port)
    flask(env, "db", "upgrade")
    started = time.monotonic()
    print(f"[{backend}] " + flask(env, "dev", "seed", SLUG, "--signatures", str(args.signatures)), flush=True)
    seed_seconds = time.monotonic() - started
    if backend == "postgresql":
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")  # what autovacuum does shortly after a bulk load
        engine.dispose()
    tokens = make_confirmation_tokens(url, args.confirmations, folder)
    public = "status = 'confirmed' AND public"
    deep = database_facts(
        url,
        f"SELECT confirmed_at || '|' || id FROM signatures WHERE {public} ORDER BY confirmed_at, id "
        f"LIMIT 1 OFFSET {int(args.signatures * 0.05)}",
    )
    when, sid = deep.split("|")
    from datetime import UTC, datetime

    stamp = datetime.fromisoformat(when.replace(" ", "T"))
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
    micros = (stamp - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    cursor = f"{micros}-{sid}"

    hello_before = measure_hello(args)
    server = Server(env, port)
    results: list[Result] = []
    try:
        base = server.base
        etag = urllib.request.urlopen(f"{base}/api/v1/letters/{SLUG}").headers["ETag"]
        cookie, token, stamp_field = form_session(base)
        run_id = secrets.token_hex(3)
        scripts = {
            "sign": lua(folder, "sign", SIGN_LUA, STARTED=stamp_field, RUN=run_id, PATH=f"/letters/{SLUG}/sign"),
            "confirm": lua(folder, "confirm", CONFIRM_LUA, TOKEN=token, COOKIE=cookie, TOKENS=str(tokens)),
            "etag": lua(folder, "etag", HEADER_LUA, ETAG=etag),
        }
        plan = [
            ("letter page", f"{base}/letters/{SLUG}", None),
            ("count API", f"{base}/api/v1/letters/{SLUG}", None),
            ("count API, If-None-Match", f"{base}/api/v1/letters/{SLUG}", scripts["etag"]),
            ("deep list page", f"{base}/letters/{SLUG}/signatures?cursor={cursor}", None),
            ("search", f"{base}/letters/{SLUG}/signatures?q=Lovelace", None),
            ("search, rare term", f"{base}/letters/{SLUG}/signatures?q=Hopper%20Lovelace", None),
            ("signing POST", f"{base}/letters/{SLUG}/sign", scripts["sign"]),
            ("confirmation POST", f"{base}/", scripts["confirm"]),
        ]
        for name, target, script in plan:
            drain(base)
            result = wrk(name, target, duration=args.duration, connections=args.connections, script=script)
            results.append(result)
            print(
                f"[{backend}] {name:28} {result.rps:8.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                flush=True,
            )
        if NGINX.is_file():
            drain(base)
            result = through_nginx(port, folder, args)
            results.append(result)
            print(f"[{backend}] {result.name:28} {result.rps:8.0f} req/s  errors {result.errors}", flush=True)
        else:
            print(f"[{backend}] letter page through nginx: not measured, nginx is not installed", flush=True)
        drain(base)
    finally:
        server.stop()
    hello_after = measure_hello(args)
    signed = database_facts(url, f"SELECT count(*) FROM signatures WHERE email LIKE 'bench-{run_id}-%'")
    sign_result = next(r for r in results if r.name == "signing POST")
    accepted = sign_result.requests - sign_result.errors
    from benchmarks.counter import measure

    counter = measure(url, SLUG)
    mail_sent, mail_rate = mail_worker_rate(env, url, args.mail_messages)
    probe = export_rate(env)
    dashboard = dashboard_render(env)
    print(f"[{backend}] moderators' dashboard: median {dashboard['median_ms']:.0f} ms", flush=True)
    return {
        "backend": backend,
        "seed_seconds": seed_seconds,
        "results": results,
        # Paths are compared with the mean of the ceiling measured before and after them, so
        # that a change of load on the machine during the run shows (and is halved) in the ratios.
        "hello": (hello_before + hello_after) / 2,
        "hello_before": hello_before,
        "hello_after": hello_after,
        "signed_in_db": signed,
        "signed_accepted": accepted,
        "mail": (mail_sent, mail_rate),
        "counter": counter,
        "export": probe,
        "dashboard": dashboard,
        # The count as the site shows it (the letter row's folded part plus its shards) and a recount.
        "count": database_facts(
            url,
            "SELECT l.signature_count + coalesce((SELECT sum(value) FROM letter_counter_shards s "
            f"WHERE s.letter_id = l.id), 0) FROM letters l WHERE l.slug = '{SLUG}'",
        ),
        "recount": database_facts(
            url,
            "SELECT count(*) FROM signatures s JOIN letters l ON l.id = s.letter_id "
            f"WHERE l.slug = '{SLUG}' AND s.status = 'confirmed'",
        ),
    }


def verdict(ratio: float, target: float | None, errors: int = 0) -> str:
    """Met, missed, or no target."""
    if target is None:
        return "—"
    return "met" if ratio >= target and not errors else "**missed**"


def write_report(runs: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    """The Markdown table of every run."""
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, shared; gunicorn with 2 sync workers (gunicorn.conf.py); "
        f"wrk -t2 -c{args.connections} -d{args.duration}s from the same machine; "
        f"{args.signatures:,} signers seeded per database. Ratios are to the bare Flask 'hello' "
        "served the same way in the same run, measured before and after each database's paths; each "
        "path starts once the previous one's queued requests are answered.",
        "",
    ]
    for run in runs:
        hello = run["hello"]
        lines += [
            f"## {run['backend']}",
            "",
            f"Seeding {args.signatures:,} signers: {run['seed_seconds']:.0f} s. Hello ceiling: {hello:.0f} req/s "
            f"(mean of {run['hello_before']:.0f} before and {run['hello_after']:.0f} after this database's paths).",
            "",
            "| path | req/s | p50 ms | p99 ms | errors | ratio to hello | target | |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in run["results"]:
            target = TARGETS.get(r.name, TARGETS.get(r.name.split(",")[0]))
            ratio = r.rps / hello
            errors = r.errors if r.name == "signing POST" else 0
            lines.append(
                f"| {r.name} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {ratio:.2f} | "
                f"{'≥ ' + str(target) if target else '—'} | {verdict(ratio, target, errors)} |"
            )
        sent, rate = run["mail"]
        probe = run["export"]
        stored = "every accepted one stored" if run["signed_in_db"] >= run["signed_accepted"] else "**some missing**"
        lines += [
            "",
            f"- Signing: {run['signed_accepted']} POSTs answered 303, {run['signed_in_db']} signatures in the database "
            f"({stored}).",
            f"- Mail worker (one process, SMTP sink on loopback): {sent} messages, {rate:.0f} messages/s "
            f"(target ≥ 200: {'met' if rate >= 200 else '**missed**'}).",
            f"- CSV export of {probe['rows']:,.0f} rows: {probe['rows_per_s']:,.0f} rows/s, peak RSS "
            f"{probe['peak_mb']:.0f} MB, of which {probe['baseline_mb']:.0f} MB before the first row "
            "(targets ≥ 100,000 rows/s: "
            f"{'met' if probe['rows_per_s'] >= 100_000 else '**missed**'}; < 100 MB: "
            f"{'met' if probe['peak_mb'] < 100 else '**missed**'}).",
            f"- Moderators' dashboard of the {args.signatures:,}-signer letter (signed in, through the whole app, "
            f"no network): median {run['dashboard']['median_ms']:.0f} ms, slowest {run['dashboard']['max_ms']:.0f} ms "
            f"of {run['dashboard']['repeats']:.0f} (target < 1,000 ms: "
            f"{'met' if run['dashboard']['median_ms'] < 1000 else '**missed**'}).",
            f"- Count after the run: {run['count']:,} shown, {run['recount']:,} by a recount "
            f"({'exact' if run['count'] == run['recount'] else '**not exact**'}).",
            f"- Counter contention ({run['counter'].get('threads', 8):.0f} connections, confirmation-shaped "
            f"transactions): {run['counter']['without']:.0f}/s without a counter update, "
            f"{run['counter']['with']:.0f}/s with the one letter row, {run['counter']['shards']:.0f}/s with "
            "the sharded counter (benchmarks/counter.py).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and write docs/benchmarks.md (or --output)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signatures", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per path")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--confirmations", type=int, default=20000, help="links prepared for the confirmation POST")
    parser.add_argument("--mail-messages", type=int, default=3000, help="messages queued for the mail worker")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    command = "scripts/bench " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="undersigned-bench-") as tmp:
        folder = Path(tmp)
        try:
            runs = [bench_backend(b, args, folder) for b in args.backends.split(",")]
        finally:
            if "postgresql" in args.backends:
                drop_benchmark_database()
    report = write_report(runs, args, command)
    output = Path(args.output)
    # Sections this run does not measure are kept as they are: the notes on what bounds each path
    # (written by hand, after reading the tables), the public log's figures (from
    # benchmarks/log_bench.py --write) and the delivery PDF's (benchmarks/delivery_pdf.py).
    previous = output.read_text() if output.exists() else ""
    for heading in ("## Notes: ", "## Public log\n", "## Delivery PDF\n"):
        kept = re.search(rf"^{re.escape(heading)}.*?(?=^## |\Z)", previous, re.S | re.M)
        if kept:
            report = report.rstrip("\n") + "\n\n" + kept.group(0).rstrip("\n")
    output.write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
