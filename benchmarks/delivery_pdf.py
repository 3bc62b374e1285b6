"""The delivery PDF of a long list: time, pages, size and peak memory of the worker that makes it.

    python -m benchmarks.delivery_pdf --signers 100000

Seeds a fresh SQLite database (in a temporary folder) with fake signers until at least
``--signers`` are on the public list (``flask dev seed``'s code: Latin, Hangul, Cyrillic,
Arabic... names), queues the PDF as the console's button does, then runs the job in a process of
its own, step by step as the worker does, and prints what it measured as JSON. Peak memory is
the process's high-water mark (VmHWM), so seeding does not count; it is read once the parts are
laid out, and again over the step that joins them (the mark is reset before it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app import create_app, jobs, log
from app.db import db, utcnow
from app.dev.seed import seed_letter_text, seed_signatures
from app.models import Job, JobStatus, ModeratorRole
from app.moderation import accounts
from app.services import delivery, letters

SLUG = "delivery-bench"


def _config(folder: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "SECRET_KEY": "bench-" + "x" * 40,
        "BASE_URL": "https://letters.example.org",
        "DELIVERY_DIR": str(folder / "delivery"),
        "EXPORT_CACHE_DIR": str(folder / "exports"),
        "PREVIEW_DIR": str(folder / "previews"),
        "MAIL_OUTBOX_DIR": str(folder / "mail"),
        "LOG_SIGNING_KEY": log.generate_key_text(),
    }


def _memory(field: str) -> float:
    """A field of /proc/self/status in MB (VmHWM: the peak resident size; VmRSS: the current one)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    """Start the high-water mark again from the current size (Linux 4.0 and later)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def prepare(folder: Path, signers: int) -> dict[str, Any]:
    """Make, migrate and seed the database; queue the PDF job. What was seeded."""
    config = _config(folder)
    (folder / "config.json").write_text(json.dumps(config))
    app = create_app(config)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        started = time.monotonic()
        seed = 1
        with db.transaction() as session:
            source = letters.parse_letter_file(seed_letter_text(SLUG))
            letter, _ = letters.load_letter(session, source, now=utcnow(), slug=SLUG)
            letter_id = letter.id
        while True:
            with db.transaction() as session:
                listed = delivery.others_count(session, letter_id, until=utcnow())
                if listed >= signers:
                    break
                letter = letters.get_letter(session, SLUG)
                seed_signatures(session, letter, int((signers - listed) * 1.15) + 10, now=utcnow(), seed=seed)
            seed += 1
        seeding = time.monotonic() - started
        with db.transaction() as session:
            password = "a long benchmark password"
            admin = accounts.create_moderator(session, "admin@example.org", password, ModeratorRole.ADMIN)
            letter = letters.get_letter(session, SLUG)
            key = log.SigningKey.from_text(config["LOG_SIGNING_KEY"])
            head = log.head_json(letter.slug, log.current_head(session, letter, key), key)
            job = delivery.request_pdf(session, admin, letter, version=1, lang="en", head=head, now=utcnow())
            count = letter.signature_count
            total = int(job.payload["total"])
            notable = len(delivery.notable(session, letter.id, until=utcnow()))
    return {"seed_seconds": seeding, "count": count, "listed": total + notable}


def run_job(folder: Path) -> dict[str, Any]:
    """Run the queued PDF job to the end, one step at a time; time, pages, size and peak memory."""
    app = create_app(json.loads((folder / "config.json").read_text()))
    with app.app_context():
        settings = jobs.Settings.from_config(app.config)
        # The application loaded, WeasyPrint and its fonts not yet.
        baseline = _memory("VmHWM")
        started = time.monotonic()
        steps = 0
        parts_peak = 0.0
        step_seconds: list[float] = []
        step_memory: list[int] = []
        while True:
            with db.transaction() as session:
                job = session.scalars(select(Job).where(Job.kind == delivery.DELIVERY_PDF)).one()
                if job.status != JobStatus.PENDING:
                    break
                last = int(job.cursor) >= int(job.payload["total"]) and int(job.payload["parts"]) > 0
                job_id = job.id
            if last:
                parts_peak = _memory("VmHWM")
                _reset_peak()
            step_started = time.monotonic()
            jobs.run_due(settings, worker_id="bench", limit=1)
            steps += 1
            step_seconds.append(round(time.monotonic() - step_started, 2))
            step_memory.append(round(_memory("VmRSS")))
        seconds = time.monotonic() - started
        with db.transaction() as session:
            job = session.get_one(Job, job_id)
            status, pages = str(job.status), int(job.payload["pages"])
        pdf = Path(app.config["DELIVERY_DIR"]) / f"delivery-{job_id}.pdf"
        return {
            "status": status,
            "steps": steps,
            "seconds": seconds,
            "pages": pages,
            "bytes": pdf.stat().st_size if pdf.exists() else 0,
            "baseline_mb": baseline,
            "parts_peak_mb": parts_peak,
            "join_peak_mb": _memory("VmHWM"),
            # The first steps and the last (the front part, the first chunks; the join).
            "step_seconds": step_seconds[:4] + step_seconds[-2:],
            "step_rss_mb": step_memory[:4] + step_memory[-2:],
        }


def main() -> None:
    """Seed, then make the PDF in a process of its own; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--signers", type=int, default=100_000)
    parser.add_argument("--run-job", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_job:
        print(json.dumps(run_job(args.run_job)))
        return
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as name:
        folder = Path(name)
        figures = prepare(folder, args.signers)
        output = subprocess.run(
            [sys.executable, "-m", "benchmarks.delivery_pdf", "--run-job", str(folder)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures |= json.loads(output.strip().splitlines()[-1])
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
