"""The chaos run: a part fails under a signing load, and no signature that was acknowledged is lost.

    python -m benchmarks.faults                 # every fault, the table on stdout
    python -m benchmarks.faults --write-docs    # ... and into docs/reliability.md
    python -m benchmarks.faults postgres-restart --seconds 6

The run starts its own PostgreSQL (initdb/pg_ctl) and Redis in a temporary folder on free loopback
ports (never the shared ones), gunicorn with the project's gunicorn.conf.py, the mail worker, and an
SMTP sink. For each fault, threads post the signing form as browsers do (a CSRF token from the page,
then the form), each with an address of its own, while the part is taken away:

- ``redis-down``: the rate-limit store stops for a few seconds and comes back;
- ``postgres-restart``: PostgreSQL is stopped (fast shutdown, which ends every session) and started
  again a few seconds later; the mail worker keeps running through it;
- ``gunicorn-worker-kill``: an app worker gets SIGKILL mid-load, twice; the master replaces it;
- ``mail-worker-kill``: the mail worker gets SIGKILL in the middle of a batch of confirmation mails,
  and a new one is started.

Afterwards every address that was answered 303 ("check your inbox") must be in the database, and its
confirmation mail must have been delivered. The table: requests sent, answered 303, stored, lost
(must be 0), 503s during the fault, other 5xx or 503s outside it (must be 0), requests that got no
answer (a killed worker's connection), and the recovery time: from the part's return to the first
signing acknowledged after it (for the mail worker: until the last mail was delivered). Mail sent
twice may only be the killed worker's own batch (its lease runs out; see README, "Mail").
"""

from __future__ import annotations

import argparse
import http.cookiejar
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.servers import (
    ROOT,
    AppServer,
    MailSink,
    MailWorker,
    PostgresServer,
    RedisServer,
    run_flask,
    site_environment,
    wait_until,
)

SLUG = "not-your-test-lab"
FAULTS = ("redis-down", "postgres-restart", "gunicorn-worker-kill", "mail-worker-kill")
MAIL_BATCH = 20
LEASE_SECONDS = 3
DOCS = ROOT / "docs" / "reliability.md"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    """One signing POST: what was sent, when it was answered, and how."""

    email: str
    sent: float
    answered: float
    status: int | None  # None: no answer (connection reset or timed out)


class Signer:
    """One visitor's browser: a cookie jar (the signing form needs no token: its page is the same for all)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def sign(self, email: str, name: str) -> Answer:
        """Post the form once."""
        started = time.monotonic()
        data = urllib.parse.urlencode(
            {"name": name, "email": email, "public": "y", "affiliation": "Chaos Test"}
        ).encode()
        try:
            with self.opener.open(f"{self.base}/letters/{SLUG}/sign", data=data, timeout=20) as response:
                status: int | None = int(response.status)
        except urllib.error.HTTPError as error:
            status = int(error.code)
            error.read()
        except (urllib.error.URLError, OSError):
            status = None
        return Answer(email, started, time.monotonic(), status)


class Load:
    """``threads`` signers posting the form one after another until stopped, each address new."""

    def __init__(self, base: str, label: str, threads: int = 6) -> None:
        self.base = base
        self.label = label
        self.threads = threads
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.running: list[threading.Thread] = []

    def _run(self, number: int) -> None:
        signer = Signer(self.base)
        n = 0
        while not self.stopping.is_set():
            n += 1
            email = f"{self.label}-{number}-{n}@example.org"
            answer = signer.sign(email, f"Chaos {self.label} {number} {n}")
            with self.lock:
                self.answers.append(answer)
            if answer.status != 303:
                time.sleep(0.05)  # a person would not resend at once either

    def __enter__(self) -> Load:
        for number in range(self.threads):
            thread = threading.Thread(target=self._run, args=(number,), daemon=True)
            thread.start()
            self.running.append(thread)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        for thread in self.running:
            thread.join(timeout=30)

    def acknowledged_since(self, moment: float) -> bool:
        """Whether a signing sent after ``moment`` was answered 303."""
        with self.lock:
            return any(answer.status == 303 and answer.sent >= moment for answer in self.answers)


@dataclass
class Outcome:
    """A row of the table."""

    fault: str
    sent: int
    acknowledged: int
    stored: int
    lost: int
    unavailable: int  # 503 while the part was away (explained)
    unexplained: int  # any other 5xx, or a 503 outside the fault's window
    no_answer: int
    recovery: float
    mail_twice: int = 0
    mail_stuck: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """0 lost, 0 unexplained 5xx, no mail stuck, and mail twice only within a killed batch."""
        return self.lost == 0 and self.unexplained == 0 and self.mail_stuck == 0 and self.mail_twice <= MAIL_BATCH


class Site:
    """PostgreSQL, Redis, gunicorn, the mail worker and the SMTP sink of one run, in ``folder``."""

    def __init__(self, folder: Path, *, app_workers: int = 2) -> None:
        self.folder = folder
        self.postgres = PostgresServer()
        self.redis = RedisServer(self._sub("redis"))
        self.sink = MailSink()
        self.app_workers = app_workers

    def _sub(self, name: str) -> Path:
        path = self.folder / name
        path.mkdir()
        return path

    def start(self) -> None:
        """Create the database, migrate it, load the demo letter and start every process."""
        self.postgres.create()
        self.redis.start()
        self.sink.start()
        self.env = site_environment(
            self.postgres.url,
            self.redis.url,
            self.sink.port,
            MAIL_BATCH_SIZE=str(MAIL_BATCH),
            MAIL_LEASE_SECONDS=str(LEASE_SECONDS),
            UNAVAILABLE_RETRY_AFTER="2",
        )
        run_flask(self.env, "db", "upgrade")
        run_flask(self.env, "letter", "load", str(ROOT / "demo" / "letter.md"))
        self.app = AppServer(self._sub("gunicorn"), self.env, workers=self.app_workers)
        self.app.start()
        self.mail = MailWorker(self._sub("mail"), self.env, self.app.base)
        self.mail.start()

    def stop(self) -> None:
        """Stop everything, whatever state it is in."""
        for step in (
            lambda: getattr(self, "mail", None) and self.mail.stop(),
            lambda: getattr(self, "app", None) and self.app.stop(),
            self.sink.stop,
            self.redis.kill,
            self.postgres.destroy,
        ):
            try:
                step()
            except Exception as error:
                print(f"faults: while stopping: {error!r}", file=sys.stderr)

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows from the run's database (retried while it is starting)."""
        for attempt in range(50):
            try:
                with psycopg.connect(self.postgres.url, connect_timeout=5) as connection:
                    return list(connection.execute(sql, params).fetchall())  # type: ignore[arg-type]
            except psycopg.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def stored(self, emails: set[str]) -> set[str]:
        """Which of ``emails`` have a signature."""
        rows = self.query("SELECT email FROM signatures WHERE email = ANY(%s)", list(emails))
        return {row[0] for row in rows}

    def pending_mail(self) -> int:
        """Outbox messages not yet sent."""
        return int(self.query("SELECT count(*) FROM outbox_messages WHERE status = 'pending'")[0][0])

    def mail_twice(self) -> int:
        """Deliveries beyond the first of a message (same Message-ID), since the run began."""
        return sum(count - 1 for count in self.sink.message_ids().values())

    def wait_for_mail(self, emails: set[str], seconds: float) -> set[str]:
        """Wait until every address in ``emails`` got its mail and nothing is pending; those that did not."""
        with suppress(TimeoutError):
            wait_until(lambda: emails <= self.sink.recipients() and self.pending_mail() == 0, seconds, "the mail")
        return emails - self.sink.recipients()


def _outcome(name: str, site: Site, load: Load, window: tuple[float, float], recovery: float) -> Outcome:
    answers = load.answers
    acknowledged = {answer.email for answer in answers if answer.status == 303}
    stored = site.stored(acknowledged) if acknowledged else set()
    start, end = window

    def explained(answer: Answer) -> bool:
        return answer.status == 503 and answer.answered >= start and answer.sent <= end

    errors = [answer for answer in answers if answer.status is not None and answer.status >= 500]
    outcome = Outcome(
        fault=name,
        sent=len(answers),
        acknowledged=len(acknowledged),
        stored=len(stored),
        lost=len(acknowledged - stored),
        unavailable=sum(explained(answer) for answer in errors),
        unexplained=sum(not explained(answer) for answer in errors),
        no_answer=sum(answer.status is None for answer in answers),
        recovery=recovery,
    )
    others = sorted({answer.status for answer in answers if answer.status not in (303, 503, None)}, key=str)
    if others:
        outcome.notes.append(f"other answers: {others}")
    return outcome


def _recover(load: Load, back: float, seconds: float) -> float:
    """Seconds from ``back`` until a signing sent after it is acknowledged."""
    wait_until(lambda: load.acknowledged_since(back), seconds, "a signing acknowledged after the fault")
    with load.lock:
        first = min(answer.answered for answer in load.answers if answer.status == 303 and answer.sent >= back)
    return max(first - back, 0.0)


def redis_down(site: Site, seconds: float) -> Outcome:
    """Redis stops for ``seconds`` and comes back; signing should not notice."""
    with Load(site.app.base, "redis") as load:
        time.sleep(1.5)
        start = time.monotonic()
        site.redis.stop()
        time.sleep(seconds)
        site.redis.start()
        back = time.monotonic()
        recovery = _recover(load, back, 30)
        time.sleep(1.5)
    # Redis being away is no reason for a single 503: the window is empty.
    return _outcome("redis-down", site, load, (back, start), recovery)


def postgres_restart(site: Site, seconds: float) -> Outcome:
    """PostgreSQL stops (fast) for ``seconds`` and starts again, under the load and the mail worker."""
    twice_before = site.mail_twice()
    with Load(site.app.base, "postgres") as load:
        time.sleep(1.5)
        start = time.monotonic()
        site.postgres.stop("fast")
        time.sleep(seconds)
        site.postgres.start()
        back = time.monotonic()
        recovery = _recover(load, back, 60)
        time.sleep(1.5)
    # A request sent before the stop may meet it; one sent just after the start may meet a
    # connection the pool has not yet found dead (pre-ping replaces it, within the next second).
    outcome = _outcome("postgres-restart", site, load, (start, back + 1.0), recovery)
    _check_mail(site, load, outcome, twice_before)
    return outcome


def gunicorn_worker_kill(site: Site, seconds: float) -> Outcome:
    """An app worker gets SIGKILL mid-load, twice; the master starts new ones."""
    import os
    import signal

    twice_before = site.mail_twice()
    with Load(site.app.base, "gunicorn") as load:
        time.sleep(1.5)
        start = time.monotonic()
        for _ in range(2):
            os.kill(site.app.workers()[0], signal.SIGKILL)
            time.sleep(seconds / 2)
        back = time.monotonic()
        recovery = _recover(load, back, 30)
        time.sleep(1.5)
        wait_until(lambda: len(site.app.workers()) == site.app_workers, 30, "gunicorn to replace its workers")
    # A killed worker's requests get no answer (the connection is reset), never a 5xx.
    outcome = _outcome("gunicorn-worker-kill", site, load, (back, start), recovery)
    _check_mail(site, load, outcome, twice_before)
    return outcome


def mail_worker_kill(site: Site, signers: int) -> Outcome:
    """A backlog of confirmation mail; the mail worker gets SIGKILL mid-batch and a new one starts."""
    site.mail.stop()
    twice_before = site.mail_twice()
    site.sink.delay = 0.05  # a slow mail server, so that a batch is under way when the kill comes
    before = len(site.sink.received)
    with Load(site.app.base, "mail", threads=4) as load:
        wait_until(lambda: sum(answer.status == 303 for answer in load.answers) >= signers, 120, "the backlog")
    site.mail.start()
    wait_until(lambda: len(site.sink.received) >= before + 3, 60, "the first mails of a batch")
    start = time.monotonic()
    site.mail.kill()
    site.mail.start()
    acknowledged = {answer.email for answer in load.answers if answer.status == 303}
    missing = site.wait_for_mail(acknowledged, 60 + LEASE_SECONDS)
    recovery = time.monotonic() - start
    site.sink.delay = 0.0
    outcome = _outcome("mail-worker-kill", site, load, (0.0, 0.0), recovery)
    outcome.mail_twice = site.mail_twice() - twice_before
    outcome.mail_stuck = len(missing) + site.pending_mail()
    return outcome


def _check_mail(site: Site, load: Load, outcome: Outcome, twice_before: int) -> None:
    acknowledged = {answer.email for answer in load.answers if answer.status == 303}
    missing = site.wait_for_mail(acknowledged, 60)
    outcome.mail_stuck = len(missing) + site.pending_mail()
    outcome.mail_twice = site.mail_twice() - twice_before


RUNS: dict[str, Callable[[Site, float], Outcome]] = {
    "redis-down": redis_down,
    "postgres-restart": postgres_restart,
    "gunicorn-worker-kill": gunicorn_worker_kill,
    "mail-worker-kill": lambda site, seconds: mail_worker_kill(site, signers=int(seconds * 20)),
}


@contextmanager
def running_site(folder: Path | None = None) -> Iterator[Site]:
    """A whole site of the run's own, stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="undersigned-faults-") as tmp:
        site = Site(Path(folder or tmp))
        try:
            site.start()
            yield site
        except BaseException:
            for part in (site.app if hasattr(site, "app") else None, site.mail if hasattr(site, "mail") else None):
                if part is not None:
                    print(part.log()[-3000:], file=sys.stderr)
            raise
        finally:
            site.stop()


def run(faults: list[str], seconds: float) -> list[Outcome]:
    """Each fault in turn, on one site."""
    outcomes = []
    with running_site() as site:
        for name in faults:
            outcomes.append(RUNS[name](site, seconds))
            print(table(outcomes[-1:], header=not outcomes[:-1]), end="", flush=True)
    return outcomes


def table(outcomes: list[Outcome], *, header: bool = True) -> str:
    """The outcomes as a Markdown table."""
    lines = []
    if header:
        lines += [
            "| fault | sent | answered 303 | stored | lost | 503 during the fault | other 5xx | no answer "
            "| recovery (s) | mail sent twice | mail stuck |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for o in outcomes:
        lines.append(
            f"| {o.fault} | {o.sent} | {o.acknowledged} | {o.stored} | {o.lost} | {o.unavailable} | {o.unexplained} "
            f"| {o.no_answer} | {o.recovery:.1f} | {o.mail_twice} | {o.mail_stuck} |"
        )
    notes = [f"{o.fault}: {note}" for o in outcomes for note in o.notes]
    return "\n".join(lines + notes) + "\n"


def write_docs(outcomes: list[Outcome], seconds: float) -> None:
    """Put the table into docs/reliability.md, between its markers."""
    text = DOCS.read_text()
    begin, end = "<!-- faults:begin -->", "<!-- faults:end -->"
    stamp = f"`python -m benchmarks.faults --seconds {seconds:g}`, {time.strftime('%Y-%m-%d')}:\n\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    DOCS.write_text(f"{head}{begin}\n{stamp}{table(outcomes)}{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    """Run the faults; exit 1 when any lost a signature or gave an unexplained 5xx."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("faults", nargs="*", metavar="FAULT", help=f"some of: {', '.join(FAULTS)} (default: all)")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long each part stays away (default 4)")
    parser.add_argument("--write-docs", action="store_true", help="put the table into docs/reliability.md")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.faults) - set(FAULTS))
    if unknown:
        parser.error(f"no such fault: {', '.join(unknown)} (choose from {', '.join(FAULTS)})")
    outcomes = run(list(args.faults) or list(FAULTS), args.seconds)
    if args.write_docs:
        write_docs(outcomes, args.seconds)
    failed = [outcome.fault for outcome in outcomes if not outcome.ok]
    if failed:
        print(f"faults: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
